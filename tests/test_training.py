"""The framework-neutral training pieces (mmcourse/_training.py): schedule, clock, batches, prefetch."""
import threading

import numpy as np
import pytest

from mmcourse import _training
from mmcourse._training import Batches, Clock, lr_factor, prefetched
from mmcourse.data import make_shapes


class FakeTime:
    """A perf_counter that moves only when told to."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def fake_time(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(_training.time, "perf_counter", clock)
    return clock


def test_lr_factor_warms_up_then_decays_to_the_floor():
    assert lr_factor(0.0) == pytest.approx(0.05)  # never a zero learning rate
    assert lr_factor(0.015) == pytest.approx(0.5)
    assert lr_factor(0.03) == pytest.approx(1.0)
    values = [lr_factor(p) for p in np.linspace(0.03, 1.0, 50)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert lr_factor(1.0) == pytest.approx(0.02) and lr_factor(5.0) == pytest.approx(0.02)


def test_clock_without_budget_counts_steps(fake_time):
    clock = Clock(steps=10)
    assert [clock.progress(s) for s in (1, 6, 11)] == [0.0, 0.5, 1.0]
    fake_time.now += 1e6
    assert not clock.over() and clock.progress(2) == 0.1


def test_clock_budget_starts_after_the_first_step(fake_time):
    # a first step of 3 s (TensorFlow tracing) must not push step 2 past the warm-up
    clock = Clock(steps=10**6, time_budget=60.0)
    assert clock.progress(1) == 0.0
    fake_time.now += 3.0
    clock.step_done()
    fake_time.now += 0.05
    assert clock.progress(2) == pytest.approx(0.05 / 57.0)
    assert lr_factor(clock.progress(2)) < 0.1
    fake_time.now += 28.45  # half of the 57 s left after the first step
    assert clock.progress(3) == pytest.approx(0.5) and not clock.over()
    clock.step_done()  # only the first call counts
    assert clock.first_step_end == pytest.approx(3.0)
    fake_time.now += 28.5
    assert clock.over() and clock.progress(4) == 1.0
    assert clock.elapsed() == pytest.approx(60.0)


def test_clock_steps_win_when_they_run_ahead_of_time(fake_time):
    clock = Clock(steps=4, time_budget=1000.0)
    clock.step_done()
    fake_time.now += 1.0
    assert clock.progress(3) == 0.5


def test_batches_are_seeded_and_hold_distinct_images():
    data = make_shapes(60, seed=1, split_sizes=(60, 0, 0), cache=False)
    a = Batches(data, 16, np.random.default_rng(5))
    b = Batches(data, 16, np.random.default_rng(5))
    for _ in range(8):  # crosses epoch boundaries (60 images, 16 per batch)
        (ia, ca), (ib, cb) = a.next(), b.next()
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ca, cb)
        assert len(set(ia.tolist())) == 16
        assert all(data.caption_image[c] == i for c, i in zip(ca, ia))


def test_prefetched_gives_the_inline_sequence_from_a_worker_thread():
    def counter():
        rng = np.random.default_rng(0)
        threads = []

        def make():
            threads.append(threading.current_thread())
            return rng.integers(1 << 30)
        return make, threads

    inline, _ = counter()
    expected = [inline() for _ in range(20)]
    make, threads = counter()
    assert list(prefetched(make, 20)) == expected
    assert len(threads) == 20 and threading.main_thread() not in threads
    assert list(prefetched(make, 0)) == []


def test_prefetched_stops_early_and_passes_errors_on():
    calls = []

    def make():
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("batch 3 is broken")
        return len(calls)

    gen = prefetched(make, 10)
    assert next(gen) == 1 and next(gen) == 2
    with pytest.raises(ValueError, match="batch 3"):
        next(gen)
    calls.clear()
    for value in prefetched(lambda: calls.append(1) or len(calls), 100):
        if value == 2:
            break
    assert len(calls) <= 3  # at most one batch made ahead and dropped


# ----------------------------------------------------------------------------- configuration
@pytest.fixture(scope="module")
def shapes_small():
    return make_shapes(120, seed=4, split_sizes=(80, 20, 20), cache=False)


def test_training_config_fills_defaults_and_derives_steps(shapes_small):
    cfg = _training.training_config(shapes_small)
    assert cfg.steps == _training.DEFAULT_STEPS and cfg.eval_every == cfg.steps // 5
    assert cfg.num_threads == _training.DEFAULT_NUM_THREADS == 2
    assert cfg.mask_fn == "t2i" and cfg.pairs == (("image", "text"),)
    assert cfg.train.n_images == 80 and cfg.val.n_images == 20
    cfg = _training.training_config(shapes_small, epochs=2, batch_size=40, mask_false_negatives=True)
    assert cfg.steps == 2 * (80 // 40) and cfg.mask_fn == "both"
    assert _training.training_config(shapes_small, num_threads=None).num_threads is None


@pytest.mark.parametrize("kw,name", [
    (dict(loss="mse"), "loss"), (dict(rnn="cnn"), "rnn"), (dict(steps=0), "steps"),
    (dict(steps=2, epochs=1), "steps"), (dict(lr=None), "lr"), (dict(weight_decay=-1), "weight_decay"),
    (dict(margin="0.2"), "margin"), (dict(hinge_warmup=1.0), "hinge_warmup"),
    (dict(hard_negatives=1), "hard_negatives"), (dict(num_threads=1.5), "num_threads"),
    (dict(twin_weight=None, scene_twins=2), "twin_weight"), (dict(eval_every=0), "eval_every"),
    (dict(model_modalities=("image", "text"), trainable_pairs=(("image", "audio"),)), "model")])
def test_training_config_names_the_bad_argument(shapes_small, kw, name):
    with pytest.raises(ValueError, match=name):
        _training.training_config(shapes_small, **kw)


def test_counterfactual_options_need_a_dataset_that_has_them(shapes_small):
    from mmcourse import load_dataset

    digits = load_dataset("digits")
    with pytest.raises(ValueError, match="hard_negatives.*counterfactual.*digits"):
        _training.training_config(digits, hard_negatives=True)
    with pytest.raises(ValueError, match="scene_twins"):
        _training.training_config(digits, scene_twins=4)
    assert _training.training_config(shapes_small, hard_negatives=True, scene_twins=4).scene_twins == 4


def test_the_image_text_pair_draws_what_one_caption_per_image_drew():
    """The sampler is generic over modality pairs; for images and captions it makes exactly the
    draws of the original recipe (a permutation of the images with captions, then one caption per
    image, in batch order), so the default models' batches, and weights, are unchanged."""
    data = make_shapes(60, seed=1, split_sizes=(60, 0, 0), cache=False)
    caps = data.image_captions()
    rng = np.random.default_rng(9)
    images = np.array([i for i, c in enumerate(caps) if len(c)], dtype=np.int64)
    order, pos = np.empty(0, np.int64), 0
    sampler = Batches(data, 16, np.random.default_rng(9), pair=("image", "text"))
    for _ in range(9):
        if pos + 16 > len(order):
            order, pos = rng.permutation(images), 0
        img = order[pos:pos + 16]
        pos += 16
        cap = np.array([c[rng.integers(len(c))] for c in (caps[i] for i in img)])
        got_img, got_cap = sampler.next()
        np.testing.assert_array_equal(got_img, img)
        np.testing.assert_array_equal(got_cap, cap)


