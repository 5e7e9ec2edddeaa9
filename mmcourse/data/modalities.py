"""Named modalities of a dataset and the registry that attaches extra ones (audio, video, ...).

Every :class:`~mmcourse.data.CaptionDataset` carries two built-in modalities, ``"image"`` (its
images) and ``"text"`` (its captions). Any other modality is a :class:`Modality` attached by a
function registered under its name::

    from mmcourse.data.modalities import Modality, register_modality

    def attach(dataset, **options) -> Modality:
        return Modality(name="audio", items=..., scene_index=..., role="description",
                        content_index=..., info={"sample_rate": 16000})

    register_modality("audio", attach)
    ds = ds.with_modality("audio")      # a new dataset; ds.get("audio"), ds.relevance("audio", "image")

A modality's items are linked to the dataset by two index arrays: ``scene_index`` (the image, i.e.
the scene, each item belongs to: this is *pairing*) and ``content_index`` (for a ``"description"``
the caption whose meaning it carries, for a ``"scene"`` the image it shows: this is what makes
graded relevance exact). ``mmcourse.load_dataset(name, modalities=(...))`` imports the module that
provides a modality on first use: ``PROVIDERS[name]``, else ``mmcourse.data.<name>``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .._validation import describe

#: the two roles: a scene depicts a world state (image, video); a description asserts a meaning
#: about one (text, spoken text)
ROLES = ("scene", "description")
#: the modalities every dataset carries
BUILTIN = ("image", "text")
#: modules that register a modality, where the module is not ``mmcourse.data.<name>``
PROVIDERS = {"audio": "mmcourse.data.speech"}

_REGISTRY: dict[str, Callable[..., "Modality"]] = {}


def _index_array(values, name: str, length: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{name}: expected a 1-D integer array of length {length}, "
                         f"got {describe(values)}")
    if len(arr) != length:
        raise ValueError(f"{name}: expected length {length} (one per item), got {len(arr)}")
    return arr.astype(np.int64)


@dataclass
class Modality:
    """The items of one modality and how they link to the dataset's images and captions.

    Attributes
    ----------
    name : the modality's name, e.g. ``"audio"``.
    items : an indexable sequence of ``n_m`` items (may be lazy, e.g. waveforms rendered on
        access); ``items.take(indices)`` should return the same kind of sequence (plain lists,
        tuples and numpy arrays are indexed directly).
    scene_index : int64 (n_m,), the image (scene) each item belongs to: the pairing.
    role : ``"scene"`` (depicts a world state: image, video) or ``"description"`` (asserts a
        meaning: text, audio).
    content_index : int64 (n_m,): for a description, the caption whose meaning it carries (spoken
        caption j -> caption j); for a scene, the image it shows. Defaults to ``scene_index`` for
        a scene.
    info : free-form facts, e.g. ``{"sample_rate": 16000}``.
    """

    name: str
    items: Sequence
    scene_index: np.ndarray
    role: str = "description"
    content_index: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"name: expected a modality name such as 'audio', got {describe(self.name)}")
        if self.role not in ROLES:
            raise ValueError(f"role: expected one of {ROLES}, got {self.role!r}")
        try:
            n = len(self.items)
        except TypeError:
            raise ValueError(f"items: expected an indexable sequence with a length, "
                             f"got {describe(self.items)}") from None
        self.scene_index = _index_array(self.scene_index, "scene_index", n)
        if self.content_index is None:
            if self.role == "description":
                raise ValueError("content_index: expected the caption index of each description "
                                 "item, got None")
            self.content_index = self.scene_index.copy()
        self.content_index = _index_array(self.content_index, "content_index", n)
        if not isinstance(self.info, dict):
            raise ValueError(f"info: expected a dict, got {describe(self.info)}")

    def __len__(self) -> int:
        return len(self.scene_index)

    def __repr__(self) -> str:
        return (f"Modality({self.name!r}: {len(self)} {self.role} items of "
                f"{type(self.items).__name__}, info={self.info})")

    def take(self, indices) -> "Modality":
        """The items at ``indices`` (int64 (k,)), with their index arrays unchanged (not re-indexed)."""
        idx = np.asarray(indices, dtype=np.int64)
        return Modality(self.name, take_items(self.items, idx), self.scene_index[idx], self.role,
                        self.content_index[idx], dict(self.info))


def take_items(items, indices):
    """``items`` at ``indices``: ``items.take(indices)`` when the sequence has it, numpy indexing
    for arrays, else a list."""
    idx = np.asarray(indices, dtype=np.int64)
    if isinstance(items, np.ndarray):
        return items[idx]
    take = getattr(items, "take", None)
    if callable(take):
        return take(idx)
    picked = [items[i] for i in idx.tolist()]
    return tuple(picked) if isinstance(items, tuple) else picked


def register_modality(name: str, attach: Callable[..., Modality]) -> None:
    """Register ``attach(dataset, **options) -> Modality`` under ``name`` (replaces an earlier one)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"name: expected a modality name such as 'audio', got {describe(name)}")
    if name in BUILTIN:
        raise ValueError(f"name: {name!r} is built into every dataset; expected a new modality name")
    if not callable(attach):
        raise ValueError(f"attach: expected a function attach(dataset, **options) -> Modality, "
                         f"got {describe(attach)}")
    _REGISTRY[name] = attach


