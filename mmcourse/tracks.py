"""One switch for the notebooks after 03: which framework's trained model gives the embeddings.

Notebooks 04 onwards work on embeddings (numpy arrays), so they run the same whichever
framework trained the model. Their first cell picks the framework once::

    FRAMEWORK = os.environ.get("MMCOURSE_FRAMEWORK", "torch")   # or "keras"
    track = mmcourse.tracks.load_track(FRAMEWORK)
    model = track.load_default_model()
    image_emb = track.embed_images(model, test.images)        # (n, d) float32, unit rows

``load_track`` imports that framework's package (``mmcourse.torch`` or ``mmcourse.keras``) and
nothing of the other one; importing this module imports neither.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

#: the framework names ``load_track`` accepts, and the Python package each one needs
TRACKS = {"torch": "torch", "keras": "tensorflow"}
#: environment variable read by the notebooks' switch and by ``load_track(None)``
ENV_VAR = "MMCOURSE_FRAMEWORK"
#: the framework a notebook uses when neither the switch nor the environment chooses one
DEFAULT = "torch"

_LOADED: dict = {}


class Track:
    """One framework's model functions behind framework-neutral names.

    Every method returns numpy arrays or plain callables, so the code that uses a track never
    touches a framework tensor. ``name`` is "torch" or "keras"; ``module`` is
    ``mmcourse.torch`` or ``mmcourse.keras``.
    """

    def __init__(self, name: str, module: ModuleType):
        self.name, self.module = name, module

    def __repr__(self) -> str:
        return f"Track({self.name!r})"

    def load_default_model(self, dataset: str = "shapes", variant: str = "default", progress: bool = True,
                           **kwargs):
        """The cached default dual encoder of this framework (trained on first use, about a minute)."""
        return self.module.load_default_model(dataset, variant=variant, progress=progress, **kwargs)

    def embed_images(self, model, images, **kwargs):
        """uint8 images (n, H, W, 3) → float32 (n, d) unit-norm rows in the joint space."""
        return self.module.embed_images(model, images, **kwargs)

    def embed_texts(self, model, texts, **kwargs):
        """A list of n captions → float32 (n, d) unit-norm rows in the joint space."""
        return self.module.embed_texts(model, texts, **kwargs)

    def embed(self, model, modality: str, items, **kwargs):
        """Items of ``modality`` ("image", "text", ...) → float32 (n, d) unit-norm rows."""
        return self.module.embed(model, modality, items, **kwargs)

    def make_text_encoder_fn(self, model):
        """A callable ``list[str] -> float32 (n, d)`` (unit rows), as search engines and widgets take."""
        return self.module.make_text_encoder_fn(model)

    def train_dual_encoder(self, dataset, **kwargs):
        """Train your own dual encoder with this framework: returns ``(model, history)``."""
        return self.module.train_dual_encoder(dataset, **kwargs)

    def save_model(self, model, path):
        """Save a model of this framework to ``path``."""
        return self.module.save_model(model, path)

    def load_model(self, path):
        """Load a model saved by :meth:`save_model`."""
        return self.module.load_model(path)


def load_track(name: str | None = None) -> Track:
    """The :class:`Track` of framework ``name`` ("torch" or "keras"; None: ``$MMCOURSE_FRAMEWORK``,
    else "torch"). Imports that framework only, on the first call; later calls return the same object.

    Raises ValueError for an unknown name, ImportError when the framework is not installed, and
    RuntimeError when this process already loaded the *other* framework (a notebook never holds
    both: restart the kernel after changing ``FRAMEWORK``).
    """
    if name is None:
        name = os.environ.get(ENV_VAR, "").strip() or DEFAULT
        source = f"${ENV_VAR}"
    else:
        source = "name"
    if not isinstance(name, str) or name.strip().lower() not in TRACKS:
        raise ValueError(f"{source}: expected the FRAMEWORK to be one of {', '.join(map(repr, TRACKS))}, "
                         f"got {name!r}")
    name = name.strip().lower()
    if name in _LOADED:
        return _LOADED[name]
    other = next(n for n in TRACKS if n != name)
    if f"mmcourse.{other}" in sys.modules or TRACKS[other] in sys.modules:
        raise RuntimeError(f"FRAMEWORK={name!r}, but this process already imported {TRACKS[other]} "
                           f"(FRAMEWORK={other!r} earlier?): a notebook uses one framework only, so "
                           "restart the kernel after changing FRAMEWORK")
    if importlib.util.find_spec(TRACKS[name]) is None:
        raise ImportError(f"FRAMEWORK={name!r} needs the {TRACKS[name]!r} package, which is not installed "
                          f"(install the course with its {name} extra, or choose "
                          f"FRAMEWORK={other!r})")
    track = Track(name, importlib.import_module(f"mmcourse.{name}"))
    _LOADED[name] = track
    return track
