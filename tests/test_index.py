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


# ------------------------------------------------------------------ compressed methods and re-ranking
def _recall(a, e):
    return np.mean([len(set(x) & set(y)) / len(y) for x, y in zip(a, e)])


@pytest.fixture(scope="module")
def embedded():
    """3,000 x 32 unit vectors with low intrinsic dimension (like embeddings), 60 queries."""
    rng = np.random.default_rng(11)
    basis = rng.normal(size=(8, 32))
    x = rng.normal(size=(3_000, 8)) @ basis + 0.3 * rng.normal(size=(3_000, 32))
    q = rng.normal(size=(60, 8)) @ basis + 0.3 * rng.normal(size=(60, 32))
    return x.astype(np.float32), q.astype(np.float32)


_COMPRESSED = [("pq", {"m": 8}), ("sq8", {}), ("ivfpq", {"m": 8, "nlist": 16, "nprobe": 16})]


@pytest.mark.parametrize("metric, method, params",
                         [(metric, method, params) for metric in ("cosine", "ip", "l2")
                          for method, params in _COMPRESSED] + [("cosine", "opq", {"m": 8})])
def test_compressed_methods_rerank_to_near_exact(embedded, metric, method, params):
    """With a shortlist of 20 x k re-scored exactly, every compressed index comes close to flat."""
    x, q = embedded
    exact_s, exact = build_index(x, metric).search(q, 10)
    index = build_index(x, metric, method, refine=20, **params)
    scores, ids = index.search(q, 10)
    assert ids.shape == (60, 10) and ids.dtype == np.int64 and scores.dtype == np.float32
    assert _recall(ids, exact) >= 0.95
    assert (np.diff(scores, axis=1) <= 0).all()                       # higher is better, best first
    found = ids == exact
    np.testing.assert_allclose(scores[found], exact_s[found], rtol=1e-5, atol=1e-5)   # exact re-scoring


def test_compressed_scores_are_higher_is_better_for_every_metric(embedded):
    x, q = embedded
    for metric in ("cosine", "ip", "l2"):
        scores, ids = build_index(x, metric, "ivfpq", m=8, nlist=8, nprobe=8).search(q, 5)
        assert (np.diff(scores, axis=1) <= 1e-6).all(), metric
        if metric == "l2":
            assert (scores <= 0).all()


def test_refine_matches_faiss_index_refine_flat(embedded):
    """Independent reference: faiss' IndexRefineFlat over the same trained base index."""
    import faiss

    x, q = embedded
    ours = build_index(x, "l2", "pq", m=8, refine=5)
    base = faiss.clone_index(ours.faiss_index)
    base.reset()
    ref = faiss.IndexRefineFlat(base)
    ref.add(x)
    ref.k_factor = 5
    dist, ref_ids = ref.search(q, 10)
    _, ids = ours.search(q, 10)
    assert _recall(ids, ref_ids) >= 0.99
    np.testing.assert_allclose(-ours.search(q, 10)[0], np.sqrt(np.maximum(dist, 0)), rtol=1e-4, atol=1e-4)


def test_compression_memory_is_measured(embedded, tmp_path):
    x, _ = embedded
    flat = build_index(x, method="flat").memory()
    assert flat["per_vector"] == pytest.approx(4 * 32, rel=0.01)
    pq = build_index(x, method="pq", m=8).memory()
    assert pq["per_vector"] == pytest.approx(8, rel=0.01) and pq["fixed"] > 0
    ivfpq = build_index(x, method="ivfpq", m=8, nlist=16).memory()
    assert ivfpq["per_vector"] == pytest.approx(8 + 8, rel=0.05)        # code + int64 id
    in_ram = build_index(x, method="ivfpq", m=8, nlist=16, refine=4).memory()
    on_disk = build_index(x, method="ivfpq", m=8, nlist=16, refine=4,
                          refine_path=tmp_path / "f.npy").memory()
    assert in_ram["refine_ram"] == x.nbytes and in_ram["per_vector"] > 4 * 32
    assert on_disk["refine_ram"] == 0 and on_disk["refine_disk"] == x.nbytes
    assert on_disk["per_vector"] == pytest.approx(ivfpq["per_vector"])


