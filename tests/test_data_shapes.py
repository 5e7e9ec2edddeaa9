"""Shapes scenes: semantics (satisfies / relevance), captions, generation, counterfactuals."""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmcourse.data import shapes
from mmcourse.data.shapes import (COLOURS, RELATION_MARGIN, RELATIONS, SHAPES, SIZES, Description,
                                  Meaning, SceneObject, hard_negatives, parse_caption, relevance,
                                  relevance_matrix, satisfies, scene_twins,
                                  word_order_probe)
from mmcourse.data.shapes_make import make_shapes
from mmcourse.data.shapes_render import box_size, shape_masks

COLOUR_NAMES = tuple(COLOURS)


@pytest.fixture(scope="module")
def small():
    return make_shapes(120, seed=3, cache=False)


@pytest.fixture(scope="module")
def test_split():
    """The 1,000-image test split of the default dataset (generated first, independent of n_train)."""
    return make_shapes(1000, seed=0, split_sizes=(0, 0, 1000), cache=False)


def obj(shape="circle", colour="red", size="small", x=0.5, y=0.5):
    return SceneObject(shape, colour, size, x, y)


# ---------------------------------------------------------------- satisfies: hand-computed cases
def test_satisfies_hand_cases():
    scene = (obj("circle", "red", "small", 0.2, 0.5), obj("square", "blue", "large", 0.7, 0.5))
    red_circle = Description("circle", "red")
    blue_square = Description("square", "blue")
    assert satisfies(Meaning((red_circle,)), scene)
    assert satisfies(Meaning((red_circle, blue_square), "left_of"), scene)
    assert not satisfies(Meaning((red_circle, blue_square), "right_of"), scene)
    assert satisfies(Meaning((blue_square, red_circle), "right_of"), scene)
    assert not satisfies(Meaning((Description("circle", "blue"),)), scene)
    assert not satisfies(Meaning((Description(size="large"), Description(size="large"))), scene)
    # injective: two descriptions cannot both use the single circle
    assert not satisfies(Meaning((Description("circle"), Description("circle"))), scene)
    # vertical relation needs the margin: same y -> neither above nor below
    assert not satisfies(Meaning((red_circle, blue_square), "above"), scene)
    assert relevance(Meaning((red_circle,)), scene) == 0.5
    assert relevance(Meaning((red_circle, blue_square)), scene) == 1.0
    assert relevance(Meaning((Description("star"),)), scene) == 0.0


def test_relation_margin_is_strict_enough():
    a = obj(x=0.40)
    b = obj("square", "blue", x=0.40 + RELATION_MARGIN / 2)
    m = Meaning((Description("circle", "red"), Description("square", "blue")), "left_of")
    assert not satisfies(m, (a, b))
    assert satisfies(m, (a, b._replace(x=0.40 + RELATION_MARGIN + 1e-6)))


# ---------------------------------------------------------------- property tests
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 100_000), image_size=st.sampled_from((16, 32, 48)))
def test_every_image_satisfies_its_own_captions(seed, image_size):
    ds = make_shapes(25, seed=seed, image_size=image_size, cache=False)
    assert ds.images.shape[1:] == (image_size, image_size, 3)
    for j, m in enumerate(ds.meanings):
        assert satisfies(m, ds.scenes[ds.caption_image[j]]), ds.captions[j]
    rel = ds.text_image_relevance()
    own = rel[np.arange(ds.n_captions), ds.caption_image]
    assert (own > 0).all() and (own <= 1).all()


positions = st.floats(0.05, 0.95)


@settings(max_examples=200, deadline=None)
@given(shape_a=st.sampled_from(SHAPES), shape_b=st.sampled_from(SHAPES),
       colours=st.lists(st.sampled_from(COLOUR_NAMES), min_size=2, max_size=2, unique=True),
       relation=st.sampled_from(RELATIONS), ax=positions, ay=positions,
       gap=st.floats(RELATION_MARGIN + 1e-4, 0.5), other=positions)
