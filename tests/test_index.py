"""mmcourse.index: faiss-backed float and binary indexes against brute-force references."""
from __future__ import annotations

import numpy as np
import pytest

from mmcourse.hashing import hamming_distance
from mmcourse.index import build_binary_index, build_index, load_index
from mmcourse.similarity import cosine_similarity, dot_product, euclidean_distance, top_k


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(500, 16)).astype(np.float32), rng.normal(size=(7, 16)).astype(np.float32)


@pytest.mark.parametrize("metric, ref", [("cosine", cosine_similarity), ("ip", dot_product),
                                         ("l2", lambda q, x: -euclidean_distance(q, x))])
def test_flat_matches_brute_force(data, metric, ref):
    x, q = data
    scores, ids = build_index(x, metric=metric).search(q, 10)
    ref_ids, ref_scores = top_k(ref(q, x), 10)
    assert ids.shape == (7, 10) and ids.dtype == np.int64
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method, param, value", [("hnsw", "efSearch", 200), ("ivf", "nprobe", 64)])
def test_approximate_indexes_reach_exact_results_at_high_settings(data, method, param, value):
    x, q = data
    exact = build_index(x).search(q, 5)[1]
    index = build_index(x, method=method, **({"nlist": 16} if method == "ivf" else {}))
    index.set_search_params(**{param: value})
    assert index.params[param] == value
    assert np.mean([len(set(a) & set(b)) / 5 for a, b in zip(index.search(q, 5)[1], exact)]) > 0.95


def test_save_load_round_trip(tmp_path, data):
    x, q = data
    index = build_index(x, method="hnsw", M=8)
    index.save(tmp_path / "a.index")
    again = load_index(tmp_path / "a.index")
    assert again.metric == "cosine" and again.method == "hnsw" and again.ntotal == 500
    np.testing.assert_array_equal(index.search(q, 5)[1], again.search(q, 5)[1])


def test_padding_and_ties():
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    scores, ids = build_index(x).search(x[:1], 5)
    assert ids[0].tolist() == [0, 1, 2, -1, -1]           # tie (0, 1) by lower id, -1 padding
    assert np.isneginf(scores[0, 3:]).all()


def test_binary_index_matches_hamming(tmp_path):
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 256, size=(300, 8), dtype=np.uint8)
    index = build_binary_index(codes)
    dist, ids = index.search(codes[:4], 6)
    ref_ids, ref_neg = top_k(-hamming_distance(codes[:4], codes).astype(np.float32), 6)
    np.testing.assert_array_equal(ids, ref_ids)
    np.testing.assert_array_equal(dist, -ref_neg)
    index.save(tmp_path / "b.index")
    np.testing.assert_array_equal(load_index(tmp_path / "b.index").search(codes[:4], 6)[1], ids)


@pytest.mark.parametrize("call, match", [
    (lambda x: build_index(x, metric="hamming"), "metric"),
    (lambda x: build_index(x, method="lsh"), "method"),
    (lambda x: build_index(x, method="flat", nprobe=3), "params"),
    (lambda x: build_index(x).search(x[:, :3], 2), "queries"),
    (lambda x: build_index(x).search(x, 0), "k"),
    (lambda x: build_index(np.full((3, 2), np.nan)), "vectors"),
    (lambda x: build_index(x).set_search_params(efSearch=4), "efSearch"),
    (lambda x: build_binary_index(x), "codes_packed"),
])
def test_bad_input_names_the_argument(data, call, match):
    with pytest.raises(ValueError, match=match):
        call(data[0])


def test_load_missing_file(tmp_path):
    with pytest.raises(ValueError, match="path"):
        load_index(tmp_path / "nope.index")


