"""Top-k bookkeeping shared by the stores and sharded search: ordering, merging, post-filtering.

Every function keeps the course's tie policy: best score first, equal scores by lower id, and
padding (id -1, score -inf) last. Scores are higher-is-better.
"""
from __future__ import annotations

import numpy as np

from .._validation import as_array, check_int

__all__ = ["order_best_first", "merge_topk", "post_filter", "exact_filtered_search"]

_PAD = np.iinfo(np.int64).max


def order_best_first(scores: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row of (scores, ids) (nq, s) best first, ties by lower id, padding (id < 0) last."""
    pad = ids < 0
    order = np.lexsort((np.where(pad, _PAD, ids), np.where(pad, np.inf, -scores)), axis=1)
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def _pair(scores, ids, name: str):
    s = as_array(scores, f"{name}_scores", ndim=2, allow_empty=True, finite=False)
    i = as_array(ids, f"{name}_ids", ndim=2, allow_empty=True)
    if s.shape != i.shape:
        raise ValueError(f"{name}_ids: expected the shape of {name}_scores {s.shape}, got {i.shape}")
    if i.dtype.kind not in "iu":
        raise ValueError(f"{name}_ids: expected integer ids, got dtype {i.dtype}")
    if np.isnan(s).any():
        raise ValueError(f"{name}_scores: expected no NaN, got {int(np.isnan(s).sum())}")
    return s.astype(np.float32), i.astype(np.int64)


def merge_topk(shard_scores, shard_ids, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-shard top-k lists into one global top-k.

    ``shard_scores`` / ``shard_ids``: sequences (one entry per shard) of (nq, k_s) arrays with
    global ids (-1 = padding). Returns (scores (nq, k) float32, ids (nq, k) int64). When every
    shard returned its exact top-k under the tie policy, the result is exactly the top-k of the
    whole collection: an item of the global top-k is in its own shard's top-k.
    """
    k = check_int(k, "k", minimum=1)
    if isinstance(shard_scores, np.ndarray) or isinstance(shard_ids, np.ndarray):
        raise ValueError("shard_scores: expected a list of (nq, k) arrays, one per shard, got a "
                         "single array")
    if len(shard_scores) == 0 or len(shard_scores) != len(shard_ids):
        raise ValueError(f"shard_ids: expected one (nq, k) array per shard, as many as shard_scores "
                         f"({len(shard_scores)}), got {len(shard_ids)}")
    pairs = [_pair(s, i, "shard") for s, i in zip(shard_scores, shard_ids)]
    nq = {p[0].shape[0] for p in pairs}
    if len(nq) != 1:
        raise ValueError(f"shard_scores: expected the same number of queries from every shard, got "
                         f"{sorted(nq)}")
    scores = np.concatenate([p[0] for p in pairs], axis=1)
    ids = np.concatenate([p[1] for p in pairs], axis=1)
    scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
    return _cut(*order_best_first(scores, ids), k)


def _cut(scores: np.ndarray, ids: np.ndarray, k: int):
    """The first k columns, padded to k with (-inf, -1) when there are fewer."""
    nq, width = ids.shape
    if width >= k:
        return scores[:, :k].copy(), ids[:, :k].copy()
    pad_s = np.full((nq, k - width), -np.inf, dtype=np.float32)
    pad_i = np.full((nq, k - width), -1, dtype=np.int64)
    return np.hstack([scores, pad_s]), np.hstack([ids, pad_i])


def post_filter(shortlist_scores, shortlist_ids, allowed, k: int):
    """Keep the k best shortlisted items that pass a filter (filter *after* the ANN search).

    ``shortlist_*``: (nq, s) from an index; ``allowed``: bool (n,) indexed by item id. Items that
    fail the filter are dropped, so a query whose shortlist holds fewer than k allowed items gets
    padding: the price of post-filtering a selective filter.
    """
    k = check_int(k, "k", minimum=1)
    s, i = _pair(shortlist_scores, shortlist_ids, "shortlist")
    allowed = as_array(allowed, "allowed", ndim=1, allow_empty=True)
    if allowed.dtype != bool:
        raise ValueError(f"allowed: expected a bool mask over item ids, got dtype {allowed.dtype}")
    if i.size and i.max() >= len(allowed):
        raise ValueError(f"allowed: expected one entry per item id (at least {int(i.max()) + 1}), "
                         f"got {len(allowed)}")
    keep = (i >= 0) & allowed[np.clip(i, 0, None)]
    return _cut(*order_best_first(np.where(keep, s, -np.inf).astype(np.float32), np.where(keep, i, -1)), k)


def exact_filtered_search(scores, allowed, k: int):
    """Exact pre-filtered top-k over a full score matrix (nq, n): the reference for filters.

    Disallowed items never appear; queries with fewer than k allowed items are padded.
    """
    k = check_int(k, "k", minimum=1)
    s = as_array(scores, "scores", ndim=2).astype(np.float32)
    allowed = as_array(allowed, "allowed", ndim=1, allow_empty=True)
    if allowed.dtype != bool or len(allowed) != s.shape[1]:
        raise ValueError(f"allowed: expected a bool mask of length {s.shape[1]} (one per item), got "
                         f"{allowed.dtype} of length {len(allowed)}")
    cols = np.flatnonzero(allowed)
    sub = s[:, cols]
    ids = np.broadcast_to(cols, sub.shape)
    if sub.shape[1] > k:                                   # partition first: O(n) per query
        part = np.argpartition(-sub, k - 1, axis=1)[:, :k]
        kth = np.take_along_axis(sub, part, 1).min(axis=1, keepdims=True)
        # ties with the k-th score may sit outside the partition: keep every item >= k-th score
        keep = sub >= kth
        s_all = np.where(keep, sub, -np.inf).astype(np.float32)
        i_all = np.where(keep, ids, -1)
        return _cut(*order_best_first(s_all, i_all), k)
    return _cut(*order_best_first(sub, np.ascontiguousarray(ids)), k)
