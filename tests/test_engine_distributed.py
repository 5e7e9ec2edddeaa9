"""mmcourse.engine.distributed on a real Dask LocalCluster (worker processes), and the generated
corpus chunks that notebook 09 distributes. Slow: starting worker processes takes seconds."""
from __future__ import annotations

import numpy as np
import pytest

from mmcourse.engine import dask_client, map_chunks
from mmcourse.scaling import chunk_specs, generated_images


def _square(chunk):
    """A module-level task (workers import it by reference)."""
    start, count = chunk
    return np.arange(start, start + count) ** 2


@pytest.mark.slow
def test_map_chunks_on_a_local_cluster_returns_results_in_chunk_order():
    chunks = [(s, 5) for s in range(0, 50, 5)]
    seen = []
    with dask_client(n_workers=2) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        out = map_chunks(_square, chunks, client=client, on_result=lambda i, r: seen.append(i), progress=False)
        again = map_chunks(_square, chunks[:3], client=client, keep=False, progress=False)
    np.testing.assert_array_equal(np.concatenate(out), np.arange(50) ** 2)
    assert sorted(seen) == list(range(10)) and again is None


@pytest.mark.slow
def test_map_chunks_starts_and_stops_its_own_cluster():
    out = map_chunks(_square, [(0, 3), (3, 3)], n_workers=1, progress=False)
    assert np.concatenate(out).tolist() == [0, 1, 4, 9, 16, 25]


def test_map_chunks_bad_input():
    with pytest.raises(ValueError, match="task"):
        map_chunks(3, [(0, 1)])
    with pytest.raises(ValueError, match="chunks"):
        map_chunks(_square, [])
    with pytest.raises(ValueError, match="address"):
        with dask_client("localhost"):
            pass
    with pytest.raises(ValueError, match="n_workers"):
        with dask_client(n_workers=0):
            pass


def test_generated_chunks_are_deterministic_and_cover_the_range():
    specs = chunk_specs(2_500, 1_000, "torch", seed=3)
    assert specs == [(0, 1000, "torch", 3), (1000, 1000, "torch", 3), (2000, 500, "torch", 3)]
    a, b = generated_images(1000, 20, seed=3), generated_images(1000, 20, seed=3)
    assert a.shape == (20, 32, 32, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, generated_images(2000, 20, seed=3))
    with pytest.raises(ValueError, match="chunk_size"):
        chunk_specs(10, 0)
