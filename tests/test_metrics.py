"""Tests for mmcourse.metrics: hand-computed cases (ties, empty queries), scikit-learn
agreement on tie-free scores, hypothesis properties, and the bootstrap helpers."""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats
from sklearn.metrics import average_precision_score, ndcg_score
from sklearn.metrics import precision_recall_curve as sk_pr_curve

from mmcourse import metrics as M

# one query: ranking 0, 1, 2, 3 (items 1 and 2 tie; item 1 wins by index); relevant: 1 and 3
S1 = np.array([[0.9, 0.8, 0.8, 0.1]])
R1 = np.array([[0, 1, 0, 1]])


def test_hand_computed_single_query():
    assert M.hit_rate_at_k(S1, R1, k=1) == 0.0
    assert M.hit_rate_at_k(S1, R1, k=2) == 1.0
    assert M.recall_at_k(S1, R1, k=2) == 0.5
    assert M.precision_at_k(S1, R1, k=2) == 0.5
    assert M.average_precision(S1, R1) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert M.average_precision(S1, R1, k=2) == pytest.approx((1 / 2) / 2)
    assert M.mean_reciprocal_rank(S1, R1) == 0.5
    assert M.mean_reciprocal_rank(S1, R1, k=1) == 0.0
    assert M.median_rank(S1, R1) == 2.0
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    assert M.ndcg_at_k(S1, R1, k=4) == pytest.approx(dcg / (1 + 1 / math.log2(3)))
    assert M.mean_average_precision is M.average_precision


def test_ties_are_broken_by_lower_item_index():
    s = np.zeros((1, 3))
    assert M.average_precision(s, [[0, 0, 1]]) == pytest.approx(1 / 3)
    assert M.average_precision(s, [[1, 0, 0]]) == 1.0
    assert M.median_rank(s, [[0, 1, 0]]) == 2.0
    # swapping tied items 1 and 2 of S1 changes which one ranks second
    assert M.hit_rate_at_k(S1, [[0, 0, 1, 0]], k=2) == 0.0


def test_one_dimensional_input_is_one_query():
    assert M.average_precision(S1[0], R1[0]) == M.average_precision(S1, R1)


def test_graded_ndcg_matches_hand_computation():
    s = np.array([[3.0, 2.0, 1.0]])
    rel = np.array([[1.0, 3.0, 0.0]])
    dcg = 1 / 1 + 3 / math.log2(3)
    ideal = 3 / 1 + 1 / math.log2(3)
    assert M.ndcg_at_k(s, rel, k=3) == pytest.approx(dcg / ideal)
    assert M.ndcg_at_k(s, rel, k=1) == pytest.approx(1 / 3)
    # binary metrics binarise graded relevance at > 0
    assert M.precision_at_k(s, rel, k=2) == 1.0


def test_empty_query_policies():
    s = np.array([[0.9, 0.1], [0.2, 0.8]])
    rel = np.array([[1, 0], [0, 0]])
    assert M.average_precision(s, rel) == 0.5
    assert M.average_precision(s, rel, empty="skip") == 1.0
    per_q = M.average_precision(s, rel, per_query=True, empty="skip")
    assert per_q[0] == 1.0 and np.isnan(per_q[1])
    with pytest.raises(ValueError, match="relevance: expected at least one relevant.*query 1"):
        M.average_precision(s, rel, empty="error")
    with pytest.raises(ValueError, match="every query has no relevant"):
        M.recall_at_k(s, np.zeros((2, 2)), empty="skip")
    # median rank: an empty query is a miss (rank n_items + 1) under "zero", not rank 0
    np.testing.assert_array_equal(M.median_rank(s, rel, per_query=True), [1.0, 3.0])
    assert M.median_rank(s, rel, empty="skip") == 1.0
    assert M.ndcg_at_k(s, rel, per_query=True).tolist() == [1.0, 0.0]


def test_k_is_clipped_to_the_number_of_items():
    assert M.precision_at_k(S1, R1, k=100) == 0.5
    assert M.recall_at_k(S1, R1, k=100) == 1.0


def _tie_free(rng, n_q=40, n=60, p=0.15, graded=False):
    scores = rng.permuted(np.tile(np.arange(n, dtype=np.float64), (n_q, 1)), axis=1)
    rel = (rng.random((n_q, n)) < p).astype(float)
    if graded:
        rel *= rng.integers(1, 4, size=rel.shape)
    rel[:, 0] += (rel.sum(1) == 0)  # at least one relevant item per query
    return scores, rel


