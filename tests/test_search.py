"""Tests for mmcourse.search: pure query → ranked results, without a browser.

References: scikit-learn's average_precision_score / ndcg_score for the per-query metrics,
mmcourse.similarity for the scores, the dataset's own relevance for the marks, and tiny
hand-computed cases (Hamming, ties, composition).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, ndcg_score

from mmcourse import search as S
from mmcourse.data import make_shapes, parse_caption, relevance_matrix
from mmcourse.data.dataset import CaptionDataset
from mmcourse.hashing import pack_bits
from mmcourse.similarity import cosine_similarity, euclidean_distance


@pytest.fixture(scope="module")
def ds():
    return make_shapes(60, seed=0, cache=False)


@pytest.fixture(scope="module")
def oracle(ds):
    """A perfect engine: images are one-hot, a text's vector is its relevance to every image."""

    def encode(texts):
        out = np.zeros((len(texts), ds.n_images), dtype=np.float32)
        for i, text in enumerate(texts):
            meaning = parse_caption(text)
            if meaning is not None:  # text outside the grammar maps to the zero vector
                out[i] = relevance_matrix([meaning], ds.scenes)[0]
        return out

    return np.eye(ds.n_images, dtype=np.float32), encode


@pytest.fixture
def tiny():
    """4 unlabelled images, 8 captions (2 per image), no structure."""
    rng = np.random.default_rng(0)
    caps = ["red dog", "a red dog", "blue cat", "a blue cat", "green bird", "a green bird",
            "red cat", "a red cat"]
    return CaptionDataset(images=rng.integers(0, 255, (4, 8, 8, 3), dtype=np.uint8), captions=caps,
                          caption_image=np.repeat(np.arange(4), 2),
                          split=np.array(["train", "train", "test", "test"]))


# ------------------------------------------------------------------ query text and encoders
def test_check_query_text_empty_unknown_and_partial():
    vocab = {"red", "circle", "a"}
    for bad in ("", "   ", "!!"):
        with pytest.raises(S.QueryError, match="Type a query"):
            S.check_query_text(bad, vocab)
    with pytest.raises(S.QueryError, match="unknown: zebra"):
        S.check_query_text("zebra", vocab)
    with pytest.raises(S.QueryError, match="must be text"):
        S.check_query_text(3, vocab)
    clean, unknown = S.check_query_text("  a  red zebra ", vocab)
    assert clean == "a red zebra" and unknown == ["zebra"]
    assert S.check_query_text("zebra", None) == ("zebra", [])  # no vocabulary: no check


def test_check_query_text_accepts_a_vocabulary_object():
    from mmcourse.text import Vocabulary

    vocab = Vocabulary.build(["red circle"])
    assert S.check_query_text("red thing", vocab)[1] == ["thing"]
    with pytest.raises(S.QueryError):
        S.check_query_text("<pad>", vocab)  # reserved tokens are not words
    with pytest.raises(ValueError, match="vocabulary"):
        S.check_query_text("red", vocabulary=42)


@pytest.mark.parametrize("encoder, match", [
    (None, "No text encoder"),
    (lambda t: 1 / 0, "raised ZeroDivisionError"),
    (lambda t: np.full((len(t), 3), np.nan), "NaN"),
    (lambda t: np.ones((len(t), 5)), "5-dimensional"),
    (lambda t: np.ones((len(t) + 1, 3)), "one row per text"),
    (lambda t: "not an array", "expected an \\(n, d\\) array|shape"),
])
def test_encode_texts_failures_become_query_errors(encoder, match):
    with pytest.raises(S.QueryError, match=match):
        S.encode_texts(encoder, ["red"], dim=3)


def test_encode_texts_converts_tensor_like_outputs():
    class FakeTensor:
        def __init__(self, a):
            self.a = a

        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return self.a

    out = S.encode_texts(lambda t: FakeTensor(np.ones((len(t), 3))), ["a", "b"], dim=3)
    assert out.dtype == np.float32 and out.shape == (2, 3)
    assert S.encode_texts(lambda t: np.ones(3), ["a"]).shape == (1, 3)  # 1-D for one text


