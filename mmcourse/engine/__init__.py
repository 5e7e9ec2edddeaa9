"""Retrieval beyond one in-process index: vector stores, sharded search, distributed embedding.

- ``open_store(backend="faiss" | "milvus", uri=..., dim=..., metric="cosine")`` → a store with
  ``add``, ``upsert``, ``delete``, ``search(queries, k, filter=None)``, ``count``, ``close``
  (``mmcourse.engine.store``). Filters use Milvus's boolean expressions; the faiss backend
  evaluates a documented subset (``mmcourse.engine.filters``).
- ``ShardedIndex`` / ``build_sharded_index``: a collection split over N shards, each query fanned
  out and the top-k lists merged (``mmcourse.engine.shards``, ``mmcourse.engine.topk``).
- ``map_chunks``: run a function over chunks on a Dask cluster (``LocalCluster`` by default,
  or ``Client("tcp://scheduler:8786")``), with a progress bar (``mmcourse.engine.distributed``).
- ``recall_vs_exact``, ``smallest_nprobe``: measuring and tuning approximate search
  (``mmcourse.engine.tuning``).

Nothing here knows which data it serves: vectors are float32 rows, scalar fields named columns.
Importing this package imports neither faiss, pymilvus nor dask; each loads on first use.
"""
from __future__ import annotations

import importlib

_LAZY = {"open_store": "store", "BACKENDS": "store", "parse_filter": "filters",
         "merge_topk": "topk", "post_filter": "topk", "exact_filtered_search": "topk",
         "order_best_first": "topk", "ShardedIndex": "shards", "build_sharded_index": "shards",
         "map_chunks": "distributed", "dask_client": "distributed",
         "recall_vs_exact": "tuning", "smallest_nprobe": "tuning"}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