def test_average_precision_matches_sklearn():
    scores, rel = _tie_free(np.random.default_rng(0))
    ours = M.average_precision(scores, rel, per_query=True)
    ref = [average_precision_score(rel[i] > 0, scores[i]) for i in range(len(rel))]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


@pytest.mark.parametrize("k", [1, 5, 10, None])
def test_ndcg_matches_sklearn(k):
    scores, rel = _tie_free(np.random.default_rng(1), graded=True)
    kk = scores.shape[1] if k is None else k
    ours = M.ndcg_at_k(scores, rel, k=kk, per_query=True)
    ref = [ndcg_score(rel[i:i + 1], scores[i:i + 1], k=k) for i in range(len(rel))]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)


def test_precision_recall_curve_matches_interpolated_sklearn_curve():
    scores, rel = _tie_free(np.random.default_rng(2), n_q=5, n=30, p=0.3)
    levels = np.linspace(0, 1, 21)
    per_q, recall = M.precision_recall_curve(scores, rel, recall_levels=levels, per_query=True)
    np.testing.assert_array_equal(recall, levels)
    for i in range(len(rel)):
        p, r, _ = sk_pr_curve(rel[i] > 0, scores[i])
        p, r = p[:-1], r[:-1]  # drop sklearn's artificial (recall 0, precision 1) end point
        ref = [p[r >= t - 1e-12].max() for t in levels]
        np.testing.assert_allclose(per_q[i], ref, rtol=1e-12)
    mean, _ = M.precision_recall_curve(scores, rel, recall_levels=levels)
    np.testing.assert_allclose(mean, per_q.mean(0))


def test_precision_recall_curve_hand_computed_and_cutoff():
    s = np.array([4.0, 3.0, 2.0, 1.0])
    rel = np.array([1, 0, 1, 0])  # hits at ranks 1 and 3: precision 1 and 2/3
    p, r = M.precision_recall_curve(s, rel, recall_levels=[0, 0.5, 0.6, 1.0])
    np.testing.assert_allclose(p, [1, 1, 2 / 3, 2 / 3])
    p, _ = M.precision_recall_curve(s, rel, recall_levels=[0, 0.5, 0.6, 1.0], k=2)
    np.testing.assert_allclose(p, [1, 1, 0, 0])
    p, r = M.precision_recall_curve(s, rel)
    assert len(p) == len(r) == 11


def test_evaluate_retrieval_keys_and_consistency():
    scores, rel = _tie_free(np.random.default_rng(3))
    out = M.evaluate_retrieval(scores, rel, ks=(1, 5))
    assert set(out) == {"R@1", "Recall@1", "P@1", "NDCG@1", "R@5", "Recall@5", "P@5",
                        "NDCG@5", "NDCG@10", "mAP", "MRR", "medR"}
    assert out["R@5"] == M.hit_rate_at_k(scores, rel, k=5)
    assert out["Recall@5"] == M.recall_at_k(scores, rel, k=5)
    assert out["NDCG@10"] == M.ndcg_at_k(scores, rel, k=10)
    assert out["mAP"] == M.average_precision(scores, rel)
    assert out["MRR"] == M.mean_reciprocal_rank(scores, rel)
    assert out["medR"] == M.median_rank(scores, rel)
    per_q = M.evaluate_retrieval(scores, rel, per_query=True)
    np.testing.assert_array_equal(per_q["mAP"], M.average_precision(scores, rel, per_query=True))