@pytest.mark.parametrize("method, params", [("pq", {"m": 4}), ("opq", {"m": 4}), ("sq8", {}),
                                            ("ivfpq", {"m": 4, "nlist": 8, "nprobe": 3}),
                                            ("ivfpq", {"m": 4, "nlist": 8, "refine": 3}),
                                            ("pq", {"m": 4, "refine": 2, "refine_path": "floats.npy"})])
def test_save_load_round_trip_compressed(tmp_path, data, method, params):
    x, q = data
    if "refine_path" in params:
        params = {**params, "refine_path": tmp_path / params["refine_path"]}
    index = build_index(x, "cosine", method, **params)
    again = load_index(index.save(tmp_path / f"{method}.faiss"))
    assert again.params == index.params and again.method == method
    for a, b in zip(index.search(q, 7), again.search(q, 7)):
        np.testing.assert_array_equal(a, b)


def test_refine_and_nprobe_are_search_time_parameters(embedded):
    x, q = embedded
    index = build_index(x, method="ivfpq", m=8, nlist=16, refine=1)
    low = _recall(index.search(q, 10)[1], build_index(x).search(q, 10)[1])
    index.set_search_params(refine=20, nprobe=16)
    assert index.params["refine"] == 20 and index.faiss_index.nprobe == 16
    assert _recall(index.search(q, 10)[1], build_index(x).search(q, 10)[1]) > low


def test_flat_ties_at_the_kth_place_go_to_the_lower_id():
    """Integer vectors: exact ties everywhere; the k-th place too follows the tie policy."""
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=(2_000, 8)).astype(np.float32)
    q = rng.integers(-2, 3, size=(40, 8)).astype(np.float32)
    for metric, ref in (("ip", q @ x.T), ("l2", -euclidean_distance(q, x))):
        scores, ids = build_index(x, metric).search(q, 10)
        ref_ids, ref_scores = top_k(ref, 10)
        np.testing.assert_array_equal(ids, ref_ids)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call, match", [
    (lambda x: build_index(x, method="pq", m=5), "m: expected a divisor of the dimension d=16"),
    (lambda x: build_index(x, method="pq", m=0), "m"),
    (lambda x: build_index(x, method="pq", nbits=0), "nbits"),
    (lambda x: build_index(x, method="pq", nbits=17), "nbits"),
    (lambda x: build_index(x, method="pq", nbits=10), "vectors: expected at least 1024"),
    (lambda x: build_index(x, method="ivfpq", nlist=0), "nlist"),
    (lambda x: build_index(x, method="ivfpq", nlist=10_000), "nlist"),
    (lambda x: build_index(x, method="ivfpq", nprobe=0), "nprobe"),
    (lambda x: build_index(x, method="ivfpq", m=4, nlist=8).set_search_params(nprobe=0), "nprobe"),
    (lambda x: build_index(x, method="sq8", m=4), "params"),
    (lambda x: build_index(x, method="pq", refine="yes"), "refine"),
    (lambda x: build_index(x, method="pq", refine=0.5), "refine"),
    (lambda x: build_index(x, method="pq", refine_path="f.npy"), "refine_path"),
    (lambda x: build_index(x, method="pq", refine=2, refine_path="/no/such/dir/f.npy"), "refine_path"),
    (lambda x: build_index(x, method="pq", refine=2, refine_path="f.txt"), "refine_path"),
    (lambda x: build_index(x, method="pq", train_size=0), "train_size"),
    (lambda x: build_index(x, method="pq", m=4).set_search_params(refine=2), "refine"),
])
def test_compressed_bad_inputs_name_the_argument(data, call, match):
    with pytest.raises(ValueError, match=match):
        call(data[0])


def test_train_size_trains_on_a_sample(embedded):
    x, q = embedded
    index = build_index(x, method="ivfpq", m=8, nlist=16, nprobe=16, train_size=1_000, refine=20)
    assert index.params["train_size"] == 1_000 and index.ntotal == len(x)
    assert _recall(index.search(q, 10)[1], build_index(x).search(q, 10)[1]) >= 0.9
