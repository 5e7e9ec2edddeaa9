"""Tests for mmcourse.text: tokenizer, vocabulary, padding, bag-of-words, TF-IDF."""
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from mmcourse.text import Vocabulary, bag_of_words, pad_sequences, tfidf, tokenize

CAPTIONS = [
    "A red circle to the left of a blue square.",
    "Two GREEN stars; one small triangle!",
    "a red circle",
    "The blue square is above 3 red circles",
]


def test_tokenize_lowercases_and_strips_punctuation():
    assert tokenize("Two red circles, left-of 3 squares!") == [
        "two", "red", "circles", "left", "of", "3", "squares"]
    assert tokenize("don't") == ["don", "t"]
    assert tokenize("") == []
    assert tokenize("  ...!? ") == []
    assert tokenize("snake_case") == ["snake", "case"]


def test_tokenize_rejects_non_strings():
    with pytest.raises(ValueError, match="text"):
        tokenize(["a list"])


def test_vocabulary_reserved_ids_and_frequency_order():
    v = Vocabulary.build(CAPTIONS)
    assert v.itos[:2] == ["<pad>", "<unk>"]
    assert v.pad_id == 0 and v.unk_id == 1
    assert v.itos[2] == "a" and v.counts["a"] == 3  # most frequent ("a" x3, "red" x3, ties alpha)
    assert v.itos[3] == "red"
    assert len(v) == 2 + len({t for c in CAPTIONS for t in tokenize(c)})
    assert v.stoi["circle"] == v.itos.index("circle")


def test_vocabulary_encode_decode_and_unknown():
    v = Vocabulary.build(CAPTIONS)
    ids = v.encode("A red hexagon")
    assert ids == [v.stoi["a"], v.stoi["red"], v.unk_id]
    assert v.decode(ids) == "a red <unk>"
    assert v.decode([v.stoi["red"], 0, 0]) == "red"
    assert v.encode("") == []
    assert v.encode_batch(["a", "red"]) == [[v.stoi["a"]], [v.stoi["red"]]]


def test_vocabulary_min_freq_and_max_size():
    v = Vocabulary.build(CAPTIONS, min_freq=2)
    assert set(v.itos[2:]) == {"a", "red", "circle", "blue", "square", "the"}
    v2 = Vocabulary.build(CAPTIONS, max_size=3)
    assert v2.itos == ["<pad>", "<unk>", "a", "red", "blue"]


def test_vocabulary_round_trip_through_json():
    v = Vocabulary.build(CAPTIONS)
    v2 = Vocabulary.from_dict(json.loads(json.dumps(v.to_dict())))
    assert v2 == v and v2.encode(CAPTIONS[0]) == v.encode(CAPTIONS[0])


@pytest.mark.parametrize("call, arg", [
    (lambda: Vocabulary.build([]), "texts"),
    (lambda: Vocabulary.build(["a"], min_freq=0), "min_freq"),
    (lambda: Vocabulary.build("a b", max_size=-1), "max_size"),
    (lambda: Vocabulary.build([1, 2]), "texts"),
    (lambda: Vocabulary.from_dict({"x": 1}), "d"),
    (lambda: Vocabulary(["a", "<unk>"]), "itos"),
    (lambda: Vocabulary.build(["a"]).decode([5]), "ids"),
])
def test_vocabulary_bad_input(call, arg):
    with pytest.raises(ValueError, match=arg):
        call()


def test_pad_sequences_pads_truncates_and_handles_empty():
    ids, lengths = pad_sequences([[5, 6, 7], [8], []])
    assert ids.dtype == np.int64 and lengths.dtype == np.int64
    np.testing.assert_array_equal(ids, [[5, 6, 7], [8, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(lengths, [3, 1, 1])
    ids, lengths = pad_sequences([[5, 6, 7], [8]], max_len=2)
    np.testing.assert_array_equal(ids, [[5, 6], [8, 0]])
    np.testing.assert_array_equal(lengths, [2, 1])
    ids, _ = pad_sequences([[1]], max_len=4)
    assert ids.shape == (1, 4)


@pytest.mark.parametrize("seqs, kw, arg", [
    ([], {}, "seqs"),
    (["a red"], {}, "seqs"),
    ([[1, -2]], {}, "seqs"),
    ([[1.5]], {}, "seqs"),
    ([[1]], {"max_len": 0}, "max_len"),
    (None, {}, "seqs"),
])
def test_pad_sequences_bad_input(seqs, kw, arg):
    with pytest.raises(ValueError, match=arg):
        pad_sequences(seqs, **kw)


@given(st.lists(st.lists(st.integers(0, 50), max_size=8), min_size=1, max_size=6),
       st.one_of(st.none(), st.integers(1, 10)))
@settings(max_examples=60, deadline=None)
def test_pad_sequences_property(seqs, max_len):
    ids, lengths = pad_sequences(seqs, max_len=max_len)
    for row, length, s in zip(ids, lengths, seqs):
        kept = s[:max_len] if max_len else s
        assert length == max(len(kept), 1)
        assert list(row[:len(kept)]) == kept and not row[len(kept):].any()


def _sklearn_columns(vocab, vectorizer):
    """Map sklearn's feature columns onto our vocabulary ids."""
    return [vocab.stoi[t] for t in vectorizer.get_feature_names_out()]


def test_bag_of_words_matches_sklearn_count_vectorizer():
    v = Vocabulary.build(CAPTIONS)
    cv = CountVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
    ref = cv.fit_transform(CAPTIONS).toarray()
    bow = bag_of_words(CAPTIONS, v)
    assert bow.dtype == np.float32 and bow.shape == (4, len(v))
    np.testing.assert_array_equal(bow[:, _sklearn_columns(v, cv)], ref)
    assert not bow[:, :2].any()
    assert bag_of_words(["red red hexagon"], v, binary=True)[0, [v.stoi["red"], 1]].tolist() == [1, 1]


def test_bag_of_words_is_blind_to_word_order():
    v = Vocabulary.build(CAPTIONS)
    a, b = bag_of_words(["red circle left of blue square", "blue circle left of red square"], v)
    np.testing.assert_array_equal(a, b)


def test_tfidf_matches_sklearn_and_reuses_idf():
    v = Vocabulary.build(CAPTIONS)
    tv = TfidfVectorizer(tokenizer=tokenize, lowercase=False, token_pattern=None)
    ref = tv.fit_transform(CAPTIONS).toarray()
    x, idf = tfidf(CAPTIONS, v)
    cols = _sklearn_columns(v, tv)
    np.testing.assert_allclose(x[:, cols], ref, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(idf[cols], tv.idf_)
    new = ["a blue star", ""]
    x2, idf2 = tfidf(new, v, idf=idf)
    np.testing.assert_allclose(x2[:, cols], tv.transform(new).toarray(), rtol=1e-6, atol=1e-7)
    assert idf2 is idf and not x2[1].any()


def test_tfidf_and_bow_bad_input():
    v = Vocabulary.build(CAPTIONS)
    with pytest.raises(ValueError, match="vocab"):
        bag_of_words(CAPTIONS, {"a": 1})
    with pytest.raises(ValueError, match="idf"):
        tfidf(CAPTIONS, v, idf=np.ones(3))
    with pytest.raises(ValueError, match="texts"):
        tfidf([], v)