@pytest.mark.parametrize("call, arg", [
    (lambda: M.recall_at_k(np.ones((2, 3)), np.ones((2, 4))), "relevance: expected the same shape"),
    (lambda: M.recall_at_k(np.ones((2, 3)), -np.ones((2, 3))), "relevance: expected non-negative"),
    (lambda: M.recall_at_k(np.ones((2, 3)), np.ones((2, 3)), k=0), "k: expected an integer >= 1"),
    (lambda: M.recall_at_k(np.full((1, 2), np.nan), np.ones((1, 2))), "scores: expected finite"),
    (lambda: M.recall_at_k(np.ones((1, 2, 2)), np.ones((1, 2, 2))), "scores: expected a 2-D"),
    (lambda: M.recall_at_k(np.ones((1, 2)), np.ones((1, 2)), empty="drop"), "empty"),
    (lambda: M.recall_at_k(np.ones((1, 2)), np.ones((1, 2)), per_query="yes"), "per_query"),
    (lambda: M.evaluate_retrieval(np.ones((1, 2)), np.ones((1, 2)), ks=()), "ks"),
    (lambda: M.precision_recall_curve(np.ones((1, 2)), np.ones((1, 2)), recall_levels=[2.0]),
     "recall_levels"),
    (lambda: M.bootstrap_ci([1.0]), "per_query_values"),
    (lambda: M.bootstrap_ci([1.0, 2.0], confidence=1.5), "confidence"),
    (lambda: M.bootstrap_ci([1.0, np.nan]), "per_query_values"),
    (lambda: M.paired_bootstrap([1.0, 2.0], [1.0, 2.0, 3.0]), "b: expected the same number"),
    (lambda: M.bootstrap_ci([1.0, 2.0, 3.0], groups=[0, 1]), "groups: expected one cluster id"),
    (lambda: M.bootstrap_ci([1.0, 2.0, 3.0], groups=[4, 4, 4]), "groups: expected at least 2"),
    (lambda: M.paired_bootstrap([1.0, 2.0], [1.0, 2.0], groups=[[0, 1]]), "groups"),
])
def test_bad_input_names_argument(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()


score_rel = st.integers(1, 5).flatmap(lambda n_q: st.integers(1, 12).flatmap(lambda n: st.tuples(
    arrays(np.float32, (n_q, n), elements=st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0])),
    arrays(np.float64, (n_q, n), elements=st.sampled_from([0.0, 0.0, 1.0, 2.0])))))


def _reference(scores, rel, k):
    """Straightforward per-query loops over the stable ranking (the documented definitions)."""
    out = {"hit": [], "recall": [], "prec": [], "ap": [], "rr": [], "ndcg": []}
    for s, r in zip(scores, rel):
        order = sorted(range(len(s)), key=lambda i: (-float(s[i]), i))
        ranked = r[order]
        rel_bin = ranked > 0
        n_rel = rel_bin.sum()
        kk = min(k, len(s))
        found = rel_bin[:kk].sum()
        out["hit"].append(float(found > 0))
        out["recall"].append(found / n_rel if n_rel else 0.0)
        out["prec"].append(found / kk)
        precs = [rel_bin[:i + 1].sum() / (i + 1) for i in range(len(s)) if rel_bin[i]]
        out["ap"].append(sum(precs) / n_rel if n_rel else 0.0)
        first = next((i for i in range(len(s)) if rel_bin[i]), None)
        out["rr"].append(1 / (first + 1) if first is not None else 0.0)
        dcg = sum(ranked[i] / math.log2(i + 2) for i in range(kk))
        ideal = sorted(r, reverse=True)
        idcg = sum(ideal[i] / math.log2(i + 2) for i in range(kk))
        out["ndcg"].append(dcg / idcg if idcg > 0 else 0.0)
    return {key: np.array(v) for key, v in out.items()}


@given(score_rel, st.integers(1, 12))
@settings(max_examples=150, deadline=None)
def test_metrics_match_loop_reference(sr, k):
    scores, rel = sr
    ref = _reference(scores, rel, k)
    np.testing.assert_allclose(M.hit_rate_at_k(scores, rel, k=k, per_query=True), ref["hit"])
    np.testing.assert_allclose(M.recall_at_k(scores, rel, k=k, per_query=True), ref["recall"])
    np.testing.assert_allclose(M.precision_at_k(scores, rel, k=k, per_query=True), ref["prec"])
    np.testing.assert_allclose(M.average_precision(scores, rel, per_query=True), ref["ap"])
    np.testing.assert_allclose(M.mean_reciprocal_rank(scores, rel, per_query=True), ref["rr"])
    np.testing.assert_allclose(M.ndcg_at_k(scores, rel, k=k, per_query=True), ref["ndcg"],
                               rtol=1e-9, atol=1e-12)


@given(score_rel, st.integers(1, 12))
@settings(max_examples=100, deadline=None)
def test_metric_properties(sr, k):
    scores, rel = sr
    res = M.evaluate_retrieval(scores, rel, ks=(k,), per_query=True)
    for key in (f"R@{k}", f"Recall@{k}", f"P@{k}", f"NDCG@{k}", "mAP", "MRR"):
        assert np.all((res[key] >= 0) & (res[key] <= 1 + 1e-12)), key
    assert np.all(res[f"R@{k}"] >= res[f"Recall@{k}"])
    assert np.all(res["medR"] >= 1) and np.all(res["medR"] <= scores.shape[1] + 1)
    # scoring by the relevance itself is an ideal ranking
    nonempty = rel.sum(1) > 0
    assert np.allclose(M.ndcg_at_k(rel, rel, k=k, per_query=True)[nonempty], 1.0)
    assert np.allclose(M.average_precision(rel, rel, per_query=True)[nonempty], 1.0)


