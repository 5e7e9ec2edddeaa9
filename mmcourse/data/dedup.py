"""Duplicate detection and split-leakage checks for any :class:`CaptionDataset`.

Leakage means the same *content* in two splits: an identical image (byte-identical pixels, by a
content hash), or for the shapes dataset an identical scene (same objects, attributes and
positions, even if the noise differs). Caption strings shared across splits are reported as a
statistic only: short template captions ("a red circle") legitimately describe many images, and a
shared string is not a leaked image.
"""
from __future__ import annotations

import hashlib

import numpy as np

from .._validation import describe
from .dataset import SPLITS, CaptionDataset

LEAKAGE_NOTE = ("caption strings shared across splits are expected for template-like captions "
                "(many images are 'a red circle'); they are not image leakage")


def _check(dataset, name="dataset") -> CaptionDataset:
    if not isinstance(dataset, CaptionDataset):
        raise ValueError(f"{name}: expected a CaptionDataset, got {describe(dataset)}")
    return dataset


def image_hashes(images: np.ndarray) -> list[str]:
    """A content hash (BLAKE2b, 16 hex digits) per image, over shape and pixel bytes."""
    out = []
    for img in images:
        h = hashlib.blake2b(digest_size=8)
        h.update(str(img.shape).encode())
        h.update(np.ascontiguousarray(img).tobytes())
        out.append(h.hexdigest())
    return out


def _groups(keys) -> list[np.ndarray]:
    """Index groups (size >= 2) of equal keys, in order of first occurrence."""
    where: dict = {}
    for i, k in enumerate(keys):
        where.setdefault(k, []).append(i)
    return [np.array(v, dtype=np.int64) for v in where.values() if len(v) > 1]


def find_duplicates(dataset) -> dict:
    """Identical images (by content hash) and identical caption strings within a dataset.

    Returns ``dict(image_groups=[int arrays of image indices], caption_groups=[(caption,
    int array of caption indices)], n_duplicate_images, n_duplicate_captions)`` where the counts
    are the images / captions that repeat an earlier one.
    """
    ds = _check(dataset)
    image_groups = _groups(image_hashes(ds.images))
    caption_groups = [(ds.captions[g[0]], g) for g in _groups(ds.captions)]
    return {
        "image_groups": image_groups,
        "caption_groups": caption_groups,
        "n_duplicate_images": int(sum(len(g) - 1 for g in image_groups)),
        "n_duplicate_captions": int(sum(len(g) - 1 for _, g in caption_groups)),
    }


def _cross_split(groups, split: np.ndarray) -> list[np.ndarray]:
    return [g for g in groups if len(set(split[g].tolist())) > 1]


def check_split_leakage(dataset) -> dict:
    """Content shared between train / val / test.

    Returns a dict with
    ``images_across_splits`` (groups of identical images spanning splits) and its count
    ``n_images_across_splits``; ``scenes_across_splits`` / ``n_scenes_across_splits`` for
    scene-structured data (else ``None``); ``captions_across_splits``: for each split pair, the
    number of distinct caption strings in both and the fraction of the second split's captions
    whose string also occurs in the first (a statistic, see ``note``); ``leak_free``: True when no
    image or scene crosses splits.
    """
    ds = _check(dataset)
    split = ds.split
    img = _cross_split(_groups(image_hashes(ds.images)), split)
    scenes = None
    if ds.scenes is not None and ds.relevance_rule == "shapes":
        from .shapes_vocab import scene_key

        scenes = _cross_split(_groups([scene_key(s) for s in ds.scenes]), split)
    cap_split = split[ds.caption_image]
    present = [s for s in SPLITS if (split == s).any()]
    strings = {s: {c for c, cs in zip(ds.captions, cap_split) if cs == s} for s in present}
    captions = {}
    for a_i, a in enumerate(present):
        for b in present[a_i + 1:]:
            shared = strings[a] & strings[b]
            caps_b = [c for c, cs in zip(ds.captions, cap_split) if cs == b]
            frac = float(np.mean([c in shared for c in caps_b])) if caps_b else 0.0
            captions[f"{a}-{b}"] = {"shared_strings": len(shared),
                                    f"fraction_of_{b}_captions": frac}
    return {
        "images_across_splits": img,
        "n_images_across_splits": len(img),
        "scenes_across_splits": scenes,
        "n_scenes_across_splits": None if scenes is None else len(scenes),
        "captions_across_splits": captions,
        "note": LEAKAGE_NOTE,
        "leak_free": not img and not scenes,
    }
