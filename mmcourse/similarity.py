"""Similarity and distance between embedding sets, and exact top-k ranking.

Every function takes two embedding matrices ``a`` (na, d) and ``b`` (nb, d) and returns an
(na, nb) float32 matrix. Similarities are higher-is-better *scores*; ``euclidean_distance`` is a
distance (lower is better) — negate it to use it as a score. ``top_k`` ranks with the course's tie
policy (descending score, ties by lower item index; see :mod:`mmcourse.metrics`).
"""
from __future__ import annotations

import numpy as np

from ._ranking import sort_candidates
from ._validation import as_array, as_matrix, check_choice, check_int, check_same_dim

__all__ = ["cosine_similarity", "dot_product", "euclidean_distance", "l2_normalize", "top_k"]

_EPS = 1e-12
_BLOCK_ELEMENTS = 1 << 22  # ~4M scores per block keeps top_k's temporaries at a few tens of MB


def _pair(a, b) -> tuple[np.ndarray, np.ndarray]:
    a = as_matrix(a, "a")
    b = as_matrix(b, "b")
    if a.dtype.kind not in "biuf" or b.dtype.kind not in "biuf":
        raise ValueError(f"a, b: expected real-valued arrays, got dtypes {a.dtype} and {b.dtype}")
    check_same_dim(a, b, "a", "b")
    return a, b


def _work_dtype(*arrays) -> type:
    return np.float64 if any(x.dtype == np.float64 for x in arrays) else np.float32


def l2_normalize(x, name: str = "x") -> np.ndarray:
    """Rows of ``x`` (n, d) scaled to unit L2 norm (float32); all-zero rows stay zero."""
    x = as_matrix(x, name)
    x = x.astype(_work_dtype(x), copy=False)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, _EPS)).astype(np.float32)


def dot_product(a, b) -> np.ndarray:
    """Inner products ``a @ b.T``: (na, d), (nb, d) -> (na, nb) float32 scores."""
    a, b = _pair(a, b)
    dt = _work_dtype(a, b)
    return (a.astype(dt, copy=False) @ b.astype(dt, copy=False).T).astype(np.float32, copy=False)


def cosine_similarity(a, b) -> np.ndarray:
    """Cosine of the angle between every row of ``a`` and of ``b``: (na, nb) float32 in [-1, 1].

    A row of zeros has no direction; its cosine with anything is defined as 0.
    """
    a, b = _pair(a, b)
    dt = _work_dtype(a, b)
    a = a.astype(dt, copy=False)
    b = b.astype(dt, copy=False)
    an = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), _EPS)
    bn = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), _EPS)
    return np.clip(an @ bn.T, -1.0, 1.0).astype(np.float32, copy=False)


def euclidean_distance(a, b) -> np.ndarray:
    """Euclidean (not squared) distance between every row of ``a`` and ``b``: (na, nb) float32.

    Uses ``|a|² + |b|² - 2 a·b`` (one matrix product) in float64, so that near-identical rows do
    not suffer float32 cancellation; tiny negative values from rounding are clipped to 0.
    """
    a, b = _pair(a, b)
    a = a.astype(np.float64, copy=False)
    b = b.astype(np.float64, copy=False)
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    return np.sqrt(np.maximum(sq, 0.0)).astype(np.float32)


def top_k(scores, k: int, backend: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """The k best items of each row of ``scores``: ``(indices int64, values)``, each (n_q, k).

    Rows are sorted best first; equal scores are ordered by lower item index, and the *set*
    returned also follows that rule when ties straddle the k-th place. A 1-D ``scores`` (one
    query) gives 1-D results. ``k`` must be between 1 and the number of items.

    ``backend``: "numpy" (``argpartition`` in row blocks, then a stable sort of the k
    candidates), "faiss" (a faiss heap, float32 only), or "auto" (faiss for float32 when it is
    installed, else numpy). Both return identical results: when a row has more items tied at
    the k-th score than fit, that row is redone exactly.
    """
    arr = as_array(scores, "scores")
    if arr.ndim not in (1, 2):
        raise ValueError(f"scores: expected a 2-D array (n_queries, n_items) or a 1-D array "
                         f"(n_items,), got shape {arr.shape}")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"scores: expected real-valued scores, got dtype {arr.dtype}")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.int8)
    single = arr.ndim == 1
    mat = arr[None, :] if single else arr
    n_items = mat.shape[1]
    k = check_int(k, "k", minimum=1)
    if k > n_items:
        raise ValueError(f"k: expected an integer <= n_items ({n_items}), got {k}")
    check_choice(backend, "backend", ("auto", "numpy", "faiss"))
    use_faiss = backend == "faiss" or (backend == "auto" and mat.dtype == np.float32
                                       and _faiss() is not None)
    if use_faiss and _faiss() is None:
        raise ValueError("backend: 'faiss' requested but faiss is not installed; use 'numpy'")
    if use_faiss and mat.dtype != np.float32:
        raise ValueError(f"backend: 'faiss' needs float32 scores, got dtype {mat.dtype}; "
                         f"use backend='numpy' or cast the scores")
    idx, vals = (_top_k_faiss if use_faiss else _top_k_numpy)(mat, k)
    return (idx[0], vals[0]) if single else (idx, vals)


def _faiss():
    try:
        import faiss  # noqa: PLC0415 - optional speed-up, imported lazily
    except ImportError:  # pragma: no cover - faiss is a declared dependency
        return None
    return faiss


def _fix_straddling_ties(block: np.ndarray, idx: np.ndarray, vals: np.ndarray, k: int) -> None:
    """Redo (in place) rows where more items tie at the k-th value than were kept."""
    kth = vals.min(axis=1)
    n_ge = (block >= kth[:, None]).sum(axis=1)
    for r in np.flatnonzero(n_ge > k):
        row = block[r]
        cand = np.flatnonzero(row >= kth[r])  # ascending index order
        order = np.argsort(-row[cand].astype(np.float64), kind="stable")[:k]
        idx[r] = cand[order]
        vals[r] = row[idx[r]]


def _top_k_numpy(mat: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n_q, n = mat.shape
    idx_out = np.empty((n_q, k), dtype=np.int64)
    val_out = np.empty((n_q, k), dtype=mat.dtype)
    rows = max(1, _BLOCK_ELEMENTS // max(n, 1))
    for start in range(0, n_q, rows):
        block = mat[start:start + rows]
        if k < n:
            part = np.argpartition(block, n - k, axis=1)[:, n - k:]
        else:
            part = np.broadcast_to(np.arange(n), block.shape)
        part = np.ascontiguousarray(part, dtype=np.int64)
        vals = np.take_along_axis(block, part, axis=1)
        if k < n:
            _fix_straddling_ties(block, part, vals, k)
        idx_out[start:start + rows], val_out[start:start + rows] = sort_candidates(part, vals)
    return idx_out, val_out


def _top_k_faiss(mat: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    faiss = _faiss()
    mat32 = np.ascontiguousarray(mat)
    vals, idx = faiss.kmax(mat32, k)
    if k < mat.shape[1]:
        rows = max(1, _BLOCK_ELEMENTS // mat.shape[1])
        for start in range(0, mat.shape[0], rows):
            sl = slice(start, start + rows)
            _fix_straddling_ties(mat32[sl], idx[sl], vals[sl], k)
    return sort_candidates(idx, vals)