def test_bootstrap_ci_is_seeded_and_matches_scipy():
    rng = np.random.default_rng(5)
    values = rng.random(400)
    mean, low, high = M.bootstrap_ci(values, n_boot=2000, seed=1)
    assert mean == pytest.approx(values.mean()) and low < mean < high
    assert M.bootstrap_ci(values, n_boot=2000, seed=1) == (mean, low, high)
    ref = stats.bootstrap((values,), np.mean, n_resamples=2000, method="percentile",
                          random_state=0).confidence_interval
    assert low == pytest.approx(ref.low, abs=0.006) and high == pytest.approx(ref.high, abs=0.006)


def test_paired_bootstrap_detects_a_real_difference_and_not_a_null_one():
    rng = np.random.default_rng(6)
    base = rng.random(300)
    same = M.paired_bootstrap(base, base.copy())
    assert same["diff"] == 0.0 and same["p_value"] == 1.0
    better = M.paired_bootstrap(base + 0.05 + 0.01 * rng.standard_normal(300), base)
    assert better["low"] > 0 and better["p_value"] < 0.01
    assert better["diff"] == pytest.approx(0.05, abs=0.01)


def test_bootstrap_ci_with_groups_resamples_whole_clusters():
    """Five identical values per cluster: the cluster bootstrap equals the bootstrap of the 120
    cluster values (about sqrt(5) wider than resampling the 600 values one by one)."""
    rng = np.random.default_rng(7)
    per_cluster = rng.random(120)
    values, groups = np.repeat(per_cluster, 5), np.repeat(np.arange(120), 5)
    mean, low, high = M.bootstrap_ci(values, n_boot=4000, seed=2, groups=groups)
    assert mean == pytest.approx(values.mean())
    _, rlow, rhigh = M.bootstrap_ci(per_cluster, n_boot=4000, seed=3)
    assert low == pytest.approx(rlow, abs=0.01) and high == pytest.approx(rhigh, abs=0.01)
    _, nlow, nhigh = M.bootstrap_ci(values, n_boot=4000, seed=2)
    assert (high - low) / (nhigh - nlow) == pytest.approx(np.sqrt(5), rel=0.15)
    # ids may be strings, in any order; the result only depends on the partition
    order = rng.permutation(len(values))
    names = np.array([f"image-{g}" for g in groups])
    shuffled = M.bootstrap_ci(values[order], n_boot=4000, seed=2, groups=names[order])
    assert shuffled[1] == pytest.approx(low, abs=0.01) and shuffled[2] == pytest.approx(high, abs=0.01)
    assert M.bootstrap_ci(values, n_boot=4000, seed=2, groups=groups) == (mean, low, high)


def test_bootstrap_ci_groups_weights_clusters_by_size_and_singletons_change_nothing():
    # clusters [1, 1, 1] and [0]: drawing one of each gives (1 + 1 + 1 + 0) / 4 = 0.75
    mean, low, high = M.bootstrap_ci([1.0, 1.0, 1.0, 0.0], n_boot=4000, confidence=0.4, seed=0,
                                     groups=[0, 0, 0, 1])
    assert (mean, low, high) == (0.75, 0.75, 0.75)
    values = np.random.default_rng(8).random(300)
    plain = M.bootstrap_ci(values, n_boot=2000, seed=4)
    single = M.bootstrap_ci(values, n_boot=2000, seed=4, groups=np.arange(300))
    assert single[0] == plain[0]
    assert single[1] == pytest.approx(plain[1], abs=0.006) and single[2] == pytest.approx(plain[2], abs=0.006)


def test_paired_bootstrap_with_groups_is_wider_for_clustered_differences():
    rng = np.random.default_rng(9)
    base = rng.random(600)
    shift = np.repeat(0.02 + 0.1 * rng.standard_normal(120), 5)   # the difference is per cluster
    groups = np.repeat(np.arange(120), 5)
    flat = M.paired_bootstrap(base + shift, base, n_boot=2000, seed=0)
    clustered = M.paired_bootstrap(base + shift, base, n_boot=2000, seed=0, groups=groups)
    assert clustered["diff"] == flat["diff"]
    assert (clustered["high"] - clustered["low"]) > 1.8 * (flat["high"] - flat["low"])
    assert clustered["p_value"] > flat["p_value"]
