"""mmcourse.engine.topk and shards: the merge is exact (hypothesis, against a numpy sort of everything),
post-filtering and the exact filtered reference follow the tie policy, and sharded flat search returns
the ids of one flat index, ties included."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcourse.engine import build_sharded_index, exact_filtered_search, merge_topk, post_filter
from mmcourse.engine.shards import ShardedIndex, shard_bounds
from mmcourse.index import build_index
from mmcourse.similarity import top_k


def _reference(scores, k):
    """Top-k of a full score matrix: score descending, ties by lower id (plain numpy)."""
    order = np.lexsort((np.broadcast_to(np.arange(scores.shape[1]), scores.shape), -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, 1), order


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 40), n_shards=st.integers(1, 6), k=st.integers(1, 12), seed=st.integers(0, 10_000),
       levels=st.integers(1, 5))
def test_merging_shard_topk_equals_topk_of_everything(n, n_shards, k, seed, levels):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, levels, size=(3, n)).astype(np.float32)     # few levels: many ties
    perm = rng.permutation(n)                                            # shards hold arbitrary ids
    parts = np.array_split(perm, n_shards)
    shard_s, shard_i = [], []
    for part in parts:
        if len(part) == 0:
            shard_s.append(np.full((3, k), -np.inf)); shard_i.append(np.full((3, k), -1))
            continue
        sub = scores[:, part]                                            # each shard's own top-k,
        o = np.lexsort((np.broadcast_to(part, sub.shape), -sub), axis=1)[:, :k]   # ties by global id
        shard_s.append(np.take_along_axis(sub, o, 1)); shard_i.append(part[o])
    got_s, got_i = merge_topk(shard_s, shard_i, k)
    want_s, want_i = _reference(scores, min(k, n))
    assert got_i.shape == (3, k)
    np.testing.assert_array_equal(got_i[:, :min(k, n)], want_i)
    np.testing.assert_array_equal(got_s[:, :min(k, n)], want_s)
    assert (got_i[:, n:] == -1).all() and np.isneginf(got_s[:, n:]).all()


def test_merge_hand_case_and_bad_input():
    s, i = merge_topk([np.array([[0.9, 0.5]]), np.array([[0.5, -np.inf]])], [np.array([[7, 3]]), np.array([[2, -1]])], 4)
    assert i.tolist() == [[7, 2, 3, -1]] and s[0, :3].tolist() == pytest.approx([0.9, 0.5, 0.5])
    with pytest.raises(ValueError, match="shard_ids"):
        merge_topk([np.zeros((1, 2))], [np.zeros((1, 3), int)], 2)
    with pytest.raises(ValueError, match="shard_scores"):
        merge_topk(np.zeros((2, 1, 2)), [np.zeros((1, 2), int)] * 2, 2)
    with pytest.raises(ValueError, match="k"):
        merge_topk([np.zeros((1, 2))], [np.zeros((1, 2), int)], 0)
    with pytest.raises(ValueError, match="same number of queries"):
        merge_topk([np.zeros((1, 2)), np.zeros((2, 2))], [np.zeros((1, 2), int), np.zeros((2, 2), int)], 2)


def test_post_filter_and_exact_filtered_search():
    scores = np.array([[0.9, 0.8, 0.7, 0.7, 0.5]])
    ids = np.array([[4, 0, 3, 1, 2]])
    allowed = np.array([True, True, True, False, False])
    s, i = post_filter(scores, ids, allowed, 4)
    assert i.tolist() == [[0, 1, 2, -1]] and np.isneginf(s[0, 3])
    assert s[0, :3].tolist() == pytest.approx([0.8, 0.7, 0.5])
    full = np.array([[0.1, 0.7, 0.7, 0.9, 0.2]])
    s, i = exact_filtered_search(full, np.array([True, True, True, False, True]), 3)
    assert i.tolist() == [[1, 2, 4]]
    s, i = exact_filtered_search(full, np.array([False, False, True, False, False]), 3)
    assert i.tolist() == [[2, -1, -1]]
    with pytest.raises(ValueError, match="allowed"):
        post_filter(scores, ids, allowed[:3], 2)
    with pytest.raises(ValueError, match="allowed"):
        exact_filtered_search(full, np.ones(4, bool), 2)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 15), frac=st.floats(0.0, 1.0))
def test_exact_filtered_search_is_top_k_of_the_allowed_columns(seed, k, frac):
    rng = np.random.default_rng(seed)
    scores = rng.integers(0, 4, size=(4, 30)).astype(np.float32)
    allowed = rng.random(30) < frac
    s, i = exact_filtered_search(scores, allowed, k)
    masked = np.where(allowed, scores, -np.inf)
    want_s, want_i = _reference(masked, k)
    want_i = np.where(np.isneginf(want_s), -1, want_i)
    np.testing.assert_array_equal(i, want_i)


@pytest.mark.parametrize("n_shards", [1, 2, 3, 7])
@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_sharded_flat_search_is_one_flat_index_with_ties(n_shards, metric):
    """Integer vectors with duplicates: many exact ties, also at the k-th place."""
    rng = np.random.default_rng(n_shards)
    x = rng.integers(-2, 3, size=(1_500, 8)).astype(np.float32)
    x = np.vstack([x, x[:300]])
    q = np.vstack([rng.integers(-2, 3, size=(50, 8)), x[:20]]).astype(np.float32)
    s1, i1 = build_index(x, metric, "flat").search(q, 10)
    sharded = build_sharded_index(x, n_shards, metric, "flat")
    s, i = sharded.search(q, 10)
    np.testing.assert_array_equal(i, i1)
    np.testing.assert_array_equal(s, s1)
    if metric == "ip":
        ref_i, _ = top_k(q @ x.T, 10)                                    # independent reference
        np.testing.assert_array_equal(i, ref_i)
    assert len(sharded.memory()) == n_shards and sharded.last_latency_s.shape == (n_shards,)


def test_sharded_index_on_course_like_floats():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5_000, 32)).astype(np.float32)
    x = np.vstack([x, x[:200]])
    q = rng.normal(size=(100, 32)).astype(np.float32)
    _, i1 = build_index(x).search(q, 10)
    for n in (2, 4, 8):
        np.testing.assert_array_equal(build_sharded_index(x, n).search(q, 10)[1], i1)


def test_shards_bad_input():
    with pytest.raises(ValueError, match="shards"):
        ShardedIndex([], [])
    with pytest.raises(ValueError, match="offsets"):
        ShardedIndex([build_index(np.eye(4, dtype=np.float32))], [0, 4])
    with pytest.raises(ValueError, match="n_shards"):
        shard_bounds(3, 5)
    assert shard_bounds(10, 3).tolist() == [0, 3, 6]
