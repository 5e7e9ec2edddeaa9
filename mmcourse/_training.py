"""Framework-neutral pieces of dual-encoder training, shared by ``mmcourse.torch`` and ``mmcourse.keras``.

Both tracks validate the dataset, sample batches and schedule the learning rate the same way, so
their results are comparable. Imports neither torch nor TensorFlow.
"""
from __future__ import annotations

import math
import time

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


def prefetched(make, count: int):
    """Yield ``make()`` ``count`` times, computing the next result in one background thread.

    Batch preparation (sampling, false-negative masks, counterfactual captions, tokens) is
    NumPy/Python work that would otherwise wait for each training step. TensorFlow runs a whole
    compiled step without holding the GIL, so the two overlap (``mmcourse.keras``); PyTorch's
    eager loop needs the GIL between its many small ops and measured slower with a second Python
    thread, so ``mmcourse.torch`` prepares inline. One worker runs the calls in order, so the
    seeded random generators are used in the same order as without it: same batches, same
    results. A consumer that stops early (a time budget) leaves at most one unused result.
    """
    from concurrent.futures import ThreadPoolExecutor

    if count < 1:
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmcourse-batches") as pool:
        pending = pool.submit(make)
        try:
            for i in range(count):
                ready = pending.result()
                if i + 1 < count:
                    pending = pool.submit(make)
                yield ready
        finally:
            pending.cancel()


class Clock:
    """Where a training run stands: the progress that drives the learning-rate schedule, and the
    optional wall-clock budget.

    ``progress(step)`` is the fraction of training done before ``step`` (1-based), in [0, 1]:
    ``(step - 1) / steps``, or under a ``time_budget`` the larger of that and the fraction of
    the budget used. That time fraction counts from the end of the first step, which carries
    one-off costs (TensorFlow traces its step function for seconds): counting them would make
    the schedule jump past its warm-up at step 2. ``over()`` is True once ``time_budget``
    seconds of wall-clock time (everything included) have passed since the clock started.
    """

    def __init__(self, steps: int, time_budget: float | None = None):
        self.steps, self.budget = steps, time_budget
        self.start = time.perf_counter()
        self.first_step_end = None

    def elapsed(self) -> float:
        """Seconds since the clock started."""
        return time.perf_counter() - self.start

    def step_done(self) -> None:
        if self.first_step_end is None:
            self.first_step_end = self.elapsed()

    def over(self) -> bool:
        return self.budget is not None and self.elapsed() >= self.budget

    def progress(self, step: int) -> float:
        frac = (step - 1) / self.steps
        if self.budget is not None and self.first_step_end is not None:
            left = max(self.budget - self.first_step_end, 1e-9)
            frac = max(frac, (self.elapsed() - self.first_step_end) / left)
        return min(frac, 1.0)


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