def test_batches_of_two_description_modalities_come_from_one_scene():
    spoken = make_shapes(40, seed=2, split_sizes=(40, 0, 0), cache=False).with_modality("audio")
    sampler = Batches(spoken, 8, np.random.default_rng(0), pair=("text", "audio"))
    for _ in range(6):
        t, a = sampler.next()
        scene_a = spoken.modality("audio").scene_index[a]
        np.testing.assert_array_equal(spoken.caption_image[t], scene_a)
        assert len(set(scene_a.tolist())) == 8


def test_batch_plan_has_one_part_per_pair_and_masks_by_the_dataset_relevance():
    spoken = make_shapes(60, seed=2, split_sizes=(50, 10, 0), cache=False).with_modality("audio")
    cfg = _training.training_config(spoken, batch_size=8, model_modalities=("image", "text", "audio"),
                                    trainable_pairs=None, hard_negatives=True)
    assert cfg.counterfactual_pair == ("image", "text")
    batch = _training.BatchPlan(cfg).next()
    assert [p.pair for p in batch.parts] == [("image", "text"), ("image", "audio"), ("text", "audio")]
    for part in batch.parts:
        want = spoken.subset("train").relevance(part.pair[1], part.pair[0], part.b, part.a,
                                                graded=False).T > 0
        np.testing.assert_array_equal(part.fn_mask, want)
        assert part.fn_mask.diagonal().all()
    assert batch.negatives and batch.images is batch.parts[0].a