def test_colour_swap_of_asymmetric_relation_is_not_satisfied(shape_a, shape_b, colours, relation,
                                                            ax, ay, gap, other):
    # place b so that "a <relation> b" holds
    dx, dy = {"left_of": (gap, 0), "right_of": (-gap, 0), "above": (0, gap), "below": (0, -gap)}[relation]
    if relation in ("left_of", "right_of"):
        dy = other - ay
    else:
        dx = other - ax
    a = obj(shape_a, colours[0], "small", ax, ay)
    b = obj(shape_b, colours[1], "large", ax + dx, ay + dy)
    scene = (a, b)
    pos = Meaning((Description(shape_a, colours[0]), Description(shape_b, colours[1])), relation)
    swapped = Meaning((Description(shape_a, colours[1]), Description(shape_b, colours[0])), relation)
    args = Meaning((pos.objects[1], pos.objects[0]), relation)
    assert satisfies(pos, scene)
    assert not satisfies(swapped, scene)
    assert not satisfies(args, scene)
    # the swapped captions share their bag of words with the original
    assert sorted(f"{colours[0]} {shape_a} {relation} {colours[1]} {shape_b}".split()) == \
        sorted(f"{colours[1]} {shape_a} {relation} {colours[0]} {shape_b}".split())


descriptions = st.builds(Description, st.none() | st.sampled_from(SHAPES),
                         st.none() | st.sampled_from(COLOUR_NAMES), st.none() | st.sampled_from(SIZES))


@st.composite
def meanings(draw):
    n = draw(st.integers(1, 3))
    descs = tuple(draw(descriptions.filter(lambda d: any(v is not None for v in d)))
                  for _ in range(n))
    rel = draw(st.none() | st.sampled_from(RELATIONS)) if n == 2 else None  # the grammar relates two
    return Meaning(descs, rel)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ms=st.lists(meanings(), min_size=1, max_size=15))
def test_relevance_matrix_equals_per_pair(ms, small):
    scenes = small.scenes[:60]
    ms = ms + small.meanings[:20] + [None]
    rel = relevance_matrix(ms, scenes)
    assert rel.dtype == np.float32 and rel.shape == (len(ms), len(scenes))
    expected = np.array([[0.0 if m is None else relevance(m, s) for s in scenes] for m in ms],
                        dtype=np.float32)
    np.testing.assert_allclose(rel, expected, rtol=0, atol=1e-7)


@settings(max_examples=100, deadline=None)
@given(m=meanings(), seed=st.integers(0, 10_000))
def test_parse_caption_inverts_write_caption(m, seed):
    text = shapes.write_caption(m, random.Random(seed))
    assert parse_caption(text) == m


def test_parse_caption_round_trips_every_generated_caption(test_split):
    for text, m in zip(test_split.captions, test_split.meanings):
        assert parse_caption(text) == m, text


def test_parse_caption_typed_queries():
    assert parse_caption("Red circle.") == Meaning((Description("circle", "red"),))
    assert parse_caption("big disc above blue box") == Meaning(
        (Description("circle", None, "large"), Description("square", "blue")), "above")
    assert parse_caption("a star, a cross and a diamond") == Meaning(
        (Description("star"), Description("cross"), Description("diamond")))
    assert parse_caption("a red shape") == Meaning((Description(colour="red"),))
    for bad in ("", "a dog on a sofa", "red circle left of", "a circle left of a square above a star"):
        assert parse_caption(bad) is None
    with pytest.raises(ValueError, match="text"):
        parse_caption(3)


# ---------------------------------------------------------------- generation
def test_same_seed_gives_byte_identical_data():
    a = make_shapes(80, seed=11, cache=False)
    b = make_shapes(80, seed=11, cache=False)
    assert a.images.tobytes() == b.images.tobytes()
    assert a.captions == b.captions and a.meanings == b.meanings and a.scenes == b.scenes
    assert (a.split == b.split).all() and (a.labels == b.labels).all()
    c = make_shapes(80, seed=12, cache=False)
    assert a.images.tobytes() != c.images.tobytes()


def test_test_split_does_not_depend_on_n_train():
    a = make_shapes(60, seed=5, split_sizes=(20, 10, 30), cache=False).subset("test")
    b = make_shapes(130, seed=5, split_sizes=(90, 10, 30), cache=False).subset("test")
    assert a.images.tobytes() == b.images.tobytes() and a.captions == b.captions


