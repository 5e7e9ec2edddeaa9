"""faiss-backed nearest-neighbour indexes behind one small interface.

``build_index(vectors, metric, method, **params)`` returns an :class:`Index` whose
``search(queries, k) -> (scores, ids)`` gives (n_queries, k) arrays, best first, with scores that
are *higher-is-better for every metric* (cosine and inner product as they are, L2 as the negated
Euclidean distance, not squared). Methods: "flat" (exact), "hnsw" (graph; build ``M``, ``efConstruction``,
search ``efSearch``) and "ivf" (k-means cells; build ``nlist``, search ``nprobe``). Search-time
parameters can be changed later with :meth:`Index.set_search_params`. Within the returned k,
equal scores are ordered by lower id (the course's tie policy). faiss pads missing results
(k > ntotal, or an IVF probe that finds too few) with id -1 and score -inf.

``build_binary_index(packed_codes)`` wraps ``faiss.IndexBinaryFlat`` for Hamming search; its
``search`` returns (Hamming distances int32, ids), smallest distance first.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ._validation import as_matrix, check_choice, check_int, describe

__all__ = ["Index", "BinaryIndex", "build_index", "load_index", "build_binary_index"]

METRICS = ("cosine", "ip", "l2")
METHODS = ("flat", "hnsw", "ivf")
_SEARCH_PARAMS = {"hnsw": ("efSearch",), "ivf": ("nprobe",), "flat": ()}


def _faiss():
    import faiss  # noqa: PLC0415 - heavy, imported on first use

    return faiss


def _as_vectors(x, name: str, dim: int | None = None) -> np.ndarray:
    arr = as_matrix(x, name)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected real-valued vectors, got dtype {arr.dtype}")
    if dim is not None and arr.shape[1] != dim:
        raise ValueError(f"{name}: expected {dim} columns (the index's dimension), got shape "
                         f"{arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _stable(scores: np.ndarray, ids: np.ndarray, higher_better: bool):
    """Reorder each row best first, equal scores by lower id; padding (-1) last."""
    key = np.where(ids < 0, np.inf, -scores if higher_better else scores)
    order = np.lexsort((np.where(ids < 0, np.iinfo(np.int64).max, ids), key), axis=1)
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


class Index:
    """A float vector index: ``search(queries, k) -> (scores (nq, k) float32, ids (nq, k) int64)``."""

    def __init__(self, faiss_index, metric: str, method: str, params: dict):
        self.faiss_index, self.metric, self.method = faiss_index, metric, method
        self.params = dict(params)

    @property
    def ntotal(self) -> int:
        return int(self.faiss_index.ntotal)

    @property
    def dim(self) -> int:
        return int(self.faiss_index.d)

    def __repr__(self) -> str:
        return (f"Index(metric={self.metric!r}, method={self.method!r}, ntotal={self.ntotal}, "
                f"dim={self.dim}, params={self.params})")

    def set_search_params(self, **params) -> "Index":
        """Change search-time parameters: ``efSearch`` (hnsw) or ``nprobe`` (ivf)."""
        allowed = _SEARCH_PARAMS[self.method]
        for name, value in params.items():
            if name not in allowed:
                raise ValueError(f"{name}: expected one of {list(allowed)} for a {self.method!r} "
                                 f"index, got {name!r}")
            value = check_int(value, name, minimum=1)
            if name == "efSearch":
                self.faiss_index.hnsw.efSearch = value
            else:
                self.faiss_index.nprobe = value
            self.params[name] = value
        return self

    set_params = set_search_params  # the CORE brief's name for the same thing

    def search(self, queries, k: int = 10):
        """The k best items per query, best first; ids -1 (score -inf) pad missing results."""
        q = _as_vectors(queries, "queries", self.dim)
        k = check_int(k, "k", minimum=1)
        if self.metric == "cosine":
            q = _normalize(q)
        dist, ids = self.faiss_index.search(q, k)
        ids = ids.astype(np.int64)
        if self.metric == "l2":
            scores = -np.sqrt(np.maximum(dist, 0.0))
        else:
            scores = dist
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return _stable(scores, ids, higher_better=True)

    def save(self, path) -> Path:
        """Write the faiss index to ``path`` and its settings to ``path`` + ".json"."""
        path = Path(path)
        _faiss().write_index(self.faiss_index, str(path))
        meta = {"kind": "float", "metric": self.metric, "method": self.method, "params": self.params}
        Path(str(path) + ".json").write_text(json.dumps(meta))
        return path


class BinaryIndex:
    """Exhaustive Hamming search over packed codes (uint8, (n, bits / 8))."""

    def __init__(self, faiss_index):
        self.faiss_index = faiss_index

    @property
    def ntotal(self) -> int:
        return int(self.faiss_index.ntotal)

    @property
    def n_bytes(self) -> int:
        return int(self.faiss_index.d) // 8

    def __repr__(self) -> str:
        return f"BinaryIndex(ntotal={self.ntotal}, bits={8 * self.n_bytes})"

    def search(self, codes, k: int = 10):
        """(Hamming distances (nq, k) int32, ids (nq, k) int64), nearest first, ties by id."""
        q = _packed(codes, "codes", self.n_bytes)
        k = check_int(k, "k", minimum=1)
        dist, ids = self.faiss_index.search(q, k)
        ids = ids.astype(np.int64)
        dist = np.where(ids < 0, np.iinfo(np.int32).max, dist).astype(np.int32)
        return _stable(dist, ids, higher_better=False)

    def save(self, path) -> Path:
        path = Path(path)
        _faiss().write_index_binary(self.faiss_index, str(path))
        Path(str(path) + ".json").write_text(json.dumps({"kind": "binary"}))
        return path


def _packed(x, name: str, n_bytes: int | None = None) -> np.ndarray:
    arr = as_matrix(x, name)
    if arr.dtype != np.uint8:
        raise ValueError(f"{name}: expected packed codes of dtype uint8 (see "
                         f"mmcourse.hashing.pack_bits), got {describe(arr)}")
    if n_bytes is not None and arr.shape[1] != n_bytes:
        raise ValueError(f"{name}: expected {n_bytes} bytes per code (as indexed), got shape "
                         f"{arr.shape}")
    return np.ascontiguousarray(arr)


def build_index(vectors, metric: str = "cosine", method: str = "flat", **params) -> Index:
    """Index ``vectors`` (n, d) for ``metric`` ("cosine" | "ip" | "l2") with ``method``.

    params — hnsw: ``M`` (links per node, 32), ``efConstruction`` (40), ``efSearch`` (16);
    ivf: ``nlist`` (cells, default about sqrt(n)), ``nprobe`` (1), ``seed`` (k-means, 0).
    Cosine normalises the vectors (and later the queries) and uses inner products.
    """
    check_choice(metric, "metric", METRICS)
    check_choice(method, "method", METHODS)
    x = _as_vectors(vectors, "vectors")
    n, d = x.shape
    if metric == "cosine":
        x = _normalize(x)
    faiss = _faiss()
    faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    allowed = {"flat": (), "hnsw": ("M", "efConstruction", "efSearch"),
               "ivf": ("nlist", "nprobe", "seed")}[method]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"params: expected only {list(allowed)} for method={method!r}, got "
                         f"{unknown}")
    if method == "flat":
        index = faiss.IndexFlat(d, faiss_metric)
        used = {}
    elif method == "hnsw":
        used = {"M": check_int(params.get("M", 32), "M", minimum=2),
                "efConstruction": check_int(params.get("efConstruction", 40), "efConstruction"),
                "efSearch": check_int(params.get("efSearch", 16), "efSearch")}
        index = faiss.IndexHNSWFlat(d, used["M"], faiss_metric)
        index.hnsw.efConstruction = used["efConstruction"]
        index.hnsw.efSearch = used["efSearch"]
    else:
        nlist = params.get("nlist", max(1, int(round(np.sqrt(n)))))
        used = {"nlist": check_int(nlist, "nlist", minimum=1, maximum=n),
                "nprobe": check_int(params.get("nprobe", 1), "nprobe"),
                "seed": check_int(params.get("seed", 0), "seed", minimum=0)}
        quantizer = faiss.IndexFlat(d, faiss_metric)
        index = faiss.IndexIVFFlat(quantizer, d, used["nlist"], faiss_metric)
        index.cp.seed = used["seed"]
        index.cp.min_points_per_centroid = 1  # small collections: no warning spam
        index.train(x)
        index.nprobe = used["nprobe"]
    index.add(x)
    return Index(index, metric, method, used)


def build_binary_index(codes_packed) -> BinaryIndex:
    """Hamming index over packed codes uint8 (n, bits / 8), e.g. from ``pack_bits``."""
    codes = _packed(codes_packed, "codes_packed")
    index = _faiss().IndexBinaryFlat(8 * codes.shape[1])
    index.add(codes)
    return BinaryIndex(index)


def load_index(path):
    """An index written by ``Index.save`` or ``BinaryIndex.save``."""
    path = Path(path)
    meta_path = Path(str(path) + ".json")
    if not path.is_file() or not meta_path.is_file():
        raise ValueError(f"path: expected an index file and its .json settings, got {str(path)!r} "
                         f"(exists: {path.is_file()}, settings: {meta_path.is_file()})")
    meta = json.loads(meta_path.read_text())
    if meta.get("kind") == "binary":
        return BinaryIndex(_faiss().read_index_binary(str(path)))
    index = Index(_faiss().read_index(str(path)), meta["metric"], meta["method"], meta["params"])
    search_params = {k: v for k, v in meta["params"].items() if k in _SEARCH_PARAMS[meta["method"]]}
    return index.set_search_params(**search_params)  # efSearch / nprobe as they were saved
