"""Tests for mmcourse.similarity against scipy / scikit-learn and a brute-force top-k."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import cdist
from sklearn.metrics.pairwise import cosine_similarity as sk_cosine

from mmcourse.similarity import (cosine_similarity, dot_product, euclidean_distance,
                                 l2_normalize, top_k)


@pytest.fixture
def ab():
    rng = np.random.default_rng(0)
    return rng.standard_normal((7, 16)).astype(np.float32), rng.standard_normal((11, 16)).astype(np.float32)


def test_against_references(ab):
    a, b = ab
    for out in (cosine_similarity(a, b), dot_product(a, b), euclidean_distance(a, b)):
        assert out.dtype == np.float32 and out.shape == (7, 11)
    np.testing.assert_allclose(cosine_similarity(a, b), sk_cosine(a, b), atol=1e-6)
    np.testing.assert_allclose(dot_product(a, b), a.astype(np.float64) @ b.T, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(euclidean_distance(a, b), cdist(a, b), rtol=1e-6, atol=1e-6)


def test_euclidean_is_not_squared_and_zero_on_identical_rows(ab):
    a, _ = ab
    d = euclidean_distance(a, a)
    assert np.all(np.diag(d) < 1e-5) and np.all(d >= 0)
    assert euclidean_distance([[0.0, 0.0]], [[3.0, 4.0]])[0, 0] == pytest.approx(5.0)


def test_cosine_of_zero_vector_is_zero_and_normalize():
    assert cosine_similarity([[0.0, 0.0]], [[1.0, 2.0]])[0, 0] == 0.0
    n = l2_normalize([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(n, [[0.6, 0.8], [0.0, 0.0]])


def test_on_unit_vectors_metrics_agree(ab):
    """On L2-normalised rows, cosine == dot and squared distance == 2 - 2 cos: same ranking."""
    a, b = (l2_normalize(x) for x in ab)
    cos, d = cosine_similarity(a, b), euclidean_distance(a, b)
    np.testing.assert_allclose(cos, dot_product(a, b), atol=1e-6)
    np.testing.assert_allclose(d ** 2, 2 - 2 * cos, atol=1e-5)
    np.testing.assert_array_equal(top_k(cos, 5)[0], top_k(-d, 5)[0])


@pytest.mark.parametrize("fn", [cosine_similarity, dot_product, euclidean_distance])
def test_bad_input_names_argument(fn):
    with pytest.raises(ValueError, match="b: expected 3 columns"):
        fn(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="a: expected a 2-D"):
        fn(np.ones(3), np.ones((2, 3)))
    with pytest.raises(ValueError, match="b: expected finite"):
        fn(np.ones((2, 3)), np.full((2, 3), np.nan))
    with pytest.raises(ValueError, match="a: expected a non-empty"):
        fn(np.ones((0, 3)), np.ones((2, 3)))


def _reference_top_k(scores, k):
    order = np.argsort(-scores.astype(np.float64), axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1)


@pytest.mark.parametrize("backend", ["numpy", "faiss", "auto"])
def test_top_k_ties_by_index_even_across_the_boundary(backend):
    scores = np.array([[0.5, 0.9, 0.5, 0.9, 0.5, 0.1],
                       [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    idx, vals = top_k(scores, 3, backend=backend)
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(idx, [[1, 3, 0], [0, 1, 2]])
    np.testing.assert_array_equal(vals, np.float32([[0.9, 0.9, 0.5], [1, 1, 1]]))


def test_top_k_single_query_and_full_k():
    idx, vals = top_k(np.array([0.2, 0.7, 0.7]), 3)
    np.testing.assert_array_equal(idx, [1, 2, 0])
    np.testing.assert_array_equal(vals, [0.7, 0.7, 0.2])


def test_top_k_large_matrix_matches_reference_in_blocks():
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 20, size=(300, 20_000)).astype(np.float32)  # many ties, > 1 block
    ref = _reference_top_k(scores, 25)
    for backend in ("numpy", "faiss"):
        idx, vals = top_k(scores, 25, backend=backend)
        np.testing.assert_array_equal(idx, ref[0])
        np.testing.assert_array_equal(vals, ref[1])


@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 40)),
              elements=st.sampled_from([-1.0, 0.0, 0.25, 0.5, 2.0, -0.0])),
       st.integers(1, 40), st.sampled_from(["numpy", "faiss"]))
@settings(max_examples=150, deadline=None)
def test_top_k_property_matches_stable_sort(scores, k, backend):
    k = min(k, scores.shape[1])
    idx, vals = top_k(scores, k, backend=backend)
    ref_idx, ref_vals = _reference_top_k(scores, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(vals, ref_vals)


@given(arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)),
              elements=st.floats(-100, 100, width=32)),
       arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)),
              elements=st.floats(-100, 100, width=32)))
@settings(max_examples=100, deadline=None)
def test_distance_properties(a, b):
    d = min(a.shape[1], b.shape[1])
    a, b = a[:, :d], b[:, :d]
    dist = euclidean_distance(a, b)
    assert np.all(dist >= 0)
    np.testing.assert_allclose(dist, cdist(a, b), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(euclidean_distance(b, a), dist.T, rtol=1e-5, atol=1e-3)
    cos = cosine_similarity(a, b)
    assert np.all(np.abs(cos) <= 1.0)


@pytest.mark.parametrize("scores, k, kw, arg", [
    (np.ones((2, 3)), 4, {}, "k: expected an integer <= n_items"),
    (np.ones((2, 3)), 0, {}, "k: expected an integer >= 1"),
    (np.ones((2, 3)), 1.5, {}, "k: expected an integer"),
    (np.ones((2, 3, 1)), 1, {}, "scores: expected a 2-D"),
    (np.array([[np.nan, 1.0]]), 1, {}, "scores: expected finite"),
    (np.ones((2, 3)), 1, {"backend": "gpu"}, "backend"),
    (np.ones((2, 3)), 1, {"backend": "faiss"}, "backend: 'faiss' needs float32"),
])
def test_top_k_bad_input(scores, k, kw, arg):
    with pytest.raises(ValueError, match=arg):
        top_k(scores, k, **kw)