def test_dataset_layout_and_labels(small):
    n = small.n_images
    assert small.images.shape == (n, 32, 32, 3) and small.images.dtype == np.uint8
    assert small.n_captions == 5 * n
    assert [int((small.split == s).sum()) for s in ("train", "val", "test")] == [96, 12, 12]
    assert len(small.label_names) == len(SHAPES) * len(COLOURS) == small.labels.shape[1]
    for i, scene in enumerate(small.scenes):
        assert 1 <= len(scene) <= 3
        names = {f"{o.colour} {o.shape}" for o in scene}
        assert {small.label_names[k] for k in np.flatnonzero(small.labels[i])} == names
    # five distinct captions per image
    for caps in small.image_captions():
        assert len({small.captions[j] for j in caps}) == 5


def test_objects_do_not_overlap_and_are_drawn(small):
    s = small.image_size[0]
    for i, scene in enumerate(small.scenes[:40]):
        boxes = []
        for o in scene:
            b = box_size(o.size, s)
            x0, y0 = round(o.x * s - b / 2), round(o.y * s - b / 2)
            assert 0 <= x0 <= s - b and 0 <= y0 <= s - b
            for bx, by, bb in boxes:
                assert x0 + b < bx or bx + bb < x0 or y0 + b < by or by + bb < y0
            boxes.append((x0, y0, b))
            mask = shape_masks(s)[(o.shape, o.size)]
            pixels = small.images[i, y0:y0 + b, x0:x0 + b][mask].astype(int)
            # object pixels are close to the object's colour (jitter ±25 plus noise ±12)
            assert np.abs(pixels.mean(0) - np.array(COLOURS[o.colour])).max() < 45


def test_masks_are_distinct_and_nonempty():
    for size in SIZES:
        masks = [shape_masks(32)[(s, size)] for s in SHAPES]
        assert all(m.any() for m in masks)
        flat = {m.tobytes() for m in masks}
        assert len(flat) == len(SHAPES)


def test_no_scene_is_repeated(small):
    from mmcourse.data.shapes import scene_key

    keys = [scene_key(s) for s in small.scenes]
    assert len(set(keys)) == len(keys)


def test_about_a_quarter_of_test_captions_duplicate_another_images(test_split):
    owners: dict = {}
    for text, i in zip(test_split.captions, test_split.caption_image):
        owners.setdefault(text, set()).add(int(i))
    frac = np.mean([len(owners[t]) > 1 for t in test_split.captions])
    assert 0.18 <= frac <= 0.33


# ---------------------------------------------------------------- counterfactuals
def test_hard_negatives_are_unsatisfied_and_minimal(small):
    idx = np.arange(small.n_captions)
    negs = hard_negatives(small, idx, np.random.default_rng(0))
    assert len(negs) == len(idx)
    n_rel = 0
    for j, text in zip(idx, negs):
        neg = parse_caption(text)
        pos = small.meanings[j]
        assert neg is not None and not satisfies(neg, small.scenes[small.caption_image[j]])
        assert len(neg.objects) == len(pos.objects) and neg.relation == pos.relation
        if pos.relation is not None:
            n_rel += 1
            # relational captions: a swap (same bag of attributes) is always possible and preferred
            assert sorted(map(str, neg.objects)) != sorted(map(str, pos.objects)) or \
                neg.objects == (pos.objects[1], pos.objects[0])
    assert n_rel > 0
    assert negs == hard_negatives(small, idx, np.random.default_rng(0))  # deterministic


def test_word_order_probe_pairs_are_valid(test_split):
    probe = word_order_probe(test_split, n_pairs=500, seed=0)
    assert len(probe["positive"]) == len(probe["negative"]) == len(probe["kind"]) == 500
    assert probe["image_index"].dtype == np.int64
    assert set(probe["kind"]) == {"colour_swap", "argument_swap"}
    for i, p, n, kind in zip(probe["image_index"], probe["positive"], probe["negative"], probe["kind"]):
        scene = test_split.scenes[i]
        mp, mn = parse_caption(p), parse_caption(n)
        assert mp.relation is not None and mn.relation == mp.relation
        assert satisfies(mp, scene) and not satisfies(mn, scene)
        assert sorted(p.split()) == sorted(n.split()), (p, n)
        if kind == "argument_swap":
            assert mn.objects == (mp.objects[1], mp.objects[0])
        else:
            assert [d.shape for d in mn.objects] == [d.shape for d in mp.objects]
    again = word_order_probe(test_split, n_pairs=500, seed=0)
    assert again["positive"] == probe["positive"]