# ------------------------------------------------------------------ scoring and ranking
def test_score_items_matches_similarity_module():
    rng = np.random.default_rng(1)
    q, items = rng.standard_normal(5).astype(np.float32), rng.standard_normal((9, 5)).astype(np.float32)
    np.testing.assert_allclose(S.score_items(q, items, "cosine"), cosine_similarity(q[None], items)[0])
    np.testing.assert_allclose(S.score_items(q, items, "euclidean"), -euclidean_distance(q[None], items)[0])
    np.testing.assert_allclose(S.score_items(q, items, "dot"), items @ q, rtol=1e-5)
    with pytest.raises(ValueError, match="metric"):
        S.score_items(q, items, "manhattan")
    with pytest.raises(ValueError, match="query"):
        S.score_items(np.ones(4), items, "cosine")


def test_hamming_scores_hand_computed():
    codes = np.array([[0] * 8, [1] + [0] * 7, [1] * 8, [1, 1, 0, 0, 0, 0, 0, 0]], dtype=np.uint8)
    packed = S.as_packed_codes(pack_bits(codes))
    assert packed.shape == (4, 1)
    np.testing.assert_array_equal(S.score_items(packed[0], packed, "hamming"), [0, -1, -8, -2])
    np.testing.assert_array_equal(pack_bits(codes.astype(np.int8) * 2 - 1), packed)  # {-1, +1} too


def test_as_packed_codes_accepts_packed_uint8_only():
    packed = np.array([[0, 1], [1, 1], [0, 0]], dtype=np.uint8)  # bytes that happen to be 0/1
    out = S.as_packed_codes(packed)
    assert out is packed and out.shape == (3, 2)  # never re-packed into 1/8 of its width
    for bad, what in [(np.zeros((2, 8), dtype=np.int64), "int64"),
                      (np.full((2, 8), 0.5), "float64"),
                      (np.zeros(8, dtype=np.uint8), r"shape \(8,\)"),
                      ([[0, 1], [1, 0]], "int64"),
                      (np.zeros((2, 8), dtype=bool), "bool")]:
        with pytest.raises(ValueError, match=f"image_codes: expected packed uint8.*pack_bits.*{what}"):
            S.as_packed_codes(bad, "image_codes")
    with pytest.raises(ValueError, match="image_codes"):
        S.search_image_to_image(0, np.zeros((60, 2)), None, metric="hamming",
                                image_codes=np.zeros((60, 16), dtype=np.int64))


def test_unpacked_query_codes_get_a_hint(tiny):
    codes = pack_bits(np.array([[0] * 7 + [1]] * 4 + [[1] * 8] * 4))
    unpacked = lambda texts: np.ones((len(texts), 8), dtype=np.uint8)  # noqa: E731 - bits, not bytes
    res = S.search_text_to_text("cat", None, None, tiny, metric="hamming", caption_codes=codes,
                                text_codes_fn=unpacked)
    assert not res.ok and "64-bit codes" in res.message and "pack_bits" in res.message


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 12), st.integers(0, 2**31 - 1))
def test_hamming_scores_count_differing_bits(n_bytes, n_items, seed):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2, (n_items, 8 * n_bytes))
    packed = S.as_packed_codes(pack_bits(codes))
    q = int(rng.integers(n_items))
    np.testing.assert_array_equal(S.score_items(packed[q], packed, "hamming"),
                                  -(codes != codes[q]).sum(axis=1))


def test_rank_ties_by_index_and_exclude():
    ids, vals, mets = S.rank(np.array([0.5, 0.9, 0.5, 0.9, 0.1]), k=4)
    np.testing.assert_array_equal(ids, [1, 3, 0, 2])
    np.testing.assert_allclose(vals, [0.9, 0.9, 0.5, 0.5])
    assert mets == {}
    ids, _, _ = S.rank(np.array([0.5, 0.9, 0.5, 0.9]), k=10, exclude=1)
    np.testing.assert_array_equal(ids, [3, 0, 2])  # k clipped, the query left out


