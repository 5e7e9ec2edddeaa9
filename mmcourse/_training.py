"""Framework-neutral pieces of dual-encoder training, shared by ``mmcourse.torch`` and ``mmcourse.keras``.

Both tracks validate the dataset, sample batches and schedule the learning rate the same way, so
their results are comparable. Imports neither torch nor TensorFlow.
"""
from __future__ import annotations

import math

import numpy as np


def positive_number(value, name):
    """``value`` as a float when it is a finite number > 0; None passes through (optional settings)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"{name}: expected a positive number, got {value!r}")
    return float(value)


FN_DIRECTIONS = ("both", "t2i", "i2t")


def false_negative_mode(value):
    """The masking direction for ``mask_false_negatives``: True → "both", False/None → None."""
    from ._validation import check_choice

    if value is True:
        return "both"
    if value is False or value is None:
        return None
    return check_choice(value, "mask_false_negatives", FN_DIRECTIONS)


def check_dataset(dataset):
    """``(train, val)`` subsets of a CaptionDataset, checked to be trainable (val may be None)."""
    from .data.dataset import CaptionDataset

    if not isinstance(dataset, CaptionDataset):
        raise ValueError(f"dataset: expected a mmcourse CaptionDataset, got {type(dataset).__name__}")
    n_train = int((dataset.split == "train").sum())
    if n_train < 2:
        raise ValueError(f"dataset: expected at least 2 images in the 'train' split, got {n_train}")
    train = dataset.subset("train")
    if train.n_captions < 2:
        raise ValueError(f"dataset: expected at least 2 training images with captions, got "
                         f"{train.n_images} images and {train.n_captions} captions in 'train'")
    val = dataset.subset("val") if (dataset.split == "val").any() else None
    return train, val


class Batches:
    """Seeded sampler: epochs over shuffled training images, one random caption per image."""

    def __init__(self, dataset, batch_size, rng):
        caps = dataset.image_captions()
        self.images = np.array([i for i, c in enumerate(caps) if len(c)], dtype=np.int64)
        self.caps = caps
        self.batch_size = min(batch_size, len(self.images))
        self.rng = rng
        self._order, self._pos = np.empty(0, np.int64), 0

    def next(self):
        if self._pos + self.batch_size > len(self._order):
            self._order, self._pos = self.rng.permutation(self.images), 0
        img = self._order[self._pos:self._pos + self.batch_size]
        self._pos += self.batch_size
        cap = np.array([c[self.rng.integers(len(c))] for c in (self.caps[i] for i in img)])
        return img, cap


def lr_factor(progress: float, warmup: float = 0.03, floor: float = 0.02) -> float:
    """Linear warm-up over the first 3 % of training, then cosine decay to ``floor``."""
    if progress < warmup:
        return max(progress / warmup, 0.05)
    p = min((progress - warmup) / (1 - warmup), 1.0)
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * p))


def has_shapes_meanings(dataset) -> bool:
    """True when captions carry shapes-scene meanings (needed for counterfactual twins)."""
    from .data.shapes_vocab import Meaning

    return bool(dataset.meanings) and isinstance(dataset.meanings[0], Meaning)


def check_twins(scene_twins, twin_weight, train, dataset_name):
    """Validated ``(scene_twins, twin_weight)``: how many images per batch get a relational
    caption and its swapped twin from their scene, and the weight of that pairwise loss."""
    from ._validation import check_int

    scene_twins = check_int(scene_twins, "scene_twins", minimum=0)
    if twin_weight is None:
        raise ValueError("twin_weight: expected a positive number, got None")
    twin_weight = positive_number(twin_weight, "twin_weight")
    if scene_twins and not has_shapes_meanings(train):
        raise ValueError(f"scene_twins: expected 0 for a dataset without shapes scenes (twins are "
                         f"built from them), got {scene_twins} for {dataset_name!r}")
    return scene_twins, twin_weight