def registered_modalities() -> tuple[str, ...]:
    """Names of the extra modalities registered so far (providers not yet imported are not listed)."""
    return tuple(sorted(_REGISTRY))


def _import_provider(name: str) -> None:
    module = PROVIDERS.get(name, f"mmcourse.data.{name}")
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module.startswith(exc.name):
            raise  # the provider exists but one of its own imports is missing


def get_attach(name: str, arg: str = "modality") -> Callable[..., Modality]:
    """The attach function of a registered modality, importing its provider module if needed."""
    if not isinstance(name, str):
        raise ValueError(f"{arg}: expected a modality name, got {describe(name)}")
    if name not in _REGISTRY and name.isidentifier():
        _import_provider(name)
    if name not in _REGISTRY:
        known = ", ".join(repr(m) for m in BUILTIN + registered_modalities())
        raise ValueError(f"{arg}: expected a registered modality ({known}), got {name!r} "
                         f"(no attach function registered; a data module registers one with "
                         f"register_modality)")
    return _REGISTRY[name]


def check_against(modality: Modality, n_images: int, caption_image: np.ndarray) -> None:
    """Raise ValueError unless ``modality``'s indices fit a dataset of ``n_images`` images whose
    captions belong to ``caption_image`` (m,); a description must belong to its caption's image."""
    name = modality.name
    if name in BUILTIN:
        raise ValueError(f"modality: {name!r} is built into every dataset; expected a new name")
    s = modality.scene_index
    if s.size and (s.min() < 0 or s.max() >= n_images):
        raise ValueError(f"scene_index: expected image indices in [0, {n_images - 1}] for modality "
                         f"{name!r}, got range [{s.min()}, {s.max()}]")
    c = modality.content_index
    limit = len(caption_image) if modality.role == "description" else n_images
    what = "caption" if modality.role == "description" else "image"
    if c.size and (c.min() < 0 or c.max() >= limit):
        raise ValueError(f"content_index: expected {what} indices in [0, {limit - 1}] for modality "
                         f"{name!r}, got range [{c.min()}, {c.max()}]")
    if modality.role == "description" and c.size and (caption_image[c] != s).any():
        bad = int(np.flatnonzero(caption_image[c] != s)[0])
        raise ValueError(f"scene_index: expected each description of modality {name!r} to belong "
                         f"to the image of its caption, got item {bad} in image {s[bad]} but "
                         f"caption {c[bad]} in image {caption_image[c[bad]]}")


__all__ = ["Modality", "register_modality", "registered_modalities", "get_attach", "take_items",
           "ROLES", "BUILTIN", "PROVIDERS"]
