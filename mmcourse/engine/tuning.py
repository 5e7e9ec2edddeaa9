"""Measuring approximate search against exact search, and tuning it to a recall target.

Recall@k of an approximate index is measured against the *exact* top-k of the same collection
and metric (a flat index), never against relevance labels: labels measure the embedding, the
exact top-k measures what the index lost.
"""
from __future__ import annotations

import numpy as np

from .._validation import as_array, as_matrix, check_int


def recall_vs_exact(approx_ids, exact_ids) -> float:
    """Mean over queries of |approx ∩ exact| / k for id arrays (nq, k); -1 padding never counts."""
    a = as_matrix(approx_ids, "approx_ids", allow_empty=True)
    e = as_matrix(exact_ids, "exact_ids", allow_empty=True)
    if a.shape[0] != e.shape[0] or not e.shape[1]:
        raise ValueError(f"approx_ids: expected {e.shape[0]} rows like exact_ids {e.shape} (k >= 1), "
                         f"got shape {a.shape}")
    hits = [len(set(row[row >= 0].tolist()) & set(ref[ref >= 0].tolist())) for row, ref in zip(a, e)]
    return float(np.mean(np.asarray(hits) / e.shape[1])) if len(hits) else 0.0


def smallest_nprobe(index, queries, exact_ids, target: float, k: int = 10, candidates=None):
    """The smallest ``nprobe`` whose recall@k against ``exact_ids`` reaches ``target``.

    ``index``: an IVF ``mmcourse.index.Index`` ("ivf" or "ivfpq"); ``candidates``: nprobe values
    tried in increasing order (default 1, 2, 4, ... up to nlist). Returns ``(nprobe, recall)``;
    when no candidate reaches the target, the last one with its recall. The index is left set to
    the returned nprobe.
    """
    k = check_int(k, "k", minimum=1)
    target = float(target)
    if not 0.0 < target <= 1.0:
        raise ValueError(f"target: expected a recall in (0, 1], got {target}")
    exact = as_array(exact_ids, "exact_ids", ndim=2)[:, :k]
    nlist = int(index.params.get("nlist", 0)) or None
    if candidates is None:
        if nlist is None:
            raise ValueError("index: expected an IVF index (its params name nlist), got "
                             f"{getattr(index, 'method', type(index).__name__)!r}")
        candidates = sorted({min(2 ** p, nlist) for p in range(0, int(np.log2(nlist)) + 2)})
    candidates = [check_int(c, "candidates", minimum=1) for c in candidates]
    if not candidates or candidates != sorted(set(candidates)):
        raise ValueError(f"candidates: expected increasing nprobe values, got {candidates}")
    recall = 0.0
    for nprobe in candidates:
        index.set_search_params(nprobe=nprobe)
        recall = recall_vs_exact(index.search(queries, k)[1], exact)
        if recall >= target:
            return nprobe, recall
    return candidates[-1], recall
