"""Relevance between any two modalities, pairing, new queries, rules, counterfactual captions, and
the dataset-side helpers of search (vocabulary, example queries, filter)."""
from __future__ import annotations

import ast
import hashlib
import warnings
from pathlib import Path

import numpy as np
import pytest

import mmcourse
from mmcourse.data import (CaptionDataset, ClassRelevance, Modality, PairingRelevance,
                           RelevanceRule, load_karpathy, make_shapes)
from mmcourse.data import shapes as S
from mmcourse.data.relevance import register_rule, resolve_rule, rule_names
from mmcourse.data.shapes import parse_caption, relevance_matrix

FIX = Path(__file__).parent / "fixtures"
DATA = Path(mmcourse.__file__).parent / "data"


def with_fakes(ds):
    """``ds`` with a description modality (one item per caption, reversed) and a scene modality."""
    order = np.arange(ds.n_captions)[::-1].copy()
    audio = Modality("fakeaudio", [f"wave{j}" for j in order], ds.caption_image[order],
                     "description", order, {"sample_rate": 16000})
    video = Modality("fakevideo", list(range(ds.n_images)), np.arange(ds.n_images), "scene")
    return ds.with_modality(audio).with_modality(video)


@pytest.fixture(scope="module")
def shapes_ds():
    return with_fakes(make_shapes(60, seed=4, cache=False))


@pytest.fixture(scope="module")
def digits_test():
    return with_fakes(mmcourse.load_dataset("digits").subset("test"))


@pytest.fixture(scope="module")
def karpathy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = load_karpathy(FIX / "karpathy" / "dataset_flickr8k.json", FIX / "karpathy" / "images",
                           image_size=16, progress=False)
    return with_fakes(ds)


def plain(n=4, cpi=2, labels=True):
    return CaptionDataset(images=np.zeros((n, 8, 8, 3), np.uint8),
                          captions=[f"c{j}" for j in range(n * cpi)],
                          caption_image=np.repeat(np.arange(n), cpi),
                          split=["train", "train", "val", "test"][:n],
                          labels=np.eye(n, dtype=np.uint8) if labels else None,
                          label_names=[f"l{i}" for i in range(n)] if labels else None)


