"""Product quantisation in plain numpy: the reference for notebook 09 (faiss ``IndexPQ`` does the same).

A vector of ``d`` dimensions is cut into ``m`` contiguous sub-vectors of ``dsub = d / m``
dimensions. Each sub-space has its own codebook of ``ksub`` centroids learned by k-means, and a
vector is stored as the ``m`` ids of its nearest centroids: ``m`` bytes for ``ksub = 256``
instead of ``4 d`` bytes of float32 (Jégou, Douze and Schmid, 2011).

Search uses *asymmetric distance computation* (ADC): the query stays in float; for each
sub-space a lookup table holds the squared distance from the query's sub-vector to each
centroid, ``T[j, c] = |q_j - C_j[c]|^2`` (m x ksub numbers), and the distance to a stored code
``(c_1 .. c_m)`` is the sum of m table entries, ``sum_j T[j, c_j]``: the exact squared distance
from the query to the *decoded* vector, computed without decoding anything.

Shapes: data (n, d); codebooks (m, ksub, dsub) float32; codes (n, m) uint8 (uint16 when
ksub > 256); tables (nq, m, ksub). Distances are squared L2, smaller is closer.
"""
from __future__ import annotations

import numpy as np

from ._validation import as_array, as_matrix, check_int

__all__ = ["kmeans", "train_pq", "pq_encode", "pq_decode", "adc_tables", "adc_search",
           "faiss_index_pq"]


def _sqdist(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (n, k) between rows of x (n, p) and c (k, p), in float64."""
    x, c = x.astype(np.float64), c.astype(np.float64)
    return np.maximum((x * x).sum(1)[:, None] - 2.0 * x @ c.T + (c * c).sum(1)[None, :], 0.0)


def kmeans(x, k: int, n_iter: int = 20, seed: int = 0) -> np.ndarray:
    """Lloyd's k-means: centroids (k, p) float32 of x (n, p), from k distinct random rows.

    An empty cluster takes the point farthest from its centroid (so k centroids stay distinct).
    """
    x = as_matrix(x, "x").astype(np.float32)
    k = check_int(k, "k", minimum=1, maximum=len(x))
    n_iter = check_int(n_iter, "n_iter", minimum=0)
    rng = np.random.default_rng(seed)
    centroids = x[rng.choice(len(x), size=k, replace=False)].copy()
    for _ in range(n_iter):
        dist = _sqdist(x, centroids)
        assign = dist.argmin(1)
        counts = np.bincount(assign, minlength=k)
        sums = np.zeros_like(centroids, dtype=np.float64)
        np.add.at(sums, assign, x)
        filled = counts > 0
        centroids[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
        if not filled.all():
            far = np.argsort(-dist[np.arange(len(x)), assign])[: int((~filled).sum())]
            centroids[~filled] = x[far]
    return centroids


def _check_m(m, d: int) -> int:
    m = check_int(m, "m", minimum=1)
    if d % m:
        raise ValueError(f"m: expected a divisor of the dimension d={d}, got {m}")
    return m


def train_pq(x, m: int, ksub: int = 256, n_iter: int = 20, seed: int = 0) -> np.ndarray:
    """Codebooks (m, ksub, d/m) float32: k-means in each of the m contiguous sub-spaces of x."""
    x = as_matrix(x, "x").astype(np.float32)
    m = _check_m(m, x.shape[1])
    ksub = check_int(ksub, "ksub", minimum=1, maximum=len(x))
    dsub = x.shape[1] // m
    return np.stack([kmeans(x[:, j * dsub:(j + 1) * dsub], ksub, n_iter, seed + j) for j in range(m)])


def _check_codebooks(codebooks) -> np.ndarray:
    cb = as_array(codebooks, "codebooks", ndim=3)
    if cb.dtype.kind != "f":
        raise ValueError(f"codebooks: expected float centroids (m, ksub, dsub), got dtype {cb.dtype}")
    return cb.astype(np.float32)


def pq_encode(x, codebooks) -> np.ndarray:
    """Codes (n, m): in each sub-space, the index of the nearest centroid (lowest index on ties)."""
    cb = _check_codebooks(codebooks)
    m, ksub, dsub = cb.shape
    x = as_matrix(x, "x")
    if x.shape[1] != m * dsub:
        raise ValueError(f"x: expected {m * dsub} columns (m * dsub of the codebooks), got {x.shape}")
    dtype = np.uint8 if ksub <= 256 else np.uint16
    return np.stack([_sqdist(x[:, j * dsub:(j + 1) * dsub], cb[j]).argmin(1) for j in range(m)],
                    axis=1).astype(dtype)


def pq_decode(codes, codebooks) -> np.ndarray:
    """Reconstructions (n, d) float32: the concatenated centroids named by each code."""
    cb = _check_codebooks(codebooks)
    m, ksub, dsub = cb.shape
    codes = as_array(codes, "codes", ndim=2)
    if codes.shape[1] != m or codes.dtype.kind not in "iu" or (codes.size and codes.max() >= ksub):
        raise ValueError(f"codes: expected integer codes (n, {m}) below ksub={ksub}, got "
                         f"{codes.dtype} {codes.shape}")
    return np.concatenate([cb[j][codes[:, j]] for j in range(m)], axis=1)


def adc_tables(queries, codebooks) -> np.ndarray:
    """Lookup tables (nq, m, ksub): squared distance from each query sub-vector to each centroid."""
    cb = _check_codebooks(codebooks)
    m, ksub, dsub = cb.shape
    q = as_matrix(queries, "queries")
    if q.shape[1] != m * dsub:
        raise ValueError(f"queries: expected {m * dsub} columns, got {q.shape}")
    return np.stack([_sqdist(q[:, j * dsub:(j + 1) * dsub], cb[j]) for j in range(m)], axis=1)


def adc_search(queries, codes, codebooks, k: int = 10):
    """(distances (nq, k) float32 ascending, ids (nq, k) int64) by asymmetric distance, ties by id."""
    tables = adc_tables(queries, codebooks)
    codes = as_array(codes, "codes", ndim=2).astype(np.int64)
    k = check_int(k, "k", minimum=1, maximum=len(codes))
    m = tables.shape[1]
    dist = np.zeros((len(tables), len(codes)))
    for j in range(m):
        dist += tables[:, j, codes[:, j]]
    order = np.argsort(dist, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(dist, order, 1).astype(np.float32), order.astype(np.int64)


def faiss_index_pq(codebooks, vectors=None):
    """A faiss ``IndexPQ`` (L2) using exactly these codebooks (no training), holding ``vectors``.

    faiss stores the centroids as (m, ksub, dsub) too; with the same codebooks it computes the
    same codes and ADC distances, so it is an independent check of a numpy implementation.
    """
    import faiss  # noqa: PLC0415

    cb = _check_codebooks(codebooks)
    m, ksub, dsub = cb.shape
    nbits = int(np.log2(ksub))
    if 2 ** nbits != ksub:
        raise ValueError(f"codebooks: expected ksub a power of 2 for faiss, got {ksub}")
    index = faiss.IndexPQ(m * dsub, m, nbits)
    faiss.copy_array_to_vector(np.ascontiguousarray(cb).ravel(), index.pq.centroids)
    index.is_trained = True
    if vectors is not None:
        index.add(np.ascontiguousarray(as_matrix(vectors, "vectors"), dtype=np.float32))
    return index