@pytest.fixture(scope="module")
def clustered():
    """5,000 x 32 vectors around 50 centres, and 100 queries from the same distribution."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(50, 32))
    x = centres[rng.integers(0, 50, 5_000)] + 0.3 * rng.normal(size=(5_000, 32))
    q = centres[rng.integers(0, 50, 100)] + 0.3 * rng.normal(size=(100, 32))
    return x.astype(np.float32), q.astype(np.float32)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("method, build, search", [
    ("hnsw", {"M": 16}, {"efSearch": 128}),
    ("ivf", {"nlist": 64}, {"nprobe": 16}),
])
def test_approximate_recall_at_10_vs_flat(clustered, metric, method, build, search):
    """Stated floor: recall@10 >= 0.9 against the exact flat index with generous settings."""
    x, q = clustered
    exact = build_index(x, metric, "flat").search(q, 10)[1]
    approx = build_index(x, metric, method, **build, **search).search(q, 10)[1]
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx, exact)])
    assert recall >= 0.9, f"{method}/{metric} recall@10 = {recall:.3f}"


def test_l2_scores_are_negated_euclidean_distances(data):
    x, q = data
    scores, ids = build_index(x, "l2").search(q, 3)
    np.testing.assert_allclose(-scores, euclidean_distance(q, x)[np.arange(7)[:, None], ids],
                               rtol=1e-4, atol=1e-4)
    assert (np.diff(scores, axis=1) <= 0).all()  # higher is better, best first


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("method, params", [("flat", {}), ("hnsw", {"M": 8, "efSearch": 33}),
                                            ("ivf", {"nlist": 8, "nprobe": 3})])
def test_save_load_round_trip_every_method(tmp_path, data, metric, method, params):
    x, q = data
    index = build_index(x, metric, method, **params)
    path = index.save(tmp_path / f"{metric}-{method}.faiss")
    again = load_index(path)
    assert (again.metric, again.method, again.ntotal, again.dim) == (metric, method, 500, 16)
    assert again.params == index.params
    for a, b in zip(index.search(q, 7), again.search(q, 7)):
        np.testing.assert_array_equal(a, b)


def test_set_params_alias_and_search_params_after_load(tmp_path, data):
    x, q = data
    index = build_index(x, method="ivf", nlist=8).set_params(nprobe=8)
    assert index.faiss_index.nprobe == 8
    again = load_index(index.save(tmp_path / "ivf.faiss"))
    assert again.faiss_index.nprobe == 8 and again.params["nprobe"] == 8


def test_k_larger_than_ntotal_is_padded(data):
    x, q = data
    scores, ids = build_index(x[:4], "l2").search(q, 6)
    assert (ids[:, 4:] == -1).all() and np.isneginf(scores[:, 4:]).all()
    assert sorted(ids[0, :4]) == [0, 1, 2, 3]
    dist, bids = build_binary_index(np.arange(6, dtype=np.uint8).reshape(3, 2)).search(
        np.zeros((1, 2), np.uint8), 5)
    assert bids[0].tolist() == [0, 1, 2, -1, -1]


def test_binary_index_against_hamming_distance_with_ties(tmp_path):
    """16-bit codes: many equal distances, so the tie policy (lower id first) is exercised."""
    rng = np.random.default_rng(2)
    codes = rng.integers(0, 256, size=(2_000, 2), dtype=np.uint8)
    queries = rng.integers(0, 256, size=(20, 2), dtype=np.uint8)
    dist, ids = build_binary_index(codes).search(queries, 10)
    ham = hamming_distance(queries, codes)
    assert dist.dtype == np.int32 and ids.dtype == np.int64
    np.testing.assert_array_equal(dist, np.take_along_axis(ham, ids, 1))
    np.testing.assert_array_equal(dist, np.sort(ham, axis=1)[:, :10])
    ref_ids, _ = top_k(-ham.astype(np.float32), 10)  # exact tie policy, boundary included
    np.testing.assert_array_equal(ids, ref_ids)


@pytest.mark.parametrize("call, match", [
    (lambda x: build_index(x.astype(np.complex64)), "vectors"),
    (lambda x: build_index(x[0]), "vectors"),
    (lambda x: build_index(x, method="ivf", nlist=10_000), "nlist"),
    (lambda x: build_index(x, method="hnsw", M=1), "M"),
    (lambda x: build_index(x, method="hnsw", efSearch=0), "efSearch"),
    (lambda x: build_index(x, method="ivf").set_params(efSearch=3), "efSearch"),
    (lambda x: build_index(x).search(x[0], 2), "queries"),
    (lambda x: build_index(x).search(x, 2.5), "k"),
    (lambda x: build_binary_index(np.zeros((4, 2), np.uint8)).search(np.zeros((1, 3), np.uint8), 1),
     "codes"),
    (lambda x: build_binary_index(np.zeros(4, np.uint8)), "codes_packed"),
])
def test_more_bad_inputs_name_the_argument(data, call, match):
    with pytest.raises(ValueError, match=match):
        call(data[0])
