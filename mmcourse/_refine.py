"""Exact re-ranking of a compressed index's shortlist with the float vectors.

A compressed index (PQ, IVF-PQ, ...) ranks by approximate scores. Asking it for ``k * k_factor``
candidates and re-scoring only those with the original float vectors recovers most of the exact
top-k (what faiss' ``IndexRefineFlat`` does). The floats can stay in RAM (``4 d`` bytes per
vector, which cancels the compression) or in a ``.npy`` file on disk, memory-mapped: then only
the shortlisted rows are read per query and the index's RAM stays that of the codes.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ._validation import check_int, describe

#: the k_factor used by ``refine=True``
DEFAULT_K_FACTOR = 10
#: queries re-scored per block (bounds the (block, k * k_factor, d) gather)
_BLOCK = 256


def check_refine(refine) -> int:
    """``refine`` → k_factor (0 means no re-ranking): None/False, True, or an int >= 1."""
    if refine is None or refine is False:
        return 0
    if refine is True:
        return DEFAULT_K_FACTOR
    try:
        return check_int(refine, "refine", minimum=1)
    except ValueError:
        raise ValueError(f"refine: expected None, True/False or an integer k_factor >= 1 (the "
                         f"shortlist is k * k_factor), got {describe(refine)}") from None


def store_vectors(x: np.ndarray, path) -> np.ndarray:
    """Write ``x`` to ``path`` (.npy) and return it memory-mapped read-only (``path`` None: ``x``)."""
    if path is None:
        return x
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"refine_path: expected a file name ending in '.npy', got {str(path)!r}")
    if not path.parent.is_dir():
        raise ValueError(f"refine_path: expected a file in an existing folder, got {str(path)!r}")
    np.save(path, np.ascontiguousarray(x, dtype=np.float32))
    return np.load(path, mmap_mode="r")


def exact_scores(queries: np.ndarray, vectors: np.ndarray, ids: np.ndarray, metric: str) -> np.ndarray:
    """Scores (nq, s) of queries (nq, d) against the rows ``ids`` (nq, s) of ``vectors``; -inf at -1.

    ``metric`` "cosine"/"ip": inner product (vectors and queries already normalised for cosine);
    "l2": minus the Euclidean distance. Rows are gathered once, in sorted order (sequential reads
    on a memory-mapped file).
    """
    valid = ids >= 0
    wanted, inverse = np.unique(ids[valid], return_inverse=True)
    rows = np.asarray(vectors[wanted], dtype=np.float64)           # reads only these rows
    gathered = np.zeros(ids.shape + (vectors.shape[1],), dtype=np.float64)
    gathered[valid] = rows[inverse]
    q = queries.astype(np.float64)[:, None, :]
    if metric == "l2":                                              # float64: exact ties stay ties
        scores = -np.sqrt(((gathered - q) ** 2).sum(-1))
    else:
        scores = (gathered * q).sum(-1)
    return np.where(valid, scores, -np.inf)


def rerank(queries: np.ndarray, candidates: np.ndarray, vectors: np.ndarray, metric: str, k: int,
           order) -> tuple[np.ndarray, np.ndarray]:
    """Re-score candidate ids (nq, s) exactly and keep the k best per query.

    ``order(scores, ids)`` sorts rows best first with the course's tie policy. Returns
    (scores (nq, k) float32, ids (nq, k) int64), padded with -inf / -1.
    """
    check_int(k, "k", minimum=1)
    out_s = np.full((len(queries), k), -np.inf, dtype=np.float32)
    out_i = np.full((len(queries), k), -1, dtype=np.int64)
    for start in range(0, len(queries), _BLOCK):
        q = queries[start:start + _BLOCK]
        ids = candidates[start:start + _BLOCK]
        s, i = order(exact_scores(q, vectors, ids, metric).astype(np.float32), ids)
        width = min(k, ids.shape[1])
        out_s[start:start + len(q), :width] = s[:, :width]
        out_i[start:start + len(q), :width] = i[:, :width]
    return out_s, out_i
