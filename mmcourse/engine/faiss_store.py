"""The in-process backend: an exact faiss flat index, scalar columns in numpy, a folder on disk.

Search is exhaustive and exact (``mmcourse._exact``: faiss finds candidates, float64 re-scores
them, ties go to the lower id), so it is the reference the Milvus backend is compared with. A
filter is evaluated over the columns (``mmcourse.engine.filters``) and handed to faiss as an
``IDSelectorBitmap``: only matching rows are scored (pre-filtering, exact). Reads share a
readers–writer lock, writes hold it alone, so one store serves many threads.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import base
from ._rwlock import RWLock
from ._segments import SegmentLog, read_meta, write_meta
from .filters import parse_filter
from .._exact import exact_topk

FORMAT = 1


def _faiss():
    import faiss  # noqa: PLC0415 - heavy, imported on first use

    return faiss


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


class FaissStore(base.VectorStore):
    """Rows in a ``faiss.IndexFlat`` (row order = insertion order) with an id and field per row."""

    backend = "faiss"

    def __init__(self, uri, collection: str = "items", dim=None, metric=None):
        folder = Path(uri) / collection
        meta = read_meta(folder) if folder.is_dir() else None
        if meta is None:
            if dim is None:
                raise ValueError(f"collection: expected an existing collection {collection!r} in "
                                 f"{str(uri)!r} (or dim= to create one), got none")
            dim, metric = base.check_dim(dim), base.check_metric(metric or "cosine")
            if Path(uri).exists() and not Path(uri).is_dir():
                raise ValueError(f"uri: expected a folder for the faiss backend, got the file {str(uri)!r}")
            folder.mkdir(parents=True, exist_ok=True)
            meta = {"format": FORMAT, "dim": dim, "metric": metric, "schema": None}
            write_meta(folder, meta)
        else:
            if dim is not None and base.check_dim(dim) != meta["dim"]:
                raise ValueError(f"dim: expected {meta['dim']} (the stored collection's dimension), "
                                 f"got {dim}")
            if metric is not None and base.check_metric(metric) != meta["metric"]:
                raise ValueError(f"metric: expected {meta['metric']!r} (the stored collection's "
                                 f"metric), got {metric!r}")
        super().__init__(str(uri), collection, meta["dim"], meta["metric"])
        self._folder, self._meta = folder, meta
        self._schema = meta["schema"]
        self._lock = RWLock()
        self._log = SegmentLog(folder)
        faiss = _faiss()
        self._index = faiss.IndexFlat(self.dim, faiss.METRIC_L2 if self.metric == "l2"
                                      else faiss.METRIC_INNER_PRODUCT)
        self._ids = np.zeros(0, dtype=np.int64)
        self._columns = {name: base.empty_column(kind)
                         for name, kind in (self._schema or {}).items() if name != "id"}
        for op in self._log.replay():
            if op[0] == "add":
                self._append(*op[1:])
            else:
                self._remove(op[1])

    # ------------------------------------------------------------------ state changes (locked)
    def _append(self, ids, vectors, columns) -> None:
        self._index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self._ids = np.concatenate([self._ids, ids.astype(np.int64)])
        for name in self._columns:
            self._columns[name] = np.concatenate([self._columns[name], columns[name]])

    def _remove(self, ids) -> int:
        rows = np.flatnonzero(np.isin(self._ids, ids))
        if len(rows):
            self._index.remove_ids(_faiss().IDSelectorBatch(rows.astype(np.int64)))
            keep = np.ones(len(self._ids), dtype=bool)
            keep[rows] = False
            self._ids = self._ids[keep]
            self._columns = {k: v[keep] for k, v in self._columns.items()}
        return int(len(rows))

    def _prepare(self, vectors, ids, fields, need_ids: bool):
        x = base.check_vectors(vectors, self.dim)
        if ids is None:
            if need_ids:
                raise ValueError("ids: expected the ids of the rows to upsert, got None")
            start = int(self._ids.max()) + 1 if len(self._ids) else 0
            ids = np.arange(start, start + len(x), dtype=np.int64)
        ids = base.check_ids(ids, len(x))
        columns = base.check_fields(fields, len(x), self._schema)
        if self._schema is None:
            self._schema = base.schema_of(columns)
            self._meta["schema"] = self._schema
            write_meta(self._folder, self._meta)
            self._columns = {k: base.empty_column(self._schema[k]) for k in columns}
        columns = {k: base.cast_column(v, self._schema[k]) for k, v in columns.items()}
        if self.metric == "cosine":
            x = _normalize(x)
        return x, ids, columns

    def add(self, vectors, ids=None, fields=None) -> np.ndarray:
        with self._lock.write():
            self._check_open()
            x, ids, columns = self._prepare(vectors, ids, fields, need_ids=False)
            clash = np.intersect1d(ids, self._ids)
            if len(clash):
                raise ValueError(f"ids: expected ids not yet stored (use upsert to replace rows), got "
                                 f"{len(clash)} already stored, e.g. {int(clash[0])}")
            self._log.append_add(ids, x, columns)
            self._append(ids, x, columns)
        return ids

    def upsert(self, vectors, ids, fields=None) -> np.ndarray:
        with self._lock.write():
            self._check_open()
            x, ids, columns = self._prepare(vectors, ids, fields, need_ids=True)
            self._log.append_delete(ids)
            self._log.append_add(ids, x, columns)
            self._remove(ids)
            self._append(ids, x, columns)
        return ids

    def delete(self, ids) -> int:
        ids = np.asarray(base.as_array(ids, "ids", ndim=1, allow_empty=True))
        if ids.size == 0:
            return 0
        if ids.dtype.kind not in "iu":
            raise ValueError(f"ids: expected integer ids, got dtype {ids.dtype}")
        with self._lock.write():
            self._check_open()
            ids = ids.astype(np.int64)
            if not np.isin(ids, self._ids).any():
                return 0
            self._log.append_delete(ids)
            return self._remove(ids)

    def close(self) -> None:
        if self.closed:
            return
        with self._lock.write():
            vectors = self._vectors()
            self._log.compact(self._ids, vectors, self._columns)
            self.closed = True
            self._index.reset()

    # ------------------------------------------------------------------ reads
    def _vectors(self) -> np.ndarray:
        n = self._index.ntotal
        return self._index.reconstruct_n(0, n) if n else np.zeros((0, self.dim), np.float32)

    @property
    def count(self) -> int:
        return int(len(self._ids))

    @property
    def fields(self) -> dict:
        return dict(self._schema or {"id": "int"})

    def search(self, queries, k: int = 10, filter=None):
        q = base.check_vectors(queries, self.dim, "queries")
        k = self._check_k(k)
        if self.metric == "cosine":
            q = _normalize(q)
        with self._lock.read():
            self._check_open()
            n = self.count
            params, bitmap = None, None
            if filter is not None:
                mask = parse_filter(filter, self.fields).mask({"id": self._ids, **self._columns})
                n = int(mask.sum())
                bitmap = np.packbits(mask, bitorder="little")   # kept alive during the search
                faiss = _faiss()
                params = faiss.SearchParameters(sel=faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap)))
            return exact_topk(self._index, q, k, self.metric, ids_of_rows=self._ids, params=params,
                              n_candidates=n)