# ---------------------------------------------------------------- architecture
def _imported_modules(path: Path) -> set:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            names.add(base)
            names.update(f"{base}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


@pytest.mark.parametrize("module", ["dataset.py", "relevance.py", "modalities.py"])
def test_core_modules_import_no_shapes_module(module):
    """The import cycle dataset -> shapes -> shapes_make -> dataset is gone: the core imports no
    shapes module (the shapes rule is injected, or found by name in relevance_shapes)."""
    imported = _imported_modules(DATA / module)
    assert imported and not [m for m in imported if "shapes" in m], imported


# ---------------------------------------------------------------- relevance between modalities
@pytest.mark.parametrize("fixture", ["shapes_ds", "digits_test", "karpathy"])
def test_relevance_symmetry_and_legacy_aliases(fixture, request):
    ds = request.getfixturevalue(fixture)
    t2i = ds.relevance("text", "image")
    assert t2i.dtype == np.float32 and t2i.shape == (ds.n_captions, ds.n_images)
    np.testing.assert_array_equal(ds.relevance("image", "text"), t2i.T)
    np.testing.assert_array_equal(ds.text_image_relevance(), t2i)
    np.testing.assert_array_equal(ds.image_text_relevance(graded=True), t2i.T)
    np.testing.assert_array_equal(ds.image_text_relevance(), ds.paired("image", "text"))
    np.testing.assert_array_equal(ds.image_image_relevance(), ds.relevance("image", "image"))
    for a, b in (("fakeaudio", "image"), ("fakeaudio", "fakevideo"), ("text", "fakevideo")):
        np.testing.assert_array_equal(ds.relevance(b, a), ds.relevance(a, b).T)  # scene <-> description
    binary = ds.relevance("text", "image", graded=False)
    assert set(np.unique(binary)) <= {0.0, 1.0} and ((binary > 0) == (t2i > 0)).all()


def test_shapes_relevance_is_exact_and_graded(shapes_ds):
    ds = shapes_ds
    t2i = ds.relevance("text", "image")
    np.testing.assert_array_equal(t2i, relevance_matrix(ds.meanings, ds.scenes))
    assert (t2i > 0).sum() > ds.n_captions  # many captions fit other images too
    assert len(np.unique(t2i)) > 2  # graded
    part = ds.relevance("text", "image", query_idx=[3, 0], item_idx=[5])
    assert part.shape == (2, 1) and part[0, 0] == t2i[3, 5] and part[1, 0] == t2i[0, 5]


@pytest.mark.parametrize("fixture", ["shapes_ds", "digits_test", "karpathy"])
def test_description_modalities_follow_their_captions(fixture, request):
    """A description item is judged by the caption it carries, a scene item by the image it shows."""
    ds = request.getfixturevalue(fixture)
    audio, video = ds.modality("fakeaudio"), ds.modality("fakevideo")
    t2i = ds.relevance("text", "image")
    np.testing.assert_array_equal(ds.relevance("fakeaudio", "image"), t2i[audio.content_index])
    np.testing.assert_array_equal(ds.relevance("text", "fakevideo"), t2i[:, video.content_index])
    np.testing.assert_array_equal(ds.relevance("fakevideo", "fakevideo"),
                                  ds.relevance("image", "image"))
    np.testing.assert_array_equal(ds.relevance("fakeaudio", "text"),
                                  ds.relevance("text", "text")[audio.content_index])


@pytest.mark.parametrize("fixture", ["shapes_ds", "digits_test", "karpathy"])
def test_text_to_text_is_the_relevance_of_the_items_image(fixture, request):
    """What search_text_to_text uses: caption j's relevance = its image's relevance to the query."""
    ds = request.getfixturevalue(fixture)
    q = np.arange(0, ds.n_captions, max(1, ds.n_captions // 7))
    expected = ds.relevance("text", "image", query_idx=q)[:, ds.caption_image]
    np.testing.assert_array_equal(ds.relevance("text", "text", query_idx=q), expected)


def test_pairing_fallback_without_structure(karpathy):
    ds = karpathy
    assert not ds.has_structure and isinstance(ds.rule, PairingRelevance)
    assert ds.relevance_rule is None
    np.testing.assert_array_equal(ds.relevance("text", "image"), ds.paired("text", "image"))
    np.testing.assert_array_equal(ds.relevance("text", "text"), ds.paired("text", "text"))
    np.testing.assert_array_equal(ds.relevance("image", "image"), np.eye(ds.n_images))  # no labels
    assert not ds.knows_relevance("image", "image") and ds.knows_relevance("text", "image")
    assert not ds.knows_relevance("fakevideo", "image") and ds.knows_relevance("fakeaudio", "text")
    row = ds.query_relevance("text", ds.captions[3].upper(), "image")
    np.testing.assert_array_equal(row, ds.paired("text", "image", [3])[0])
    assert ds.query_relevance("text", "a red circle above a blue square", "image") is None


def test_paired_is_same_scene(shapes_ds):
    ds = shapes_ds
    p = ds.paired("text", "image")
    assert p.dtype == np.float32 and (p.sum(1) == 1).all()
    assert (p.argmax(1) == ds.caption_image).all()
    pa = ds.paired("fakeaudio", "text")
    audio = ds.modality("fakeaudio")
    np.testing.assert_array_equal(pa, (audio.scene_index[:, None] == ds.caption_image[None, :]))
    np.testing.assert_array_equal(ds.paired("image", "fakevideo"), np.eye(ds.n_images))


def test_relevance_bad_input_names_the_argument(shapes_ds):
    with pytest.raises(ValueError, match=r"query_modality.*'image', 'text'.*'speech'"):
        shapes_ds.relevance("speech", "image")
    with pytest.raises(ValueError, match="item_modality"):
        shapes_ds.paired("image", None)
    with pytest.raises(ValueError, match="query_idx"):
        shapes_ds.relevance("image", "text", query_idx=[shapes_ds.n_images])
    with pytest.raises(ValueError, match="item_idx"):
        shapes_ds.relevance("image", "fakeaudio", item_idx=[[0, 1]])
    with pytest.raises(ValueError, match="caption_idx"):
        shapes_ds.text_image_relevance(caption_idx=[-1])
    with pytest.raises(ValueError, match="item_modality"):
        shapes_ds.knows_relevance("text", "smell")


# ---------------------------------------------------------------- new queries
def test_query_relevance_shapes(shapes_ds):
    ds = shapes_ds
    row = ds.query_relevance("text", "a red circle", "image")
    np.testing.assert_array_equal(row, relevance_matrix([parse_caption("a red circle")], ds.scenes)[0])
    assert row.dtype == np.float32 and row.shape == (ds.n_images,)
    exact = ds.query_relevance("text", "  " + ds.captions[7].upper(), "image")
    np.testing.assert_array_equal(exact, ds.relevance("text", "image", [7])[0])
    on_text = ds.query_relevance("text", "big disc above blue box", "text")
    full = ds.query_relevance("text", "big disc above blue box", "image")
    np.testing.assert_array_equal(on_text, full[ds.caption_image])
    part = ds.query_relevance("text", "a red circle", "fakevideo", item_idx=[4, 2])
    np.testing.assert_array_equal(part, row[[4, 2]])
    assert ds.query_relevance("text", "a purple elephant", "image") is None
    np.testing.assert_array_equal(ds.query_relevance("image", 3, "image"),
                                  ds.relevance("image", "image", [3])[0])
    assert ds.query_relevance("image", np.zeros((32, 32, 3), np.uint8), "image") is None
    assert ds.query_relevance("fakeaudio", np.zeros(1600, np.float32), "image") is None
    with pytest.raises(ValueError, match="query"):
        ds.query_relevance("text", ["a red circle"], "image")
    with pytest.raises(ValueError, match="query"):
        ds.query_relevance("text", 10**6, "image")
    with pytest.raises(ValueError, match="item_modality"):
        ds.query_relevance("text", "a red circle", "audio")


def test_query_relevance_digits(digits_test):
    ds = digits_test
    classes = np.asarray(ds.scenes)
    for text in ("a handwritten seven", "the digit 7", "Seven!"):
        np.testing.assert_array_equal(ds.query_relevance("text", text, "image"), classes == 7)
    np.testing.assert_array_equal(ds.query_relevance("text", "a handwritten seven", "fakeaudio"),
                                  classes[ds.modality("fakeaudio").scene_index] == 7)
    assert ds.query_relevance("text", "a red circle", "image") is None
    assert ds.query_relevance("text", "a three or a seven", "image") is None


def test_parse_digit_query():
    from mmcourse.data.digits import parse_digit_query

    assert parse_digit_query("the number zero written by hand") == 0
    assert parse_digit_query("digit 4, a handwritten four") == 4
    assert parse_digit_query("42") is None and parse_digit_query("") is None
    with pytest.raises(ValueError, match="text"):
        parse_digit_query(7)


# ---------------------------------------------------------------- rules
def test_rule_shortcuts_and_injection(monkeypatch):
    from mmcourse.data import relevance as R

    monkeypatch.setattr(R, "_RULES", dict(R._RULES))  # the registration below is undone after
    ds = plain()
    assert isinstance(ds.rule, PairingRelevance) and ds.relevance_rule is None
    kw = dict(images=np.zeros((3, 8, 8, 3), np.uint8), captions=["a", "b", "c"],
              caption_image=[0, 1, 2], split=["train"] * 3, scenes=[1, 2, 1], meanings=[1, 2, 2])
    cls = CaptionDataset(**kw, relevance_rule="class")
    assert isinstance(cls.rule, ClassRelevance) and cls.relevance_rule == "class"
    np.testing.assert_array_equal(cls.relevance("text", "image"), [[1, 0, 1], [0, 1, 0], [0, 1, 0]])
    assert cls.subset("train").rule is cls.rule

    class Everything(RelevanceRule):
        name = "everything"

        def description_scene(self, dataset, caption_idx, image_idx):
            return np.ones((len(caption_idx), len(image_idx)), np.float32)

    custom = CaptionDataset(**kw, relevance_rule=Everything())
    assert custom.relevance_rule == "everything" and custom.relevance("text", "text").all()
    register_rule("everything_test", Everything)
    assert "everything_test" in rule_names()
    assert isinstance(resolve_rule("everything_test"), Everything)
    with pytest.raises(ValueError, match="relevance_rule.*'shapes'.*'class'"):
        CaptionDataset(**kw, relevance_rule="fuzzy")
    with pytest.raises(ValueError, match="parse"):
        ClassRelevance(parse="seven")
    assert resolve_rule("shapes").name == "shapes" and repr(resolve_rule("pairing"))


def test_shapes_default_rule(shapes_ds):
    from mmcourse.data import ShapesRelevance

    assert isinstance(shapes_ds.rule, ShapesRelevance) and shapes_ds.relevance_rule == "shapes"


# ---------------------------------------------------------------- counterfactual captions
def _digest(strings) -> str:
    return hashlib.sha256("\n".join(strings).encode()).hexdigest()[:16]


def test_counterfactuals_are_bit_identical_to_the_shapes_functions(shapes_ds):
    ds = shapes_ds
    assert ds.has_counterfactuals
    idx = np.arange(0, ds.n_captions, 2)
    hn = ds.hard_negatives(idx, np.random.default_rng(11))
    assert hn == S.hard_negatives(ds, idx, np.random.default_rng(11))
    rows, pos, neg = ds.scene_twins(np.arange(ds.n_images), np.random.default_rng(12))
    rows0, pos0, neg0 = S.scene_twins(ds, np.arange(ds.n_images), np.random.default_rng(12))
    assert (rows == rows0).all() and pos == pos0 and neg == neg0
    probe = ds.word_order_probe(n_pairs=20, seed=3)
    probe0 = S.word_order_probe(ds, n_pairs=20, seed=3)
    assert (probe["image_index"] == probe0["image_index"]).all()
    assert all(probe[k] == probe0[k] for k in ("positive", "negative", "kind"))
    # pinned: the values these seeds gave before counterfactuals became a dataset capability
    assert _digest(hn) == "ad288e9b9264567a"
    assert _digest(pos + neg) == "7c6c2daccf003a7a" and rows[:10].tolist() == [1, 2, 3, 4, 5, 7, 8, 9, 10, 12]
    assert _digest(probe["positive"] + probe["negative"] + probe["kind"]) == "7cdc93ed1a930086"
    assert probe["image_index"][:5].tolist() == [21, 17, 28, 55, 22]
    rows1, pos1, neg1 = ds.scene_twins(np.arange(20), 5, argument_share=0.0)  # options pass through
    rows2, pos2, neg2 = S.scene_twins(ds, np.arange(20), 5, argument_share=0.0)
    assert (rows1 == rows2).all() and pos1 == pos2 and neg1 == neg2 and pos1 != pos0[:len(pos1)]
    assert ds.hard_negatives([], 0) == []


@pytest.mark.parametrize("fixture, name", [("digits_test", "digits/test"), ("karpathy", None)])
def test_no_counterfactuals_is_a_clear_error(fixture, name, request):
    ds = request.getfixturevalue(fixture)
    name = name or ds.name
    assert not ds.has_counterfactuals
    for call, capability in ((lambda: ds.hard_negatives([0], 0), "hard_negatives"),
                             (lambda: ds.scene_twins([0], 0), "scene_twins"),
                             (lambda: ds.word_order_probe(5), "word_order_probe")):
        with pytest.raises(ValueError, match=rf"{capability}: dataset '{name}' has no "
                                             r"counterfactual captions \(they need structured"):
            call()


def test_counterfactual_bad_indices_still_name_the_argument(shapes_ds):
    with pytest.raises(ValueError, match="caption_indices"):
        shapes_ds.hard_negatives([10**6], 0)
    with pytest.raises(ValueError, match="image_indices"):
        shapes_ds.scene_twins([-1], 0)
    with pytest.raises(ValueError, match="rng"):
        shapes_ds.hard_negatives([0], "seed")


# ---------------------------------------------------------------- search's helpers
def test_vocabulary_example_queries_and_filter(shapes_ds):
    from mmcourse.text import tokenize

    ds = shapes_ds
    vocab = ds.vocabulary()
    assert vocab == frozenset(w for c in ds.captions for w in tokenize(c)) and ds.vocabulary() is vocab
    ex = ds.example_queries(3)
    assert ex == sorted(set(ds.captions), key=lambda c: (len(c), c))[:3]
    spoken = ds.example_queries(3, modality="fakeaudio")
    audio = ds.modality("fakeaudio")
    assert [ds.captions[audio.content_index[k]] for k in spoken] == ex
    assert ds.example_queries(2, modality="fakevideo") == [0, 1]
    with pytest.raises(ValueError, match="n"):
        ds.example_queries(0)
    red = ds.filter(word="red")
    manual = sorted({int(i) for c, i in zip(ds.captions, ds.caption_image) if "red" in tokenize(c)})
    assert red.dtype == np.int64 and red.tolist() == manual
    both = ds.filter(word="red", split="train", label=ds.label_names[0])
    assert set(both) <= set(red) and (ds.split[both] == "train").all()
    assert (ds.labels[both, 0] == 1).all()
    assert ds.filter().tolist() == list(range(ds.n_images))
    with pytest.raises(ValueError, match="label"):
        ds.filter(label="no such label")
    with pytest.raises(ValueError, match="split"):
        ds.filter(split="holdout")
    with pytest.raises(ValueError, match="word"):
        ds.filter(word=3)
    with pytest.raises(ValueError, match="text"):
        ds.find_caption(None)
    assert ds.find_caption(ds.captions[4]) == ds.captions.index(ds.captions[4])
