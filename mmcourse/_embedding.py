"""Framework-neutral registry behind ``embed(model, modality, items)`` in both tracks.

Each track creates one :class:`EmbedderRegistry` (``mmcourse.torch.embed``,
``mmcourse.keras.embed``) and registers ``"image"`` and ``"text"``; a modality's own module
registers its embedder (``mmcourse.torch.audio`` registers ``"audio"``), so a new modality needs
no edit here or in the track's ``embed`` module. Imports neither framework.
"""
from __future__ import annotations

from ._towers import check_modality_name


class EmbedderRegistry:
    """modality → ``fn(model, items, **kwargs) -> float32 (n, d)`` unit-norm rows.

    ``check_model(model)`` raises ValueError for anything that is not a model of the track.
    """

    def __init__(self, track: str, check_model):
        self.track, self.check_model = track, check_model
        self.functions: dict = {}

    def register(self, modality, fn, replace: bool = True) -> None:
        """Make ``embed(model, modality, items)`` call ``fn(model, items, **kwargs)``."""
        modality = check_modality_name(modality)
        if not callable(fn):
            raise ValueError(f"fn: expected a callable (model, items, **kwargs) -> (n, d) array, "
                             f"got {type(fn).__name__}")
        if not replace and modality in self.functions:
            raise ValueError(f"modality: expected a modality without an embedder, got {modality!r} "
                             f"(already registered)")
        self.functions[modality] = fn

    def embed(self, model, modality, items, **kwargs):
        """``fn(model, items, **kwargs)`` of ``modality``, after checking that the model has it."""
        self.check_model(model)
        has = tuple(getattr(model, "modalities", ()))
        if not isinstance(modality, str) or modality not in has:
            raise ValueError(f"modality: expected one of the model's modalities {has}, got "
                             f"{modality!r}")
        if modality not in self.functions:
            raise ValueError(f"modality: expected a modality with a registered embedder "
                             f"{tuple(self.functions)} (mmcourse.{self.track}.register_embedder), "
                             f"got {modality!r}")
        return self.functions[modality](model, items, **kwargs)