def test_counterfactual_capabilities_are_asked_of_the_dataset():
    clips = pytest.importorskip("mmcourse.data.video").load_moving_shapes(
        n_train=12, n_val=0, n_test=2, cache=False, progress=False)
    assert clips.counterfactuals == ("hard_negatives",)
    cfg = _training.training_config(clips, model_modalities=("video", "text"), trainable_pairs=None,
                                    hard_negatives=True, batch_size=4)
    assert cfg.pairs == (("video", "text"),) and cfg.counterfactual_pair == ("video", "text")
    with pytest.raises(ValueError, match=r"^scene_twins: expected 0"):
        _training.training_config(clips, model_modalities=("video", "text"), trainable_pairs=None,
                                  scene_twins=4)
    with pytest.raises(ValueError, match=r"^model: expected towers whose modality pairs"):
        _training.training_config(clips, model_modalities=("video", "text"))  # image–text only


def test_batch_plan_is_seeded_and_uses_the_dataset_counterfactuals(shapes_small):
    cfg = _training.training_config(shapes_small, batch_size=16, hard_negatives=True, scene_twins=6,
                                    seed=3)
    a, b = _training.BatchPlan(cfg), _training.BatchPlan(cfg)
    for _ in range(3):
        x, y = a.next(), b.next()
        np.testing.assert_array_equal(x.images, y.images)
        assert x.negatives == y.negatives and x.twin_texts == y.twin_texts
        assert x.fn_mask.shape == (16, 16) and x.fn_mask.diagonal().all()
        assert len(x.twin_texts) == 2 * len(x.twin_rows) and x.twin_rows.max() < 6
    # the same draws as asking the dataset directly with the same generators
    plan = _training.BatchPlan(cfg)
    batches = Batches(cfg.train, 16, np.random.default_rng(3))
    img, cap = batches.next()
    first = plan.next()
    np.testing.assert_array_equal(first.captions, cap)
    want = [t for t in cfg.train.hard_negatives(cap.tolist(), np.random.default_rng(4)) if t]
    assert first.negatives == want


def test_make_evaluator_with_perfect_and_random_embeddings(shapes_small):
    val = shapes_small.subset("val")

    def perfect(modality, items):  # one-hot of the image, for images and captions alike
        idx = np.arange(len(items)) if modality == "image" else val.caption_image
        return np.eye(val.n_images, dtype=np.float32)[idx]

    out = _training.make_evaluator(val, 500, 0, perfect)()
    assert set(out) == {"val_R@1", "val_R@5", "val_R@10", "val_i2t_R@10"}
    assert out["val_R@1"] == 1.0 and out["val_i2t_R@10"] == 1.0
    assert _training.make_evaluator(None, 500, 0, perfect) is None
    ev = _training.make_evaluator(val, 5, 0, lambda m, items: np.ones((len(items), 3), np.float32))
    assert 0 <= ev()["val_R@10"] <= 1


def test_model_cache_variants_key_sources_and_lock(tmp_path):
    from mmcourse import _model_cache as mc

    mc.check_variant("shapes", "word_order", "keras")
    mc.check_variant("shapes", "speech", "torch")
    with pytest.raises(ValueError, match="variant"):
        mc.check_variant("digits", "word_order", "torch")
    with pytest.raises(ValueError, match="variant"):
        mc.check_variant("shapes", "speech", "keras")
    with pytest.raises(ValueError, match="dataset"):
        mc.check_variant("imagenet", "default", "torch")
    params = mc.default_model_params("digits", "default", track="keras", steps=3)
    assert params["train"] == dict(seed=0, rnn="gru", loss="infonce", hard_negatives=False, steps=3)
    names = [p.name for p in mc.source_files("torch")]
    assert "_model_cache.py" in names and "_training.py" in names and "train.py" in names
    assert not any(n.startswith("audio") for n in names)
    p1 = mc.model_path(params, dict(fw="1"), "keras", "digits", "default", ".npz", cache_dir=tmp_path)
    p2 = mc.model_path(params, dict(fw="2"), "keras", "digits", "default", ".npz", cache_dir=tmp_path)
    assert p1 != p2 and p1.parent == tmp_path / "models"
    built, memory = [], {}

    def build(path):
        built.append(path)
        path.write_text("model")
        return "model"

    assert mc.cached(p1, memory, lambda p: p.read_text(), build) == "model"
    memory.clear()
    assert mc.cached(p1, memory, lambda p: p.read_text() + "!", build) == "model!"
    assert built == [p1]


def test_scene_twins_start_after_the_curriculum_fraction(shapes_small):
    cfg = _training.training_config(shapes_small, batch_size=16, scene_twins=6, twin_start=0.5,
                                    steps=6, seed=3)
    plan = _training.BatchPlan(cfg)
    has = [plan.next().twin_rows is not None for _ in range(6)]
    assert has[:3] == [False] * 3 and all(has[3:])
    for bad in (1.0, -0.1, True, "half"):
        with pytest.raises(ValueError, match=r"^twin_start: expected a fraction"):
            _training.training_config(shapes_small, scene_twins=6, twin_start=bad)
