"""faiss-backed nearest-neighbour indexes behind one small interface.

``build_index(vectors, metric, method, **params)`` returns an :class:`Index` whose
``search(queries, k) -> (scores, ids)`` gives (n_queries, k) arrays, best first, with scores that
are *higher-is-better for every metric* (cosine and inner product as they are, L2 as the negated
Euclidean distance, not squared). Methods: "flat" (exact), "hnsw" (graph; build ``M``, ``efConstruction``,
search ``efSearch``) and "ivf" (k-means cells; build ``nlist``, search ``nprobe``). Search-time
parameters can be changed later with :meth:`Index.set_search_params`. Within the returned k,
equal scores are ordered by lower id (the course's tie policy). faiss pads missing results
(k > ntotal, or an IVF probe that finds too few) with id -1 and score -inf.

Compressed methods (see ``mmcourse._compressed``): "pq" (product quantisation: ``m`` sub-vectors,
``nbits`` per code), "opq" (PQ after a learned rotation), "ivfpq" (IVF cells holding PQ codes of the
residuals: ``nlist``, ``nprobe``, ``m``, ``nbits``) and "sq8" (one byte per dimension). With
``refine=k_factor`` the index returns a shortlist of ``k * k_factor`` items that is re-scored
exactly with the float vectors (kept in RAM, or memory-mapped from ``refine_path`` so that only
the shortlisted rows are read). ``Index.memory()`` measures the bytes it holds.

For "flat" the results are exact and layout-independent (``mmcourse._exact``): faiss finds the
candidates, which are re-scored pair by pair in float64, so the tie policy holds at the k-th place
too and a collection searched in shards gives the same ids and scores as searched whole.

``build_binary_index(packed_codes)`` wraps ``faiss.IndexBinaryFlat`` for Hamming search; its
``search`` returns (Hamming distances int32, ids), smallest distance first.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from . import _compressed, _exact, _refine
from ._validation import as_matrix, check_choice, check_int, describe

__all__ = ["Index", "BinaryIndex", "build_index", "load_index", "build_binary_index"]

METRICS = ("cosine", "ip", "l2")
METHODS = ("flat", "hnsw", "ivf", "pq", "opq", "ivfpq", "sq8")
_SEARCH_PARAMS = {"hnsw": ("efSearch",), "ivf": ("nprobe",), "flat": (), "ivfpq": ("nprobe",),
                  "pq": (), "opq": (), "sq8": ()}


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
    """A float vector index: ``search(queries, k) -> (scores (nq, k) float32, ids (nq, k) int64)``.

    ``refine_vectors`` (n, d) float32 (an array or a read-only memory map), when given, re-ranks a
    shortlist of ``k * params["refine"]`` candidates exactly.
    """

    def __init__(self, faiss_index, metric: str, method: str, params: dict, refine_vectors=None):
        self.faiss_index, self.metric, self.method = faiss_index, metric, method
        self.params = dict(params)
        self.refine_vectors = refine_vectors

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
        """Change search-time parameters: ``efSearch`` (hnsw), ``nprobe`` (ivf, ivfpq) or
        ``refine`` (the k_factor of a re-ranked index)."""
        allowed = _SEARCH_PARAMS[self.method] + (("refine",) if self.refine_vectors is not None else ())
        for name, value in params.items():
            if name not in allowed:
                raise ValueError(f"{name}: expected one of {list(allowed)} for a {self.method!r} "
                                 f"index, got {name!r}")
            value = check_int(value, name, minimum=1)
            if name == "efSearch":
                self.faiss_index.hnsw.efSearch = value
            elif name == "nprobe":                     # faiss probes at most nlist cells
                _ivf(self.faiss_index).nprobe = value
            self.params[name] = value
        return self

    set_params = set_search_params  # the CORE brief's name for the same thing

    def _raw_search(self, q: np.ndarray, k: int):
        """faiss' k results for normalised queries, as (scores float32, ids int64), best first."""
        dist, ids = self.faiss_index.search(q, k)
        ids = ids.astype(np.int64)
        scores = _compressed.score_from_distance(dist, self.metric, self.method)
        scores = np.where(ids < 0, -np.inf, scores).astype(np.float32)
        return _stable(scores, ids, higher_better=True)

    def search(self, queries, k: int = 10):
        """The k best items per query, best first; ids -1 (score -inf) pad missing results."""
        q = _as_vectors(queries, "queries", self.dim)
        k = check_int(k, "k", minimum=1)
        if self.metric == "cosine":
            q = _normalize(q)
        if self.refine_vectors is not None:
            shortlist = min(self.ntotal, k * self.params["refine"])
            candidates = self._raw_search(q, max(shortlist, 1))[1]
            return _refine.rerank(q, candidates, self.refine_vectors, self.metric, k,
                                  lambda s, i: _stable(s, i, higher_better=True))
        if self.method == "flat":
            return _exact.exact_topk(self.faiss_index, q, k, self.metric)
        return self._raw_search(q, k)

    def memory(self) -> dict:
        """Bytes this index holds, measured by serialising it (units: bytes).

        ``index``: the faiss structure (codes, ids, graph, codebooks, centroids); ``fixed``: the
        same structure emptied (codebooks, centroids: independent of n); ``refine_ram`` /
        ``refine_disk``: float vectors kept for re-ranking in RAM / in a memory-mapped file;
        ``ram``: index + refine_ram; ``per_vector``: (ram - fixed) / ntotal, the cost of one
        more vector, which extrapolates to any collection size as ``fixed + n * per_vector``.
        """
        faiss = _faiss()
        total = int(faiss.serialize_index(self.faiss_index).nbytes)
        empty = faiss.clone_index(self.faiss_index)
        empty.reset()
        fixed = int(faiss.serialize_index(empty).nbytes)
        vec = self.refine_vectors
        on_disk = isinstance(vec, np.memmap)
        refine_ram = 0 if vec is None or on_disk else int(vec.nbytes)
        ram = total + refine_ram
        return {"index": total, "fixed": fixed, "refine_ram": refine_ram,
                "refine_disk": int(vec.nbytes) if on_disk else 0, "ram": ram,
                "per_vector": (ram - fixed) / max(self.ntotal, 1)}

    def save(self, path) -> Path:
        """Write the faiss index to ``path`` and its settings to ``path`` + ".json".

        Re-ranking floats kept in RAM go to ``path`` + ".refine.npy"; a memory-mapped file stays
        where it is (its path is recorded).
        """
        path = Path(path)
        _faiss().write_index(self.faiss_index, str(path))
        meta = {"kind": "float", "metric": self.metric, "method": self.method, "params": self.params}
        if self.refine_vectors is not None and not isinstance(self.refine_vectors, np.memmap):
            np.save(str(path) + ".refine.npy", np.asarray(self.refine_vectors))
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


