"""Sharded search: a collection split over N indexes, each query fanned out, top-k lists merged.

Beyond one machine a collection is cut into shards, one per machine (or process); a query goes to
every shard, each returns its own top-k, and a coordinator merges them. For exact (flat) shards
the merge is exact: an item of the global top-k is in its own shard's top-k, and with the tie
policy applied in each shard and in the merge, the ids are those of one flat index over the
whole collection, ties included. Here the shards are ``mmcourse.index.Index`` objects in one
process, searched by a thread pool (faiss releases the GIL); the same merge serves shards on
other machines.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._validation import as_matrix, check_int
from .topk import merge_topk


class ShardedIndex:
    """N shard indexes with global id offsets: ``search(queries, k) -> (scores, ids)``.

    ``shards``: ``mmcourse.index.Index`` objects; ``offsets`` (N,): the global id of each
    shard's first row (shard j holds ids ``offsets[j] .. offsets[j] + shards[j].ntotal - 1``).
    """

    def __init__(self, shards, offsets, workers: int | None = None):
        if not shards:
            raise ValueError("shards: expected at least one shard index, got none")
        offsets = np.asarray(offsets, dtype=np.int64)
        if offsets.shape != (len(shards),):
            raise ValueError(f"offsets: expected one offset per shard ({len(shards)}), got shape "
                             f"{offsets.shape}")
        dims = {s.dim for s in shards}
        if len(dims) != 1:
            raise ValueError(f"shards: expected indexes of one dimension, got {sorted(dims)}")
        self.shards, self.offsets = list(shards), offsets
        self.workers = check_int(workers or len(shards), "workers", minimum=1)
        self.last_latency_s = np.zeros(len(shards))

    def __repr__(self) -> str:
        return f"ShardedIndex(n_shards={len(self.shards)}, ntotal={self.ntotal}, dim={self.dim})"

    @property
    def ntotal(self) -> int:
        return int(sum(s.ntotal for s in self.shards))

    @property
    def dim(self) -> int:
        return self.shards[0].dim

    def _one(self, j: int, q: np.ndarray, k: int):
        start = time.perf_counter()
        scores, ids = self.shards[j].search(q, k)
        self.last_latency_s[j] = time.perf_counter() - start
        return scores, np.where(ids >= 0, ids + self.offsets[j], -1)

    def search(self, queries, k: int = 10):
        """Fan ``queries`` (nq, d) out to every shard, merge: (scores (nq, k), global ids (nq, k)).

        ``last_latency_s`` holds each shard's search time of this call (seconds).
        """
        q = as_matrix(queries, "queries")
        k = check_int(k, "k", minimum=1)
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            parts = list(pool.map(lambda j: self._one(j, q, k), range(len(self.shards))))
        return merge_topk([p[0] for p in parts], [p[1] for p in parts], k)

    def memory(self) -> list[int]:
        """RAM bytes held by each shard (``Index.memory()["ram"]``)."""
        return [s.memory()["ram"] for s in self.shards]


def shard_bounds(n: int, n_shards: int) -> np.ndarray:
    """Start offsets of ``n_shards`` contiguous shards of ``n`` rows, as even as possible."""
    n_shards = check_int(n_shards, "n_shards", minimum=1, maximum=max(n, 1))
    return np.array([j * n // n_shards for j in range(n_shards)], dtype=np.int64)


def build_sharded_index(vectors, n_shards: int, metric: str = "cosine", method: str = "flat",
                        **params) -> ShardedIndex:
    """Split ``vectors`` (n, d) into ``n_shards`` contiguous shards and index each one alike.

    Global ids are row numbers of ``vectors``. Trained methods (ivf, pq, ...) train per shard, as
    independent machines would.
    """
    from ..index import build_index  # noqa: PLC0415 - faiss loads with it

    x = as_matrix(vectors, "vectors")
    starts = shard_bounds(len(x), n_shards)
    ends = np.append(starts[1:], len(x))
    shards = [build_index(x[a:b], metric=metric, method=method, **params) for a, b in zip(starts, ends)]
    return ShardedIndex(shards, starts)