def test_scene_twins_are_satisfied_unsatisfied_same_word_pairs(small):
    idx = np.arange(small.n_images)
    rows, pos, neg = scene_twins(small, idx, np.random.default_rng(0), argument_share=0.7)
    assert rows.dtype == np.int64 and len(rows) == len(pos) == len(neg) > 0
    multi = [r for r in idx if len(small.scenes[r]) >= 2]
    assert set(rows.tolist()) <= set(multi) and len(rows) >= 0.9 * len(multi)
    n_arg = 0
    for r, p, n in zip(rows, pos, neg):
        mp, mn = parse_caption(p), parse_caption(n)
        assert mp.relation is not None and mn.relation == mp.relation
        assert satisfies(mp, small.scenes[r]) and not satisfies(mn, small.scenes[r])
        assert sorted(p.split()) == sorted(n.split()), (p, n)
        n_arg += mn.objects == (mp.objects[1], mp.objects[0])
    assert 0.5 < n_arg / len(rows) < 0.9  # about argument_share of the pairs swap the arguments
    again = scene_twins(small, idx, np.random.default_rng(0), argument_share=0.7)
    assert again[1] == pos and again[2] == neg
    with pytest.raises(ValueError, match="image_indices"):
        scene_twins(small, [small.n_images], 0)
    with pytest.raises(ValueError, match="argument_share"):
        scene_twins(small, [0], 0, argument_share=1.5)


def test_word_order_probe_warns_when_short(small):
    with pytest.warns(UserWarning, match="fewer than n_pairs"):
        probe = word_order_probe(small, n_pairs=10_000)
    assert 0 < len(probe["kind"]) < 10_000


# ---------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("kwargs, arg", [
    (dict(n_images=0), "n_images"), (dict(n_images=10, seed=-1), "seed"),
    (dict(n_images=10, image_size=8), "image_size"),
    (dict(n_images=10, captions_per_image=0), "captions_per_image"),
    (dict(n_images=10, split_sizes=(5, 5, 5)), "split_sizes"),
    (dict(n_images=10, split_sizes="train"), "split_sizes"),
])
def test_make_shapes_rejects_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        make_shapes(cache=False, **kwargs)


def test_semantic_functions_reject_bad_inputs(small):
    with pytest.raises(ValueError, match="meaning"):
        satisfies("a red circle", small.scenes[0])
    with pytest.raises(ValueError, match="scene"):
        satisfies(small.meanings[0], "scene")
    with pytest.raises(ValueError, match="meanings"):
        relevance_matrix(small.meanings[0], small.scenes)
    with pytest.raises(ValueError, match="scenes"):
        relevance_matrix(small.meanings, [1, 2])
    with pytest.raises(ValueError, match="caption_indices"):
        hard_negatives(small, [10 ** 6], 0)
    with pytest.raises(ValueError, match="rng"):
        hard_negatives(small, [0], "seed")
    with pytest.raises(ValueError, match="n_pairs"):
        word_order_probe(small, n_pairs=0)
    from mmcourse.data import load_digits

    with pytest.raises(ValueError, match="dataset"):
        word_order_probe(load_digits())


def test_vectorised_and_scalar_relation_agree_at_the_margin():
    # 40 px: centres 0.375 and 0.525 are exactly 6/40 = 0.15 apart before float rounding
    scenes = make_shapes(150, seed=1, image_size=40, cache=False).scenes
    ms = [Meaning((Description(a.shape, a.colour), Description(b.shape, b.colour)), r)
          for sc in scenes if len(sc) > 1 for a in sc for b in sc if a != b for r in RELATIONS]
    rel = relevance_matrix(ms, scenes)
    expected = np.array([[relevance(m, s) for s in scenes] for m in ms], dtype=np.float32)
    np.testing.assert_array_equal(rel, expected)
