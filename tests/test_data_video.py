"""The moving-shapes clips (mmcourse.data.video*): the motion world and its relevance, rendering
faithful to the scenes, determinism and the cache, the "video" modality, the probes and the
errors. No torch here (the video tower is tested in test_torch_video.py)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mmcourse
from mmcourse.data import make_shapes
from mmcourse.data import video_make as VM
from mmcourse.data.shapes_render import box_size
from mmcourse.data.shapes_vocab import COLOURS, SHAPES
from mmcourse.data.video import (MAX_FRAMES, MIN_FRAMES, direction_probe, direction_twin,
                                 load_moving_shapes, reversal_probe)
from mmcourse.data.video_relevance import MotionRelevance
from mmcourse.data.video_world import (DIRECTIONS, PHRASES, REVERSED, SPEEDS, Clause, MotionMeaning,
                                       MovingObject, caption_text, grade, parse_caption,
                                       relevance_matrix, satisfies)

COLOUR_NAMES = tuple(COLOURS)
TINY = dict(n_train=12, n_val=4, n_test=8, seed=3, progress=False, cache=False)


def _load(**kw):
    return mmcourse.load_dataset("moving_shapes", **dict(TINY, **kw))


@pytest.fixture(scope="module")
def ds():
    return _load()


@pytest.fixture(scope="module")
def big():
    """More clips (still tiny) for the rendering checks: about 40 % of them have one object."""
    return _load(n_train=0, n_val=0, n_test=60, seed=5)


# ------------------------------------------------------------------ pixel helpers
def _bright(frame: np.ndarray) -> np.ndarray:
    """Object pixels of a frame: the background is at most 69 + 39 = 108 per channel, every
    palette colour (± 25 jitter) has a channel of at least 165."""
    return frame.max(axis=-1) >= 137


def _centroids(clip: np.ndarray) -> np.ndarray:
    """(T, 2) centre of mass (x, y) of the object pixels of each frame, in pixel units."""
    out = []
    for frame in clip:
        ys, xs = np.nonzero(_bright(frame))
        assert len(xs) > 0, "a frame without any object pixel"
        out.append((xs.mean() + 0.5, ys.mean() + 0.5))
    return np.array(out)


def _check_motion(clip: np.ndarray, obj: MovingObject) -> None:
    """A one-object clip shows ``obj`` moving as its scene says, frame by frame."""
    c = _centroids(clip)
    dx, dy = np.diff(c[:, 0]), np.diff(c[:, 1])
    if obj.direction == "still":
        masks = np.stack([_bright(f) for f in clip])
        assert (masks == masks[0]).all(), "a still object's pixels moved"
        colours = clip[masks]  # the object's colour is the same in every frame
        assert (colours == colours[0]).all()
        return
    along, across = {"left": (-dx, dy), "right": (dx, dy), "up": (-dy, dx), "down": (dy, dx)}[obj.direction]
    if obj.speed >= 1.0:
        assert (along > 0).all(), f"{obj.direction}: centre of mass steps {along} (expected all > 0)"
    else:  # sub-pixel speeds (long clips move slower per frame): some rounded steps are 0
        assert (along >= 0).all() and along.sum() > 0, f"{obj.direction}: centre of mass steps {along}"
    assert (across == 0).all(), f"{obj.direction}: the object drifts across its direction: {across}"
    # on average one step per frame is the speed (rounding to whole pixels: at most 1 px overall)
    assert abs(along.sum() - obj.speed * (len(clip) - 1)) <= 1.0


# ------------------------------------------------------------------ the world: hand cases
RED_CIRCLE_LEFT = MovingObject("circle", "red", 20.0, 16.0, "left", 1.5)
BLUE_SQUARE_STILL = MovingObject("square", "blue", 8.0, 8.0, "still", 0.0)
TWO = (RED_CIRCLE_LEFT, BLUE_SQUARE_STILL)


@pytest.mark.parametrize("caption, scene, expected", [
    ("a red circle moves left", TWO, 0.5),
    ("a red circle moves to the left", TWO, 0.5),
    ("a blue shape stays still", TWO, 0.5),
    ("a square does not move", TWO, 0.5),
    ("a red circle moves left while a blue square stays still", TWO, 1.0),
    ("a square stays still while a red shape moves left", TWO, 1.0),  # clause order is free
    ("a circle moves left while a square moves left", TWO, 0.0),
    ("a red circle moves left while a red circle moves left", TWO, 0.0),  # two distinct objects
    ("a red circle moves right", TWO, 0.0),
    ("a blue circle moves left", TWO, 0.0),
    ("a red circle moves left", (RED_CIRCLE_LEFT,), 1.0),
    ("a red circle stays still", (RED_CIRCLE_LEFT,), 0.0),
    ("a red circle moves left while a blue square stays still", (RED_CIRCLE_LEFT,), 0.0),
])
def test_grade_hand_cases(caption, scene, expected):
    meaning = parse_caption(caption)
    assert meaning is not None
    assert grade(scene, meaning) == expected
    assert satisfies(scene, meaning) == (expected > 0)
    assert relevance_matrix([meaning], [scene]).tolist() == [[expected]]


def test_relevance_matrix_hand_matrix():
    one = parse_caption("a red circle moves left")
    both = parse_caption("a red circle moves left while a blue square stays still")
    still = parse_caption("a blue square stays still")
    scenes = [TWO, (RED_CIRCLE_LEFT,), (BLUE_SQUARE_STILL,)]
    rel = relevance_matrix([one, both, still], scenes)
    assert rel.dtype == np.float32 and rel.shape == (3, 3)
    np.testing.assert_array_equal(rel, [[0.5, 1.0, 0.0], [1.0, 0.0, 0.0], [0.5, 0.0, 1.0]])
    assert relevance_matrix([], scenes).shape == (0, 3)
    assert relevance_matrix([one], []).shape == (1, 0)


def test_parse_caption_hand_cases():
    assert parse_caption("a red circle moves left while a blue square stays still") == MotionMeaning((
        Clause("circle", "red", "left"), Clause("square", "blue", "still")))
    assert parse_caption("a star rises") == MotionMeaning((Clause("star", None, "up"),))
    assert parse_caption("a green shape falls") == MotionMeaning((Clause(None, "green", "down"),))
    assert parse_caption("a cyan object does not move") == MotionMeaning((Clause(None, "cyan", "still"),))
    assert parse_caption("A  Red circle moves to the LEFT.") == MotionMeaning((Clause("circle", "red", "left"),))


@pytest.mark.parametrize("junk", [
    "", "hello world", "a moves left", "a shape moves left", "an object rises", "a red circle",
    "a red circle jumps", "a red circle moves sideways", "a pink circle moves left",
    "a red circle moves left while", "while a red circle moves left",
    "a red circle moves left while a blue square stays still while a star falls",
    "the red circle moves left", "a red circle left of a blue square", None, 42, ["a star rises"],
])
def test_parse_caption_rejects_junk(junk):
    assert parse_caption(junk) is None


def test_moving_object_reversal_hand_case():
    obj = MovingObject("circle", "red", 10.0, 5.0, "right", 2.0)
    back = obj.reversed(8)
    assert back == MovingObject("circle", "red", 24.0, 5.0, "left", 2.0)
    assert [back.centre(t) for t in range(8)] == [obj.centre(7 - t) for t in range(8)]
    assert back.reversed(8) == obj
    up = MovingObject("star", "cyan", 16.0, 25.0, "up", 1.5)
    assert up.centre(2) == (16.0, 22.0)
    assert up.reversed(8) == MovingObject("star", "cyan", 16.0, 14.5, "down", 1.5)
    assert BLUE_SQUARE_STILL.reversed(8) == BLUE_SQUARE_STILL
    assert MotionMeaning((Clause("star", None, "up"), Clause(None, "red", "still"))).reversed() == \
        MotionMeaning((Clause("star", None, "down"), Clause(None, "red", "still")))


def test_caption_text_hand_cases():
    m = MotionMeaning((Clause("circle", "red", "left"), Clause(None, "blue", "up")))
    assert caption_text(m) == "a red circle moves left while a blue shape moves up"
    assert caption_text(m, (1, 1)) == "a red circle moves to the left while a blue shape rises"
    assert caption_text(MotionMeaning((Clause("star", None, "still"),)), (1,)) == "a star does not move"


@pytest.mark.parametrize("caption, twin", [
    ("a red circle moves left", "a red circle moves right"),
    ("a star rises while a cyan shape moves to the left", "a star falls while a cyan shape moves to the right"),
    ("a square moves up while a circle moves down", "a square moves down while a circle moves up"),
    ("a blue square stays still", "a blue square stays still"),
    ("a diamond falls while a red shape does not move", "a diamond rises while a red shape does not move"),
])
def test_direction_twin_hand_cases(caption, twin):
    assert direction_twin(caption) == twin
    assert direction_twin(twin) == caption


def test_labels_of_hand_case():
    labels, names = VM.labels_of([TWO, (BLUE_SQUARE_STILL,)])
    assert labels.shape == (2, len(SHAPES) + len(COLOURS) + len(DIRECTIONS)) == (2, 18)
    on = [{names[i] for i in np.flatnonzero(row)} for row in labels]
    assert on == [{"circle", "square", "red", "blue", "moves left", "still"}, {"square", "blue", "still"}]


# ------------------------------------------------------------------ the world: properties
clauses = st.builds(Clause, st.none() | st.sampled_from(SHAPES), st.none() | st.sampled_from(COLOUR_NAMES),
                    st.sampled_from(DIRECTIONS))
described = clauses.filter(lambda c: c.shape is not None or c.colour is not None)
meanings = st.lists(clauses, min_size=1, max_size=2).map(lambda cs: MotionMeaning(tuple(cs)))
grammatical = st.lists(described, min_size=1, max_size=2).map(lambda cs: MotionMeaning(tuple(cs)))
f32 = st.floats(0, 32, allow_nan=False).map(lambda v: float(np.float32(v)))
objects = st.builds(MovingObject, st.sampled_from(SHAPES), st.sampled_from(COLOUR_NAMES), f32, f32,
                    st.sampled_from(DIRECTIONS), st.sampled_from((0.0,) + SPEEDS))
scenes = st.lists(objects, min_size=1, max_size=2).map(tuple)


@settings(max_examples=60)
@given(ms=st.lists(meanings, min_size=1, max_size=8), ss=st.lists(scenes, min_size=1, max_size=8))
def test_relevance_matrix_equals_brute_force(ms, ss):
    ref = np.array([[grade(s, m) for s in ss] for m in ms], dtype=np.float32)
    got = relevance_matrix(ms, ss)
    assert got.dtype == np.float32 and got.shape == (len(ms), len(ss))
    np.testing.assert_array_equal(got, ref)


@settings(max_examples=60)
@given(m=meanings, s=scenes)
def test_grade_is_invariant_under_time_reversal_of_both(m, s):
    back = tuple(o.reversed(8) for o in s)
    assert grade(back, m.reversed()) == grade(s, m)
    assert grade(s, m) in {0.0, len(m.clauses) / len(s)}


@settings(max_examples=80)
@given(m=grammatical, phrases=st.tuples(st.integers(0, 1), st.integers(0, 1)))
def test_caption_text_parses_back_and_its_twin_is_the_reversal(m, phrases):
    text = caption_text(m, phrases)
    assert parse_caption(text) == m
    twin = direction_twin(text)
    assert parse_caption(twin) == m.reversed()
    assert len(twin.split()) == len(text.split())
    assert (twin == text) == all(c.direction == "still" for c in m.clauses)


@settings(max_examples=40)
@given(ss=st.lists(scenes, min_size=1, max_size=6), ms=st.lists(meanings, min_size=1, max_size=6))
def test_pack_unpack_round_trip(ss, ms):
    assert VM.unpack_scenes(VM.pack_scenes(ss)) == list(ss)
    assert VM.unpack_meanings(VM.pack_meanings(ms)) == list(ms)


def test_phrases_are_twins_of_their_reversal():
    for d, ps in PHRASES.items():
        assert len(ps) == len(PHRASES[REVERSED[d]])
        for p, q in zip(ps, PHRASES[REVERSED[d]]):
            assert direction_twin(p) == q and len(p.split()) == len(q.split())


# ------------------------------------------------------------------ the dataset
def test_dataset_shapes_and_modalities(ds):
    clips = ds.get("video")
    n = 12 + 4 + 8
    assert clips.shape == (n, 8, 32, 32, 3) and clips.dtype == np.uint8
    assert ds.modalities == ("image", "text", "video")
    assert ds.images.shape == (n, 32, 32, 3) and ds.images.dtype == np.uint8
    np.testing.assert_array_equal(ds.images, clips[:, 0])
    assert [int((ds.split == s).sum()) for s in ("train", "val", "test")] == [12, 4, 8]
    assert ds.n_captions == 4 * n and np.bincount(ds.caption_image, minlength=n).tolist() == [4] * n
    assert len(ds.scenes) == n and len(ds.meanings) == ds.n_captions
    assert all(1 <= len(s) <= 2 for s in ds.scenes)
    assert ds.labels.shape == (n, 18) and len(ds.label_names) == 18
    np.testing.assert_array_equal(ds.labels, VM.labels_of(ds.scenes)[0])
    assert ds.count("video") == n and ds.info["frames"] == 8
    mod = ds.modality("video")
    assert mod.role == "scene" and mod.info["frames"] == 8 and mod.info["fps"] == VM.FPS
    np.testing.assert_array_equal(mod.scene_index, np.arange(n))
    assert isinstance(ds.rule, MotionRelevance)


def test_other_frames_and_sizes():
    d = _load(n_train=0, n_val=0, n_test=3, frames=10, image_size=48, captions_per_clip=2)
    assert d.get("video").shape == (3, 10, 48, 48, 3) and d.n_captions == 6
    assert d.info["frames"] == 10 and d.modality("video").info["frames"] == 10


def test_captions_fit_their_clip_and_parse_back_to_their_meaning(ds):
    for j, (text, meaning) in enumerate(zip(ds.captions, ds.meanings)):
        assert parse_caption(text) == meaning, text
        assert grade(ds.scenes[ds.caption_image[j]], meaning) > 0, text


def test_scenes_have_distinct_kinds_and_consistent_speeds(big):
    for scene in big.scenes:
        kinds = [(o.shape, o.colour) for o in scene]
        assert len(set(kinds)) == len(kinds)
        for o in scene:
            assert (o.speed == 0.0) == (o.direction == "still")
            assert o.speed in (0.0,) + SPEEDS


def test_same_seed_same_clips_other_seed_other_clips():
    a, b, c = _load(), _load(), _load(seed=4)
    np.testing.assert_array_equal(a.get("video"), b.get("video"))
    assert a.captions == b.captions and a.scenes == b.scenes and a.meanings == b.meanings
    assert not np.array_equal(a.get("video"), c.get("video"))
    assert a.scenes != c.scenes


def test_test_and_val_clips_do_not_depend_on_n_train():
    small, large = _load(n_train=2), _load(n_train=20)
    for split in ("test", "val"):
        s, g = small.subset(split), large.subset(split)
        np.testing.assert_array_equal(s.get("video"), g.get("video"))
        assert s.captions == g.captions and s.scenes == g.scenes and s.meanings == g.meanings


def test_cache_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("MMCOURSE_CACHE", str(tmp_path))
    first = _load(cache=True)
    files = list(tmp_path.glob("moving-shapes-*.npz"))
    assert len(files) == 1
    # the second load reads the file: generating again would fail
    monkeypatch.setattr(VM, "generate", lambda *a, **k: pytest.fail("regenerated despite the cache"))
    again = _load(cache=True)
    monkeypatch.undo()
    fresh = _load(cache=False)
    for other in (again, fresh):
        np.testing.assert_array_equal(other.get("video"), first.get("video"))
        np.testing.assert_array_equal(other.caption_image, first.caption_image)
        np.testing.assert_array_equal(other.split, first.split)
        assert other.scenes == first.scenes and other.meanings == first.meanings
        assert other.captions == first.captions


def test_subset_keeps_video_aligned(ds):
    test_idx = np.flatnonzero(ds.split == "test")
    t = ds.subset("test")
    assert t.modalities == ("image", "text", "video")
    np.testing.assert_array_equal(t.get("video"), ds.get("video")[test_idx])
    np.testing.assert_array_equal(t.images, t.get("video")[:, 0])
    np.testing.assert_array_equal(t.modality("video").scene_index, np.arange(len(test_idx)))
    assert t.scenes == [ds.scenes[i] for i in test_idx]
    for k, i in enumerate(test_idx):
        assert t.captions_of(k) == ds.captions_of(i)
    np.testing.assert_array_equal(t.relevance("text", "video"), relevance_matrix(t.meanings, t.scenes))


def test_relevance_of_the_dataset(ds):
    ref = relevance_matrix(ds.meanings, ds.scenes)
    np.testing.assert_array_equal(ds.relevance("text", "video"), ref)
    np.testing.assert_array_equal(ds.relevance("text", "image"), ref)  # the image is the first frame
    np.testing.assert_array_equal(ds.relevance("video", "text"), ref.T)
    np.testing.assert_array_equal(ds.relevance("text", "video", graded=False), (ref > 0).astype(np.float32))
    # each caption fits its own clip, and its grade is the fraction of objects it describes
    own = ref[np.arange(ds.n_captions), ds.caption_image]
    expected = [len(m.clauses) / len(ds.scenes[k]) for m, k in zip(ds.meanings, ds.caption_image)]
    np.testing.assert_allclose(own, expected)
    cap, clip = [3, 0, 7], [5, 1]
    np.testing.assert_array_equal(ds.relevance("text", "video", cap, clip), ref[np.ix_(cap, clip)])


def test_query_relevance_parses_new_motion_text(ds):
    text = "a red shape moves to the left"
    expected = relevance_matrix([parse_caption(text)], ds.scenes)[0]
    np.testing.assert_array_equal(ds.query_relevance("text", text, "video"), expected)
    assert ds.query_relevance("text", "a dog runs", "video") is None


# ------------------------------------------------------------------ rendering
def _scene_for(direction: str, speed: float, shape: str = "square", colour: str = "red", frames: int = 8):
    """One object whose whole path stays well inside a 32 px frame."""
    disp = (frames - 1) * speed
    x = {"left": 6 + disp, "right": 6.0}.get(direction, 15.0)
    y = {"up": 6 + disp, "down": 6.0}.get(direction, 15.0)
    return (MovingObject(shape, colour, float(np.float32(x)), float(np.float32(y)), direction,
                         speed if direction != "still" else 0.0),)


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("speed", SPEEDS)
def test_rendered_motion_follows_the_scene(direction, speed):
    scenes = [_scene_for(direction, speed, shape) for shape in SHAPES]
    clips = VM.render_clips(scenes, 32, 8, np.random.default_rng(0))
    assert clips.shape == (len(SHAPES), 8, 32, 32, 3) and clips.dtype == np.uint8
    for clip, scene in zip(clips, scenes):
        _check_motion(clip, scene[0])
    # a square is symmetric: its centre of mass is the object's centre, frame by frame
    c = _centroids(clips[SHAPES.index("square")])
    want = np.array([scenes[SHAPES.index("square")][0].centre(t) for t in range(8)])
    assert np.abs(c - want).max() <= 0.5 + 1e-9


def test_background_noise_is_fresh_each_frame_and_objects_are_flat():
    clip = VM.render_clips([(BLUE_SQUARE_STILL,)], 32, 8, np.random.default_rng(1))[0]
    bg = ~_bright(clip[0])
    assert not np.array_equal(clip[0][bg], clip[1][bg])
    assert clip.max(axis=-1)[:, bg].max() <= 108
    obj = clip[:, ~bg]
    assert (obj == obj[0, 0]).all()  # one colour, the same in every frame


def test_render_is_deterministic_in_the_rng():
    scenes = [TWO, (RED_CIRCLE_LEFT,)]
    a = VM.render_clips(scenes, 32, 8, np.random.default_rng(7))
    b = VM.render_clips(scenes, 32, 8, np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)


def test_dataset_clips_show_their_scene(big):
    one = [k for k, s in enumerate(big.scenes) if len(s) == 1]
    assert len(one) >= 10
    for k in one:
        _check_motion(big.get("video")[k], big.scenes[k][0])


@pytest.mark.parametrize("frames", [MIN_FRAMES, 12, MAX_FRAMES])
def test_objects_stay_inside_the_frame_for_every_allowed_length(frames):
    """Every centre of every frame keeps the whole object inside the image (no clamping at the
    border, which would stop the object mid-clip), and one-object clips show the full motion."""
    d = _load(n_train=0, n_val=0, n_test=40, seed=1, frames=frames)
    half = box_size("small", 32) / 2
    outside = [(k, o) for k, s in enumerate(d.scenes) for o in s
               if not all(half <= v <= 32 - half for t in range(frames) for v in o.centre(t))]
    assert outside == [], f"{len(outside)} objects leave the frame, e.g. {outside[:2]}"
    for k, s in enumerate(d.scenes):
        if len(s) == 1:
            _check_motion(d.get("video")[k], s[0])


def test_reversed_clip_fits_the_reversed_scene(ds):
    """clip[::-1] shows exactly the objects of the reversed scene, frame by frame."""
    frames = ds.info["frames"]
    clips = ds.get("video")
    backwards = [tuple(o.reversed(frames) for o in s) for s in ds.scenes]
    rendered = VM.render_clips(backwards, 32, frames, np.random.default_rng(123))
    for k in range(len(clips)):
        np.testing.assert_array_equal(_bright(clips[k][::-1]), _bright(rendered[k]))
    for j, m in enumerate(ds.meanings):
        k = ds.caption_image[j]
        assert grade(backwards[k], m.reversed()) == grade(ds.scenes[k], m)


# ------------------------------------------------------------------ probes
def test_reversal_probe(ds):
    p = reversal_probe(ds)
    assert p["caption_index"].dtype == np.int64 and p["clip_index"].dtype == np.int64
    assert len(p["caption_index"]) == len(p["clip_index"]) > 0
    frames = ds.info["frames"]
    chosen = set()
    for j, k in zip(p["caption_index"].tolist(), p["clip_index"].tolist()):
        assert k == ds.caption_image[j]
        scene = ds.scenes[k]
        backwards = tuple(o.reversed(frames) for o in scene)
        assert grade(scene, ds.meanings[j]) > 0 and grade(backwards, ds.meanings[j]) == 0
        assert any(c.direction != "still" for c in ds.meanings[j].clauses)
        chosen.add(j)
    # every caption with that property is in the probe
    for j, m in enumerate(ds.meanings):
        scene = ds.scenes[ds.caption_image[j]]
        if grade(tuple(o.reversed(frames) for o in scene), m) == 0:
            assert j in chosen


def test_direction_probe(ds):
    p = direction_probe(ds)
    n = len(p["positive"])
    assert n > 0 and len(p["negative"]) == len(p["clip_index"]) == len(p["caption_index"]) == n
    assert p["clip_index"].dtype == np.int64 and p["caption_index"].dtype == np.int64
    words = {w for ps in PHRASES.values() for p_ in ps for w in p_.split()}
    direction_words = {"left", "right", "up", "down", "rises", "falls"}
    assert direction_words <= words
    for k, j, pos, neg in zip(p["clip_index"].tolist(), p["caption_index"].tolist(), p["positive"], p["negative"]):
        assert pos == ds.captions[j] and k == ds.caption_image[j]
        assert neg == direction_twin(pos) and neg != pos
        a, b = pos.split(), neg.split()
        assert len(a) == len(b)
        assert all(x == y or (x in direction_words and y in direction_words) for x, y in zip(a, b))
        assert grade(ds.scenes[k], parse_caption(pos)) > 0
        assert grade(ds.scenes[k], parse_caption(neg)) == 0


@pytest.mark.parametrize("probe", [reversal_probe, direction_probe])
def test_probes_refuse_other_datasets(probe):
    still = make_shapes(6, seed=0, cache=False, split_sizes=(2, 2, 2))
    with pytest.raises(ValueError, match=r"^dataset: expected the moving-shapes clips.*got"):
        probe(still)
    with pytest.raises(ValueError, match=r"^dataset: expected"):
        probe("moving_shapes")


# ------------------------------------------------------------------ errors
def test_still_datasets_have_no_video():
    with pytest.raises(ValueError, match="moving_shapes"):
        mmcourse.load_dataset("shapes", modalities=("image", "text", "video"), n_train=4, n_val=2,
                              n_test=2, cache=False, progress=False)
    still = make_shapes(6, seed=0, cache=False, split_sizes=(2, 2, 2))
    with pytest.raises(ValueError, match=r"^dataset:.*still images.*moving_shapes"):
        still.with_modality("video")


def test_moving_shapes_with_explicit_modalities(ds):
    d = mmcourse.load_dataset("moving_shapes", modalities=("image", "text", "video"), **TINY)
    assert d.modalities == ("image", "text", "video")
    np.testing.assert_array_equal(d.get("video"), ds.get("video"))


@pytest.mark.parametrize("kw, name, got", [
    (dict(n_train=-1), "n_train", "-1"), (dict(n_val=-2), "n_val", "-2"), (dict(n_test=-3), "n_test", "-3"),
    (dict(n_train=2.5), "n_train", "2.5"), (dict(n_test="8"), "n_test", "'8'"), (dict(n_val=True), "n_val", "True"),
    (dict(n_train=0, n_val=0, n_test=0), "n_train", "0"),
    (dict(frames=7), "frames", "7"), (dict(frames=17), "frames", "17"), (dict(frames=0), "frames", "0"),
    (dict(frames=8.0), "frames", "8.0"), (dict(image_size=8), "image_size", "8"),
    (dict(captions_per_clip=0), "captions_per_clip", "0"), (dict(seed=-1), "seed", "-1"),
])
def test_bad_arguments_name_themselves(kw, name, got):
    with pytest.raises(ValueError, match=rf"^{name}\b.*expected.*got.*{got}"):
        _load(**kw)
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        load_moving_shapes(**dict(TINY, **kw))


def test_allowed_frame_range_is_documented_by_the_constants():
    assert (MIN_FRAMES, MAX_FRAMES) == (8, 16)
    for frames in (MIN_FRAMES, MAX_FRAMES):
        assert _load(n_train=0, n_val=0, n_test=1, frames=frames).get("video").shape[1] == frames


def test_sample_captions_always_gives_n(ds):
    import random

    texts, ms = VM.sample_captions((RED_CIRCLE_LEFT,), 10, random.Random(0))
    assert len(texts) == len(ms) == 10
    for t, m in zip(texts, ms):
        assert parse_caption(t) == m and grade((RED_CIRCLE_LEFT,), m) == 1.0
    assert len(set(texts)) == 6  # 3 descriptions x 2 verb phrases: all of them before repeating
    pairs = list(itertools.islice(zip(*VM.sample_captions(TWO, 6, random.Random(1))), 6))
    assert all(grade(TWO, m) > 0 for _, m in pairs)