def build_index(vectors, metric: str = "cosine", method: str = "flat", refine=None,
                refine_path=None, **params) -> Index:
    """Index ``vectors`` (n, d) for ``metric`` ("cosine" | "ip" | "l2") with ``method``.

    params — hnsw: ``M`` (links per node, 32), ``efConstruction`` (40), ``efSearch`` (16);
    ivf: ``nlist`` (cells, default about sqrt(n)), ``nprobe`` (1), ``seed`` (k-means, 0),
    ``train_size`` (k-means on that many random vectors; default all);
    pq / opq: ``m`` (sub-vectors, a divisor of d; default about d / 8), ``nbits`` (bits per
    sub-vector code, 8), ``train_size``; ivfpq: ``nlist``, ``nprobe``, ``m``, ``nbits``, ``seed``,
    ``train_size``; sq8: none.
    ``refine``: None (no re-ranking), True (k_factor 10) or an int k_factor: search a shortlist
    of ``k * k_factor`` and re-score it exactly with the float vectors, held in RAM or, with
    ``refine_path`` (a .npy file name), on disk and memory-mapped.
    Cosine normalises the vectors (and later the queries).
    """
    check_choice(metric, "metric", METRICS)
    check_choice(method, "method", METHODS)
    k_factor = _refine.check_refine(refine)
    if refine_path is not None and not k_factor:
        raise ValueError(f"refine_path: expected None without refine (nothing to re-rank), got "
                         f"{str(refine_path)!r}")
    x = _as_vectors(vectors, "vectors")
    n, d = x.shape
    if metric == "cosine":
        x = _normalize(x)
    faiss = _faiss()
    faiss_metric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    allowed = {"flat": (), "hnsw": ("M", "efConstruction", "efSearch"),
               "ivf": ("nlist", "nprobe", "seed", "train_size"), **_compressed.PARAMS}[method]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ValueError(f"params: expected only {list(allowed)} for method={method!r}, got "
                         f"{unknown}")
    if method in _compressed.PARAMS:
        index, used = _compressed.build(x, metric, method, params)
    elif method == "flat":
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
        if "train_size" in params:
            used["train_size"] = check_int(params["train_size"], "train_size", minimum=used["nlist"])
        index.train(_compressed.training_rows(x, used.get("train_size"), used["seed"]))
        index.nprobe = used["nprobe"]
    index.add(x)
    refine_vectors = None
    if k_factor:
        used["refine"] = k_factor
        refine_vectors = _refine.store_vectors(x, refine_path)
        if refine_path is not None:
            used["refine_path"] = str(Path(refine_path).resolve())
    return Index(index, metric, method, used, refine_vectors)


def _ivf(faiss_index):
    """The IVF index inside ``faiss_index`` (itself, or under a pre-transform)."""
    return _faiss().extract_index_ivf(faiss_index)


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
    params = meta["params"]
    refine_vectors = None
    if "refine" in params:
        source = Path(params.get("refine_path") or str(path) + ".refine.npy")
        if not source.is_file():
            raise ValueError(f"path: expected the re-ranking vectors of {str(path)!r} at "
                             f"{str(source)!r}, got no such file")
        refine_vectors = np.load(source, mmap_mode="r" if "refine_path" in params else None)
    index = Index(_faiss().read_index(str(path)), meta["metric"], meta["method"], params,
                  refine_vectors)
    search_params = {k: v for k, v in params.items() if k in _SEARCH_PARAMS[meta["method"]]}
    return index.set_search_params(**search_params)  # efSearch / nprobe as they were saved
