"""The course's one ranking rule, shared by metrics, ``top_k`` and the index wrappers.

Ranking = stable sort on *descending* score; equal scores keep ascending item index (the item
with the lower index ranks first). See the :mod:`mmcourse.metrics` docstring for why.
"""
from __future__ import annotations

import numpy as np


def rank_order(scores: np.ndarray) -> np.ndarray:
    """Item indices of each row of ``scores`` (n_q, n) from best to worst, ties by index.

    Semantically a stable argsort of the negated scores; int64 (n_q, n). For float32 scores it
    sorts one uint64 key per item instead — (descending-order bits of the score) << 32 | index —
    which gives the same order 2-3x faster because plain ``sort`` of integers is vectorised.
    """
    if scores.dtype == np.float32 and scores.shape[1] < 2**32:
        return _rank_order_float32(scores)
    keys = -scores if scores.dtype.kind == "f" else -scores.astype(np.float64)
    return np.argsort(keys, axis=1, kind="stable")


def _rank_order_float32(scores: np.ndarray) -> np.ndarray:
    bits = (scores + np.float32(0.0)).view(np.uint32)  # + 0.0 turns -0.0 into +0.0
    negative = (bits >> np.uint32(31)).astype(bool)
    ascending = np.where(negative, ~bits, bits | np.uint32(0x80000000))  # order-preserving
    keys = (~ascending).astype(np.uint64) << np.uint64(32)
    keys |= np.arange(scores.shape[1], dtype=np.uint64)
    keys.sort(axis=1)
    return (keys & np.uint64(0xFFFFFFFF)).astype(np.int64)


def sort_candidates(idx: np.ndarray, vals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Order candidate rows (n_q, c) by descending value, then ascending index."""
    keys = -vals if vals.dtype.kind == "f" else -vals.astype(np.float64)
    order = np.lexsort((idx, keys), axis=-1)
    return np.take_along_axis(idx, order, axis=1), np.take_along_axis(vals, order, axis=1)