def test_rank_metrics_match_scikit_learn():
    rng = np.random.default_rng(2)
    scores = rng.standard_normal(40).astype(np.float32)  # tie-free
    graded = np.where(rng.random(40) < 0.3, rng.integers(1, 4, 40), 0).astype(np.float32)
    ids, _, mets = S.rank(scores, k=10, relevance=graded)
    assert mets["AP"] == pytest.approx(average_precision_score(graded > 0, scores), abs=1e-6)
    assert mets["NDCG@10"] == pytest.approx(ndcg_score(graded[None], scores[None], k=10), abs=1e-6)
    assert mets["hits"] == int((graded[ids] > 0).sum())
    assert mets["n_relevant"] == int((graded > 0).sum())


def test_rank_without_any_relevant_item_reports_zero():
    _, _, mets = S.rank(np.arange(5.0), k=3, relevance=np.zeros(5))
    assert mets["AP"] == 0.0 and mets["n_relevant"] == 0 and mets["hits"] == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3), min_size=1, max_size=30), st.integers(1, 40), st.data())
def test_rank_is_a_stable_descending_sort(values, k, data):
    scores = np.asarray(values, dtype=np.float32)
    rel = np.asarray(data.draw(st.lists(st.integers(0, 2), min_size=len(values),
                                        max_size=len(values))), dtype=np.float32)
    ids, vals, mets = S.rank(scores, k, relevance=rel)
    expected = np.argsort(-scores, kind="stable")[:k]
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_array_equal(vals, scores[expected])
    assert 0.0 <= mets["AP"] <= 1.0 and 0.0 <= mets[f"NDCG@{len(ids)}"] <= 1.0 + 1e-9


# ------------------------------------------------------------------ the four searches
def test_text_to_image_with_a_perfect_engine(ds, oracle):
    images, encode = oracle
    res = S.search_text_to_image("a red circle", encode, images, ds, k=5)
    truth = relevance_matrix([parse_caption("a red circle")], ds.scenes)[0]
    assert res.ok and res.target == "image" and len(res.ids) == 5
    np.testing.assert_allclose(res.relevance, truth[res.ids])
    assert res.metrics["AP"] == pytest.approx(1.0)
    assert res.metrics["NDCG@5"] == pytest.approx(1.0)
    assert res.metrics["n_relevant"] == int((truth > 0).sum())
    assert "AP 1.000" in res.metrics_line() and "'a red circle'" in res.message


def test_text_to_image_dataset_caption_uses_dataset_relevance(ds, oracle):
    images, encode = oracle
    j = 7
    res = S.search_text_to_image(ds.captions[j], encode, images, ds, k=8)
    np.testing.assert_allclose(res.relevance, ds.text_image_relevance([j])[0][res.ids])


def test_text_to_image_bad_queries_never_raise(ds, oracle):
    images, encode = oracle
    cases = {"": "Type a query", "qwerty zzz": "None of the words",
             "red circle": None}
    for text, match in cases.items():
        res = S.search_text_to_image(text, encode, images, ds)
        if match:
            assert not res.ok and match in res.message and len(res.ids) == 0
    res = S.search_text_to_image("a red qwerty circle", encode, images, ds)
    assert res.ok and "Unknown words ignored: qwerty" in res.message
    res = S.search_text_to_image("red circle", None, images, ds)
    assert not res.ok and "No text encoder" in res.message
    res = S.search_text_to_image("red circle", lambda t: np.ones((1, 3)), images, ds)
    assert not res.ok and "not in one joint space" in res.message


def test_unparsable_text_has_no_relevance(tiny):
    enc = lambda texts: np.ones((len(texts), 2))  # noqa: E731
    res = S.search_text_to_image("red bird", enc, np.eye(4, 2, dtype=np.float32) + 0.1, tiny, k=2)
    assert res.ok and res.relevance is None and res.metrics == {} and "no marks" in res.message
    # a query equal to a caption of a dataset without structure: its own image is relevant
    res = S.search_text_to_image("blue cat", enc, np.eye(4, 2, dtype=np.float32) + 0.1, tiny, k=4)
    np.testing.assert_array_equal(res.relevance, (res.ids == 1).astype(np.float32))


