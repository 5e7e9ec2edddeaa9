"""mmcourse.fusion: hand-computed cases, properties and bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from mmcourse.fusion import attention_fusion, early_fusion, impute_missing, late_fusion, weighted_sum
from mmcourse.grading.checks.nb03 import attention_fusion_reference
from mmcourse.similarity import cosine_similarity

finite = st.floats(-10, 10, allow_nan=False, width=32)


def test_early_fusion_hand_computed():
    a = np.array([[3.0, 4.0], [0.0, 2.0]])
    b = np.array([[1.0], [-5.0]])
    fused = early_fusion(a, b, weights=[3, 1])
    expected = np.array([[np.sqrt(0.75) * 0.6, np.sqrt(0.75) * 0.8, 0.5],
                         [0.0, np.sqrt(0.75), -0.5]])
    assert fused.dtype == np.float32 and fused.shape == (2, 3)
    np.testing.assert_allclose(fused, expected, atol=1e-6)
    np.testing.assert_allclose(early_fusion([a, b]), early_fusion(a, b))  # a list works too


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.lists(st.floats(0.1, 5), min_size=2, max_size=2))
def test_early_fusion_dot_is_weighted_sum_of_cosines(seed, w):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(5, 3)), rng.normal(size=(5, 4))
    fused = early_fusion(a, b, weights=w).astype(np.float64)
    wn = np.asarray(w) / sum(w)
    expected = wn[0] * cosine_similarity(a, a) + wn[1] * cosine_similarity(b, b)
    np.testing.assert_allclose(fused @ fused.T, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(fused, axis=1), 1.0, atol=1e-5)


def test_late_fusion_hand_computed():
    s1 = np.array([[1.0, 2.0, 3.0]])
    s2 = np.array([[3.0, 0.0, 0.0]])
    np.testing.assert_allclose(late_fusion(s1, s2), [[2.0, 1.0, 1.5]])
    np.testing.assert_allclose(late_fusion(s1, s2, weights=(0.75, 0.25)), [[1.5, 1.5, 2.25]])
    np.testing.assert_allclose(late_fusion(s1, s2, normalize="minmax"), [[0.5, 0.25, 0.5]])
    z1 = (s1 - 2.0) / np.sqrt(2 / 3)
    z2 = (s2 - 1.0) / np.sqrt(2.0)
    np.testing.assert_allclose(late_fusion(s1, s2, normalize="zscore"), (z1 + z2) / 2, rtol=1e-6)


def test_late_fusion_masks_reweight_missing_modalities():
    s_img = np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]])
    s_txt = np.array([[5.0, 7.0, 9.0], [1.0, 1.0, 1.0]])
    has_txt = np.array([True, False, True])  # item 1 has no caption
    fused = late_fusion(s_img, s_txt, weights=(0.25, 0.75), masks=[None, has_txt])
    np.testing.assert_allclose(fused, [[4.0, 2.0, 7.5], [0.75, 1.0, 0.75]])
    full_mask = np.broadcast_to(has_txt, s_img.shape).copy()
    np.testing.assert_allclose(late_fusion(s_img, s_txt, weights=(0.25, 0.75),
                                           masks=[None, full_mask]), fused)
    # normalisation statistics use present entries only: item 1's text score is ignored
    s_txt_bad = s_txt.copy()
    s_txt_bad[:, 1] = 1e6
    np.testing.assert_allclose(late_fusion(s_img, s_txt_bad, masks=[None, has_txt], normalize="minmax"),
                               late_fusion(s_img, s_txt, masks=[None, has_txt], normalize="minmax"))


@settings(max_examples=40, deadline=None)
@given(arrays(np.float64, (3, 6), elements=finite), arrays(np.float64, (3, 6), elements=finite),
       st.floats(0.0, 1.0))
def test_late_fusion_properties(s1, s2, w):
    both = late_fusion(s1, s2, weights=(w + 1e-3, 1 - w + 1e-3))
    lo, hi = np.minimum(s1, s2), np.maximum(s1, s2)
    assert (both >= lo - 1e-4).all() and (both <= hi + 1e-4).all()  # a convex combination
    np.testing.assert_allclose(late_fusion(s1, s1), s1, rtol=1e-5, atol=1e-5)
    mm = late_fusion(s1, s2, normalize="minmax")
    assert (mm >= -1e-6).all() and (mm <= 1 + 1e-6).all()
    # normalised fusion ignores per-row shifts and positive scalings of one modality
    np.testing.assert_allclose(late_fusion(s1 * 3 + 7, s2, normalize="zscore"),
                               late_fusion(s1, s2, normalize="zscore"), atol=1e-3)


def test_weighted_sum_hand_computed_and_both_call_styles():
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])
    np.testing.assert_allclose(weighted_sum(a, b, weights=[1, 3]), [[0.25, 1.5]])
    np.testing.assert_allclose(weighted_sum([a, b], weights=[1, 3]), [[0.25, 1.5]])
    np.testing.assert_allclose(weighted_sum(a, b), [[0.5, 1.0]])
    assert weighted_sum(a, b).dtype == np.float32


def test_attention_fusion_matches_the_notebook_reference():
    rng = np.random.default_rng(3)
    feats = [rng.normal(size=(6, 4)) for _ in range(3)]
    q = rng.normal(size=4)
    fused, alpha = attention_fusion(feats, q, return_weights=True)
    np.testing.assert_allclose(fused, attention_fusion_reference(feats, q), atol=1e-6)
    assert alpha.shape == (6, 3)
    np.testing.assert_allclose(alpha.sum(axis=1), 1.0, atol=1e-6)
    # hand case: query along modality 0 with temperature -> 0 picks that modality
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    np.testing.assert_allclose(attention_fusion([a, b], [1.0, 0.0], temperature=1e-3), a, atol=1e-6)
    w = np.exp(1 / np.sqrt(2)) / (np.exp(1 / np.sqrt(2)) + 1)
    np.testing.assert_allclose(attention_fusion([a, b], [1.0, 0.0]), [[w, 1 - w]], atol=1e-6)


def test_impute_missing_hand_computed():
    x = np.array([[1.0, 2.0], [9.0, 9.0], [3.0, 6.0]])
    present = np.array([True, False, True])
    np.testing.assert_allclose(impute_missing(x, present), [[1, 2], [2, 4], [3, 6]])
    np.testing.assert_allclose(impute_missing(x, present, strategy="zero"), [[1, 2], [0, 0], [3, 6]])
    np.testing.assert_allclose(impute_missing(x, np.zeros(3, bool)), np.zeros((3, 2)))
    assert x[1, 0] == 9.0  # input untouched


@pytest.mark.parametrize("call, match", [
    (lambda: early_fusion(), "features"),
    (lambda: early_fusion(np.ones((2, 2)), np.ones((3, 2))), r"features\[1\]"),
    (lambda: early_fusion(np.ones((2, 2)), np.ones((2, 2)), weights=[1]), "weights"),
    (lambda: early_fusion(np.ones((2, 2)), np.ones((2, 2)), weights=[1, -1]), "weights"),
    (lambda: early_fusion(np.ones(2)), r"features\[0\]"),
    (lambda: late_fusion(np.ones((2, 3)), np.ones((2, 4))), r"score_matrices\[1\]"),
    (lambda: late_fusion(np.ones((2, 3)), np.full((2, 3), np.nan)), r"score_matrices\[1\]"),
    (lambda: late_fusion(np.ones((2, 3)), np.ones((2, 3)), normalize="rank"), "normalize"),
    (lambda: late_fusion(np.ones((2, 3)), np.ones((2, 3)), masks=[None]), "masks"),
    (lambda: late_fusion(np.ones((2, 3)), np.ones((2, 3)), masks=[None, np.ones(3)]), r"masks\[1\]"),
    (lambda: late_fusion(np.ones((2, 3)), np.ones((2, 3)), masks=[np.zeros(3, bool)] * 2), "masks"),
    (lambda: weighted_sum(np.ones((2, 2))), "embeddings"),
    (lambda: weighted_sum(np.ones((2, 2)), np.ones((2, 3))), r"embeddings\[1\]"),
    (lambda: attention_fusion([np.ones((2, 2))], [1.0, 2.0, 3.0]), "query"),
    (lambda: attention_fusion([np.ones((2, 2))], [1.0, 2.0], temperature=0), "temperature"),
    (lambda: attention_fusion(np.ones((2, 2)), [1.0, 2.0]), "features"),
    (lambda: impute_missing(np.ones((3, 2)), np.ones(3)), "mask"),
    (lambda: impute_missing(np.ones((3, 2)), np.ones(2, bool)), "mask"),
    (lambda: impute_missing(np.ones((3, 2)), np.ones(3, bool), strategy="median"), "strategy"),
    (lambda: impute_missing(np.ones(3), np.ones(3, bool)), "features"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
