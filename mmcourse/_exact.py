"""Exact top-k over a faiss flat index that holds the tie policy and does not depend on layout.

faiss (through BLAS) computes a query's score with an item in float32, and the rounding depends
on where the item sits in the matrix: two copies of one vector can score one ulp apart, and the
same item can score differently in a shard than in the whole collection. So faiss is used to
find the candidates — every item whose float32 score is within a small margin of the k-th — and
the candidates are then re-scored pair by pair in float64, which depends only on the two
vectors, and rounded to float32. The result: the k best by exact score, equal (float32) scores by
lower id, identical whether the collection is searched whole or in shards.
"""
from __future__ import annotations

import numpy as np

#: candidates within this relative margin of the k-th float32 score are re-scored
MARGIN = 1e-5


def _order(scores: np.ndarray, ids: np.ndarray):
    pad = ids < 0
    order = np.lexsort((np.where(pad, np.iinfo(np.int64).max, ids), np.where(pad, np.inf, -scores)), axis=1)
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def flat_vectors(faiss_index) -> np.ndarray:
    """The (ntotal, d) float32 rows of a faiss ``IndexFlat``, as a view (no copy)."""
    import faiss  # noqa: PLC0415

    n, d = faiss_index.ntotal, faiss_index.d
    if n == 0:
        return np.zeros((0, d), dtype=np.float32)
    return faiss.rev_swig_ptr(faiss_index.get_xb(), n * d).reshape(n, d)


def rescore(q: np.ndarray, rows: np.ndarray, xb: np.ndarray, metric: str) -> np.ndarray:
    """float64 scores (nq, s) of queries (nq, d) with rows ``rows`` (nq, s) of xb; -inf at -1."""
    valid = rows >= 0
    cand = xb[np.clip(rows, 0, None)].astype(np.float64)              # (nq, s, d)
    q64 = q.astype(np.float64)[:, None, :]
    if metric == "l2":
        scores = -np.sqrt(((cand - q64) ** 2).sum(-1))
    else:
        scores = (cand * q64).sum(-1)
    return np.where(valid, scores, -np.inf)


def exact_topk(faiss_index, q: np.ndarray, k: int, metric: str, ids_of_rows=None, params=None,
               n_candidates: int | None = None):
    """(scores (nq, k) float32, ids (nq, k) int64) of a flat index, exact, ties by lower id.

    ``metric``: "cosine"/"ip" (inner product on the stored rows) or "l2"; ``ids_of_rows`` maps
    row numbers to ids (default: the row number); ``params``: faiss ``SearchParameters`` (e.g. an
    ID selector) and ``n_candidates`` the number of rows it allows. Missing results: -inf / -1.
    """
    n = faiss_index.ntotal if n_candidates is None else n_candidates
    out_s = np.full((len(q), k), -np.inf, dtype=np.float32)
    out_i = np.full((len(q), k), -1, dtype=np.int64)
    if n == 0 or len(q) == 0:
        return out_s, out_i
    xb = flat_vectors(faiss_index)
    todo, width = np.arange(len(q)), min(n, k + 16)
    while len(todo):
        dist, rows = faiss_index.search(q[todo], width, params=params)
        rows = rows.astype(np.int64)
        approx = np.where(rows >= 0, -dist if metric == "l2" else dist, -np.inf)
        kth = approx[:, min(k, width) - 1]
        settled = (approx[:, -1] < kth - MARGIN * (1.0 + np.abs(kth))) | (width >= n)
        if settled.any():
            r = rows[settled]
            # the order is that of the returned float32 scores (equal after rounding: lower id), so a
            # merge of shards, which only sees float32 scores, orders exactly the same way
            scores = rescore(q[todo[settled]], r, xb, metric).astype(np.float32)
            ids = r if ids_of_rows is None else np.where(r >= 0, ids_of_rows[np.clip(r, 0, None)], -1)
            scores, ids = _order(scores, ids)
            w = min(k, width)
            out_s[todo[settled], :w] = scores[:, :w]
            out_i[todo[settled], :w] = ids[:, :w]
        todo, width = todo[~settled], min(2 * width, n)
    return out_s, out_i
