"""scikit-learn's handwritten digits (1,797 real 8×8 scans, shipped with scikit-learn) as captions.

The scans (grey levels 0–16) become RGB uint8 images upscaled to ``image_size`` px (bilinear), each
with ``captions_per_image`` distinct captions from templates ("a handwritten seven", "the digit 7",
...). Relevance is class-based: a caption of a seven is satisfied by every seven
(:class:`~mmcourse.data.relevance.ClassRelevance`; a new query text such as "a handwritten
seven" or "the digit 7" is judged through :func:`parse_digit_query`). Licence: BSD
(scikit-learn), data from the UCI ML repository.
"""
from __future__ import annotations

import random

import numpy as np

from .._validation import check_int
from ..text import tokenize
from .dataset import CaptionDataset
from .relevance import ClassRelevance

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEMPLATES = (
    "a handwritten {w}",
    "the digit {d}",
    "a scan of a handwritten number {w}",
    "a handwritten digit {d}",
    "the number {w} written by hand",
    "a {w}",
    "an image of the digit {w}",
    "a handwritten number {d}",
)


_WORD_DIGIT = {w: d for d, w in enumerate(DIGIT_WORDS)}


def parse_digit_query(text) -> int | None:
    """The digit (0-9) a query text names, e.g. "a handwritten seven" or "the digit 7" -> 7;
    None when it names no digit or several different ones."""
    if not isinstance(text, str):
        raise ValueError(f"text: expected a query string, got {type(text).__name__}")
    found = {_WORD_DIGIT[t] if t in _WORD_DIGIT else int(t) for t in tokenize(text)
             if t in _WORD_DIGIT or (len(t) == 1 and t.isdigit())}
    return found.pop() if len(found) == 1 else None


def _upscale(images8: np.ndarray, image_size: int) -> np.ndarray:
    """(n, 8, 8) floats in [0, 16] -> (n, S, S, 3) uint8 via PIL bilinear resizing."""
    from PIL import Image

    grey = np.clip(np.round(images8 * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    out = np.empty((len(grey), image_size, image_size), dtype=np.uint8)
    for i, g in enumerate(grey):
        out[i] = np.asarray(Image.fromarray(g).resize((image_size, image_size), Image.BILINEAR))
    return np.repeat(out[..., None], 3, axis=-1)


def caption_digit(digit: int, rnd: random.Random, n: int) -> list[str]:
    """``n`` distinct captions for one digit (cycling through the templates if n > 8)."""
    order = list(TEMPLATES)
    rnd.shuffle(order)
    return [order[k % len(order)].format(w=DIGIT_WORDS[digit], d=digit) for k in range(n)]


def load_digits(image_size: int = 32, captions_per_image: int = 5, split_sizes=(1197, 200, 400),
                seed: int = 0) -> CaptionDataset:
    """The digits as a :class:`CaptionDataset` with a seeded, class-stratified-by-chance split.

    ``split_sizes`` = (n_train, n_val, n_test) must sum to 1,797. Labels are one-hot over
    ``DIGIT_WORDS``; ``scenes`` and ``meanings`` hold the class id of each image and caption.
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    image_size = check_int(image_size, "image_size", minimum=8, maximum=512)
    cpi = check_int(captions_per_image, "captions_per_image", minimum=1, maximum=20)
    seed = check_int(seed, "seed", minimum=0)
    bunch = _sk_load_digits()
    n = len(bunch.target)
    if not isinstance(split_sizes, (tuple, list)) or len(split_sizes) != 3:
        raise ValueError(f"split_sizes: expected (n_train, n_val, n_test), got {split_sizes!r}")
    sizes = [check_int(v, f"split_sizes[{k}]", minimum=0) for k, v in enumerate(split_sizes)]
    if sum(sizes) != n:
        raise ValueError(f"split_sizes: expected sizes summing to {n}, got {tuple(sizes)} "
                         f"(sum {sum(sizes)})")
    rng = np.random.default_rng(seed)
    split = np.empty(n, dtype="<U5")
    perm = rng.permutation(n)
    split[perm[:sizes[0]]] = "train"
    split[perm[sizes[0]:sizes[0] + sizes[1]]] = "val"
    split[perm[sizes[0] + sizes[1]:]] = "test"
    target = bunch.target.astype(np.int64)
    rnd = random.Random(seed)
    captions = [c for d in target.tolist() for c in caption_digit(d, rnd, cpi)]
    return CaptionDataset(
        images=_upscale(bunch.images, image_size), captions=captions,
        caption_image=np.repeat(np.arange(n), cpi), split=split,
        labels=np.eye(10, dtype=np.uint8)[target], label_names=list(DIGIT_WORDS),
        image_ids=[f"digits-{i:04d}" for i in range(n)],
        scenes=target.tolist(), meanings=np.repeat(target, cpi).tolist(),
        name="digits", relevance_rule=ClassRelevance(parse=parse_digit_query),
        info={"source": "scikit-learn load_digits (UCI ML hand-written digits, BSD licence)",
              "seed": seed, "image_size": image_size, "captions_per_image": cpi},
    )