def test_setup_errors_raise_value_error(ds, oracle):
    images, encode = oracle
    with pytest.raises(ValueError, match="k"):
        S.search_text_to_image("red", encode, images, ds, k=0)
    with pytest.raises(ValueError, match="metric"):
        S.search_text_to_image("red", encode, images, ds, metric="l1")
    with pytest.raises(ValueError, match="image_embeddings"):
        S.search_text_to_image("red", encode, images[:5], ds)
    with pytest.raises(ValueError, match="image_codes"):
        S.search_text_to_image("red", encode, images, ds, metric="hamming")
    with pytest.raises(ValueError, match="image_index"):
        S.search_image_to_image(ds.n_images, images, ds)


def test_image_to_image_excludes_query_and_uses_shared_labels(ds):
    rng = np.random.default_rng(3)
    emb = rng.standard_normal((ds.n_images, 6)).astype(np.float32)
    res = S.search_image_to_image(4, emb, ds, k=10, metric="euclidean")
    assert 4 not in res.ids
    dist = euclidean_distance(emb[4:5], emb)[0]
    dist[4] = np.inf
    np.testing.assert_array_equal(res.ids, np.argsort(dist, kind="stable")[:10])
    np.testing.assert_allclose(res.display_scores, dist[res.ids], rtol=1e-5)
    assert res.score_label == "dist"
    shared = (ds.labels[res.ids] @ ds.labels[4] > 0).astype(np.float32)
    np.testing.assert_array_equal(res.relevance, shared)


def test_image_to_image_hamming(ds):
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 2, (ds.n_images, 16))
    res = S.search_image_to_image(0, np.zeros((ds.n_images, 2)), ds, k=5, metric="hamming",
                                  image_codes=pack_bits(codes))
    dist = (codes != codes[0]).sum(1).astype(float)
    dist[0] = np.inf
    np.testing.assert_array_equal(res.ids, np.argsort(dist, kind="stable")[:5])
    np.testing.assert_array_equal(res.display_scores, dist[res.ids])


def test_image_to_text_graded_on_structure(ds, oracle):
    images, encode = oracle
    caps = encode(ds.captions)  # (m, n): caption j is close to the images it describes
    res = S.search_image_to_text(9, images, caps, ds, k=6)
    assert res.target == "text" and res.ok
    expected = ds.image_text_relevance([9], graded=True)[0]
    np.testing.assert_allclose(res.relevance, expected[res.ids])
    assert res.relevant.all()  # the oracle ranks satisfied captions first


def test_image_to_text_dimension_mismatch_is_a_message(ds):
    res = S.search_image_to_text(0, np.ones((ds.n_images, 3)), np.ones((ds.n_captions, 4)), ds)
    assert not res.ok and "not one joint space" in res.message


def test_text_to_text_relevance_follows_the_captions_images(ds):
    from mmcourse.text import Vocabulary, bag_of_words

    vocab = Vocabulary.build(ds.captions)
    enc = lambda texts: bag_of_words(texts, vocab)  # noqa: E731 - the notebook-00 set-up
    res = S.search_text_to_text("a red circle", enc, enc(ds.captions), ds, k=8)
    truth = relevance_matrix([parse_caption("a red circle")], ds.scenes)[0]
    np.testing.assert_allclose(res.relevance, truth[ds.caption_image[res.ids]])
    assert res.target == "text" and "AP" in res.metrics


