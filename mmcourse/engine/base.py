"""What every vector store shares: the interface, and the checks on what goes in.

A store holds (id, vector, scalar fields) rows. Ids are int64 and stable: a row keeps its id
across reopen, upsert and the deletion of other rows. Scalar fields are named columns of one of
four kinds — "int", "float", "bool", "str" — declared by the first ``add`` (a store knows nothing
about what the columns mean). Scores are higher-is-better for every metric: cosine similarity,
inner product, or minus the Euclidean distance.
"""
from __future__ import annotations

import keyword
import re

import numpy as np

from .._validation import as_array, as_matrix, check_choice, check_int, describe

METRICS = ("cosine", "ip", "l2")
#: names a scalar field cannot take: the row id, the vector, and the filter language's words
RESERVED = {"id", "vector", "and", "or", "not", "in", "like", "true", "false", "is", "null", "exists"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def check_metric(metric) -> str:
    return check_choice(metric, "metric", METRICS)


def check_dim(dim) -> int:
    return check_int(dim, "dim", minimum=1, maximum=32_768)


def check_vectors(vectors, dim: int, name: str = "vectors") -> np.ndarray:
    """float32 (n, dim) C-contiguous, finite; a single vector (dim,) becomes (1, dim)."""
    arr = as_array(vectors, name)
    if arr.ndim == 1:
        arr = arr[None, :]
    arr = as_matrix(arr, name)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name}: expected real-valued vectors, got dtype {arr.dtype}")
    if arr.shape[1] != dim:
        raise ValueError(f"{name}: expected {dim} columns (the store's dimension), got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def check_ids(ids, n: int, name: str = "ids") -> np.ndarray:
    """int64 (n,), non-negative and unique."""
    arr = as_array(ids, name, ndim=1, allow_empty=True)
    if arr.dtype.kind not in "iu" or (arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max):
        raise ValueError(f"{name}: expected int64 ids, got {describe(arr)}")
    arr = arr.astype(np.int64)
    if len(arr) != n:
        raise ValueError(f"{name}: expected {n} ids (one per vector), got {len(arr)}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name}: expected non-negative ids (-1 marks padding in results), got "
                         f"{int(arr.min())}")
    if len(np.unique(arr)) != len(arr):
        raise ValueError(f"{name}: expected unique ids, got {len(arr) - len(np.unique(arr))} repeated")
    return arr


def kind_of(values: np.ndarray) -> str | None:
    """The column kind of a numpy array, or None when it is none of the four."""
    if values.dtype == bool:
        return "bool"
    if values.dtype.kind in "iu":
        return "int"
    if values.dtype.kind == "f":
        return "float"
    if values.dtype.kind == "U":
        return "str"
    return None


def check_fields(fields, n: int, schema: dict | None) -> dict:
    """{name: array (n,)} of known kinds; against ``schema`` ({name: kind}) when one is declared."""
    if fields is None:
        fields = {}
    if not isinstance(fields, dict):
        raise ValueError(f"fields: expected a dict {{name: values}} of scalar columns, got "
                         f"{type(fields).__name__}")
    out = {}
    for name, values in fields.items():
        if not isinstance(name, str) or not _NAME.match(name) or name.lower() in RESERVED \
                or keyword.iskeyword(name):
            raise ValueError(f"fields: expected identifier names (letters, digits, _; not "
                             f"{sorted(RESERVED)}), got {name!r}")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise ValueError(f"fields[{name!r}]: expected {n} values (one per vector), got "
                             f"{describe(values)}")
        arr = np.asarray(values)
        if arr.ndim != 1 or len(arr) != n:
            raise ValueError(f"fields[{name!r}]: expected {n} values (one per vector), got shape "
                             f"{arr.shape}")
        if arr.dtype == object and all(isinstance(v, str) for v in arr):
            arr = arr.astype(str)
        kind = kind_of(arr)
        if kind is None:
            raise ValueError(f"fields[{name!r}]: expected int, float, bool or str values, got dtype "
                             f"{arr.dtype}")
        if kind == "float" and not np.isfinite(arr).all():
            raise ValueError(f"fields[{name!r}]: expected finite values, got NaN/inf")
        out[name] = arr
    if schema is not None:
        declared = {k: v for k, v in schema.items() if k != "id"}
        if set(out) != set(declared):
            raise ValueError(f"fields: expected the store's fields {sorted(declared)}, got "
                             f"{sorted(out)}")
        for name, arr in out.items():
            kind, want = kind_of(arr), declared[name]
            if kind != want and not (want == "float" and kind == "int"):
                raise ValueError(f"fields[{name!r}]: expected {want} values (as declared by the "
                                 f"first add), got {kind}")
    return out


def schema_of(columns: dict) -> dict:
    """{name: kind} of checked columns, with the always-present int ``id``."""
    return {"id": "int", **{name: kind_of(arr) for name, arr in columns.items()}}


_DTYPES = {"int": np.int64, "float": np.float64, "bool": bool, "str": str}


def cast_column(values: np.ndarray, kind: str) -> np.ndarray:
    """Values as the canonical dtype of ``kind`` (int64, float64, bool, str)."""
    return values.astype(_DTYPES[kind])


def empty_column(kind: str) -> np.ndarray:
    return np.zeros(0, dtype=_DTYPES[kind])


class VectorStore:
    """The interface of every backend (see ``mmcourse.engine.open_store``)."""

    backend = "?"

    def __init__(self, uri: str, collection: str, dim: int | None, metric: str):
        self.uri, self.collection, self.dim, self.metric = uri, collection, dim, metric

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"count={self.count}"
        return (f"{type(self).__name__}(uri={self.uri!r}, collection={self.collection!r}, "
                f"dim={self.dim}, metric={self.metric!r}, {state})")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    closed = False

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError(f"store: expected an open store, got one closed by close() "
                             f"(reopen it with open_store({self.backend!r}, uri={self.uri!r}))")

    def _check_k(self, k) -> int:
        return check_int(k, "k", minimum=1, maximum=16_384)

    # the interface -------------------------------------------------------------------------
    @property
    def count(self) -> int:
        """Number of rows stored."""
        raise NotImplementedError

    @property
    def fields(self) -> dict:
        """{name: kind} of the scalar fields, ``id`` included."""
        raise NotImplementedError

    def add(self, vectors, ids=None, fields=None) -> np.ndarray:
        """Insert rows; ``ids`` None numbers them after the largest id stored. Returns int64 ids.

        Adding an id that is already stored raises ValueError (use ``upsert`` to replace).
        """
        raise NotImplementedError

    def upsert(self, vectors, ids, fields=None) -> np.ndarray:
        """Insert rows, replacing the rows that already have these ids. Returns the ids."""
        raise NotImplementedError

    def delete(self, ids) -> int:
        """Remove the rows with these ids (unknown ids are ignored); returns how many were removed."""
        raise NotImplementedError

    def search(self, queries, k: int = 10, filter=None):
        """(scores (nq, k) float32, ids (nq, k) int64), best first, ties by lower id; -inf / -1
        pad queries with fewer than k matching rows. ``filter``: a Milvus boolean expression."""
        raise NotImplementedError

    def close(self) -> None:
        """Write what is pending and release the store; reopening the uri gives the same answers."""
        raise NotImplementedError
