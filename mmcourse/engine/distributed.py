"""Run a function over chunks of work on a Dask cluster, with a progress bar.

The cluster is Dask distributed's: ``LocalCluster`` (worker *processes* on this machine) by
default, or any running cluster reached by its scheduler's address,
``Client("tcp://scheduler:8786")``, with the same code. Each chunk is one task; results come back
as workers finish them, are handed to ``on_result`` in completion order (to feed an index while
the rest is still being computed) and are returned in chunk order.

A task must be a function importable on the workers (a module-level function of an installed
package; functions defined in a notebook are shipped by value) taking one picklable chunk
description — for example a (start, count) range to generate and embed there, rather than the
data itself, so that only small descriptions and results cross the network.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager

from .._validation import check_int


@contextmanager
def dask_client(address=None, n_workers: int = 2, threads_per_worker: int = 1, memory_limit="4GiB"):
    """A ``dask.distributed.Client``: a fresh ``LocalCluster`` (``address`` None), closed on exit,
    or a connection to the scheduler at ``address`` (e.g. "tcp://scheduler:8786").

    Local workers are processes with ``threads_per_worker`` threads each; Dask sets
    ``OMP_NUM_THREADS`` etc. of each worker to its thread count, so two one-thread workers use
    two cores, not four. No dashboard is started.
    """
    from dask.distributed import Client, LocalCluster  # noqa: PLC0415 - heavy, on first use

    if address is not None:
        if not isinstance(address, str) or "://" not in address:
            raise ValueError(f"address: expected a scheduler address such as 'tcp://host:8786', got "
                             f"{address!r}")
        client = Client(address)
        try:
            yield client
        finally:
            client.close()
        return
    n_workers = check_int(n_workers, "n_workers", minimum=1, maximum=256)
    threads_per_worker = check_int(threads_per_worker, "threads_per_worker", minimum=1, maximum=256)
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker,
                           processes=True, dashboard_address=None, memory_limit=memory_limit,
                           silence_logs=logging.ERROR)
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def map_chunks(task, chunks, client=None, n_workers: int = 2, on_result=None, progress: bool = True,
               desc: str = "chunks", keep: bool = True):
    """``[task(c) for c in chunks]`` computed on a Dask cluster; results in chunk order.

    ``client``: a ``dask.distributed.Client`` (reused, left open), a scheduler address string,
    or None (a ``LocalCluster`` of ``n_workers`` one-thread processes, started and closed here).
    ``on_result(i, result)`` is called in this process as chunk ``i`` completes (completion
    order). ``keep=False`` returns None instead of holding every result. ``progress`` shows a
    tqdm bar of finished chunks.
    """
    if not callable(task):
        raise ValueError(f"task: expected a function of one chunk, got {type(task).__name__}")
    chunks = list(chunks)
    if not chunks:
        raise ValueError("chunks: expected at least one chunk of work, got none")
    if client is None or isinstance(client, str):
        with dask_client(client, n_workers=n_workers) as own:
            return map_chunks(task, chunks, own, on_result=on_result, progress=progress, desc=desc,
                              keep=keep)
    from dask.distributed import as_completed  # noqa: PLC0415
    from tqdm.auto import tqdm  # noqa: PLC0415

    futures = [client.submit(task, chunk, pure=False) for chunk in chunks]
    position = {f.key: i for i, f in enumerate(futures)}
    results = [None] * len(chunks) if keep else None
    bar = tqdm(total=len(chunks), desc=desc, disable=not progress, leave=False)
    try:
        for future, result in as_completed(futures, with_results=True):
            i = position[future.key]
            if on_result is not None:
                on_result(i, result)
            if keep:
                results[i] = result
            future.release()
            bar.update(1)
    finally:
        bar.close()
        for f in futures:
            f.cancel()
    return results