def test_text_to_text_hamming_with_codes_only(tiny):
    codes = pack_bits(np.array([[0, 0, 0, 0, 0, 0, 0, 1]] * 4 + [[1] * 8] * 4))
    hasher = lambda texts: pack_bits(np.ones((len(texts), 8)))  # noqa: E731
    res = S.search_text_to_text("cat", None, None, tiny, k=3, metric="hamming",
                                caption_codes=codes, text_codes_fn=hasher)
    np.testing.assert_array_equal(res.ids, [4, 5, 6])
    res = S.search_text_to_text("cat", None, None, tiny, metric="hamming", caption_codes=codes)
    assert not res.ok and "text_codes_fn" in res.message


# ------------------------------------------------------------------ composed queries
def test_composed_query_vector_is_the_weighted_sum_of_unit_vectors():
    img, txt = np.array([3.0, 4.0]), np.array([0.0, 2.0])
    np.testing.assert_allclose(S.composed_query_vector(img, txt, 0.25),
                               0.75 * np.array([0.6, 0.8]) + 0.25 * np.array([0.0, 1.0]), rtol=1e-6)
    for bad in (-0.1, 1.5, "half", True):
        with pytest.raises(ValueError, match="weight"):
            S.composed_query_vector(img, txt, bad)


def test_composed_query_extremes_match_single_modality(ds, oracle):
    rng = np.random.default_rng(5)
    emb = rng.standard_normal((ds.n_images, 8)).astype(np.float32)
    proj = rng.standard_normal((ds.n_images, 8)).astype(np.float32)
    _, oracle_encode = oracle
    enc = lambda t: oracle_encode(t) @ proj  # noqa: E731
    only_image = S.composed_query(2, "red circle", enc, emb, ds, weight=0.0, k=6)
    np.testing.assert_array_equal(only_image.ids, S.search_image_to_image(2, emb, ds, k=6).ids)
    only_text = S.composed_query(2, "red circle", enc, emb, ds, weight=1.0, k=6)
    t2i = S.search_text_to_image("red circle", enc, emb, ds, k=7)
    np.testing.assert_array_equal(only_text.ids, [i for i in t2i.ids if i != 2][:6])
    expected = S.composed_relevance(ds, 2, "red circle")
    np.testing.assert_allclose(only_text.relevance, expected[only_text.ids])


def test_composed_relevance_requires_text_and_shared_label(ds):
    rel = S.composed_relevance(ds, 0, "a red circle")
    text_rel = relevance_matrix([parse_caption("a red circle")], ds.scenes)[0]
    shared = ds.image_image_relevance([0])[0]
    np.testing.assert_allclose(rel, text_rel * (shared > 0))
    assert S.composed_relevance(ds, 0, "gibberish words") is None


def test_composed_query_messages(ds, oracle):
    images, encode = oracle
    res = S.composed_query(0, "", encode, images, ds)
    assert not res.ok and "Type a query" in res.message
    res = S.composed_query(0, "red", encode, images, ds, metric="hamming")
    assert not res.ok and "float embeddings" in res.message


# ------------------------------------------------------------------ browsing
def test_filter_images_against_brute_force(ds):
    from mmcourse.text import tokenize

    got = S.filter_images(ds, word="Red", split="train")
    expected = [i for i in range(ds.n_images) if ds.split[i] == "train"
                and any("red" in tokenize(c) for c in ds.captions_of(i))]
    np.testing.assert_array_equal(got, expected)
    name = ds.label_names[0]
    np.testing.assert_array_equal(S.filter_images(ds, label=name), np.flatnonzero(ds.labels[:, 0]))
    np.testing.assert_array_equal(S.filter_images(ds), np.arange(ds.n_images))
    assert len(S.filter_images(ds, word="zebra")) == 0
    with pytest.raises(ValueError, match="label"):
        S.filter_images(ds, label="purple unicorn")
    with pytest.raises(ValueError, match="split"):
        S.filter_images(ds, split="dev")
    with pytest.raises(ValueError, match="word"):
        S.filter_images(ds, word=3)


def test_example_queries_are_dataset_captions(ds):
    ex = S.example_queries(ds, 3)
    assert len(ex) == 3 and all(e in ds.captions for e in ex)
    assert ex == S.example_queries(ds, 3)
