"""``open_store``: one entry point for every vector-store backend."""
from __future__ import annotations

import re

from .._validation import check_choice

BACKENDS = ("faiss", "milvus")
_COLLECTION = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def open_store(backend: str = "faiss", uri=None, dim=None, metric=None, collection: str = "items",
               **options):
    """Open (or create) the collection ``collection`` of a vector store.

    ``backend="faiss"``: ``uri`` is a folder; the store is an exact faiss flat index in this
    process, persisted as segment files. ``backend="milvus"``: ``uri`` is a Milvus Lite file
    (``"course.db"``, embedded, offline) or a server address (``"http://host:19530"``); options
    go to ``pymilvus.MilvusClient`` (``token=...``) except ``index_params`` (the vector index,
    default ``{"index_type": "FLAT"}``).

    ``dim`` (int) and ``metric`` ("cosine" default, "ip", "l2") create a new collection; leave
    them None to reopen one (given, they must match it). Reopening an unknown collection without
    ``dim`` raises ValueError. Every store has ``add``, ``upsert``, ``delete``, ``search``,
    ``count``, ``fields`` and ``close`` (also as a context manager).
    """
    check_choice(backend, "backend", BACKENDS)
    if uri is None or not str(uri).strip():
        raise ValueError(f"uri: expected a folder (faiss) or a .db file / server address (milvus), "
                         f"got {uri!r}")
    if not isinstance(collection, str) or not _COLLECTION.match(collection):
        raise ValueError(f"collection: expected a name of letters, digits and _ (not starting with "
                         f"a digit), got {collection!r}")
    if backend == "faiss":
        if options:
            raise ValueError(f"options: expected none for the faiss backend, got {sorted(options)}")
        from .faiss_store import FaissStore  # noqa: PLC0415

        return FaissStore(uri, collection=collection, dim=dim, metric=metric)
    from .milvus_store import MilvusStore  # noqa: PLC0415

    return MilvusStore(uri, collection=collection, dim=dim, metric=metric, **options)
