"""The PyTorch video tower (mmcourse.torch.video): clip validation, the three temporal kinds,
VideoModel with embed(), order (in)variance, a few training steps, save / load and the cache."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import mmcourse  # noqa: E402
from mmcourse.data.video import reversal_probe  # noqa: E402
from mmcourse.text import Vocabulary  # noqa: E402
from mmcourse.torch import video as V  # noqa: E402
from mmcourse.torch.embed import embed, embed_texts  # noqa: E402

SMALL = dict(embed_dim=16, frame_dim=16, channels=(4, 8, 8), conv3d_channels=(4, 8, 8), word_dim=8,
             hidden_dim=16)
#: a few steps on a tiny split; one thread (the machine's cores are shared: two threads are far slower)
TRAIN = dict(steps=3, batch_size=8, seed=0, progress=False, num_threads=1, **SMALL)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def ds():
    return mmcourse.load_dataset("moving_shapes", n_train=16, n_val=0, n_test=6, seed=2, progress=False,
                                 cache=False)


@pytest.fixture(scope="module")
def clips(ds):
    return ds.get("video")[:6]


@pytest.fixture(scope="module")
def models(ds):
    vocab = Vocabulary.build(ds.captions)
    out = {}
    for kind in V.KINDS:
        torch.manual_seed(0)
        out[kind] = V.VideoModel(vocab, kind=kind, **SMALL).eval()
    return out


# ----------------------------------------------------------------------------- validation
def _clips(n=2, t=8, h=32, w=32, c=3, dtype=np.uint8):
    return np.zeros((n, t, h, w, c), dtype=dtype)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((8, 32, 32, 3), np.uint8), r"videos: expected 5 dimensions.*\(8, 32, 32, 3\).*batch axis"),
    (np.zeros((2, 8, 32, 32), np.uint8), r"videos: expected 5 dimensions"),
    (_clips(c=1), r"videos: expected 3 colour channels.*\(2, 8, 32, 32, 1\)"),
    (_clips(c=4), r"videos: expected 3 colour channels.*\(2, 8, 32, 32, 4\)"),
    (_clips(n=0), r"videos: expected at least one clip.*empty"),
    (np.full((1, 8, 32, 32, 3), np.nan, np.float32), r"videos: expected finite.*NaN"),
    (np.full((1, 8, 32, 32, 3), np.inf), r"videos: expected finite.*inf"),
    ("clips", r"videos: expected a numeric array.*str"),
    (None, r"videos: expected .*array.*None"),
    ([[1, 2], [3]], r"videos: expected an array of clips"),
    (np.zeros((1, 8, 32, 32, 3), dtype=object), r"videos: expected a numeric array"),
])
def test_check_videos_errors(bad, match):
    with pytest.raises(ValueError, match=match):
        V.check_videos(bad)


def test_check_videos_min_frames_and_accepts_floats():
    with pytest.raises(ValueError, match=r"videos: expected at least 3 frames.*got T=2"):
        V.check_videos(_clips(t=2), min_frames=3)
    arr = _clips(dtype=np.float32) + 200.0
    assert V.check_videos(arr) is arr
    x = V.videos_to_tensor(_clips(n=2, t=5) + np.uint8(255))
    assert tuple(x.shape) == (2, 3, 5, 32, 32) and x.dtype == torch.float32 and float(x.max()) == 1.0


@pytest.mark.parametrize("kind", V.KINDS)
def test_embed_videos_errors_name_videos(models, kind):
    model = models[kind]
    for bad in (np.zeros((8, 32, 32, 3), np.uint8), _clips(c=1), _clips(c=4), _clips(n=0),
                np.full((1, 8, 32, 32, 3), np.nan), "clips", 3):
        with pytest.raises(ValueError, match=r"^videos: expected"):
            V.embed_videos(model, bad)
    short = V.MIN_FRAMES[kind] - 1
    if short >= 1:
        with pytest.raises(ValueError, match=rf"^videos: expected at least {V.MIN_FRAMES[kind]} frames.*T={short}"):
            V.embed_videos(model, _clips(t=short))
    with pytest.raises(ValueError, match=r"^batch_size"):
        V.embed_videos(model, _clips(), batch_size=0)


def test_temporal_needs_three_frames(models):
    with pytest.raises(ValueError, match=r"^videos: expected at least 3 frames.*T=2"):
        V.embed_videos(models["temporal"], _clips(t=2))
    with pytest.raises(ValueError, match=r"^videos: .*T=2"):
        embed(models["temporal"], "video", _clips(t=2))


def test_embed_videos_needs_a_video_model(models, clips):
    from mmcourse.torch.encoders import DualEncoder

    vocab = Vocabulary.build(["a red circle"])
    dual = DualEncoder(vocab, embed_dim=8, channels=(4, 8), head_dim=8, word_dim=8, hidden_dim=8)
    for bad in (dual, "model", None, models["meanp"].video_encoder):
        with pytest.raises(ValueError, match=r"^model: expected a mmcourse.torch.video.VideoModel.*got"):
            V.embed_videos(bad, clips)


def test_video_encoder_and_model_reject_bad_arguments(ds):
    with pytest.raises(ValueError, match=r"^kind: expected one of.*'lstm'"):
        V.VideoEncoder(kind="lstm")
    with pytest.raises(ValueError, match=r"^kind"):
        V.VideoModel(Vocabulary.build(ds.captions), kind="mean")
    with pytest.raises(ValueError, match=r"^embed_dim"):
        V.VideoEncoder(kind="meanp", embed_dim=0)
    with pytest.raises(ValueError, match=r"^vocab"):
        V.VideoModel(["a", "b"], kind="meanp")
    enc = V.VideoEncoder(kind="temporal", embed_dim=8, frame_dim=8, channels=(4, 4, 4))
    with pytest.raises(ValueError, match=r"^x: expected"):
        enc(torch.zeros(2, 8, 3, 32, 32))
    with pytest.raises(ValueError, match=r"^x: expected at least 3 frames"):
        enc(torch.zeros(2, 3, 2, 32, 32))


# ----------------------------------------------------------------------------- the kinds
@pytest.mark.parametrize("kind", V.KINDS)
def test_embeddings_shape_norm_dtype(models, clips, kind):
    model = models[kind]
    e = V.embed_videos(model, clips)
    assert e.shape == (len(clips), 16) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(embed(model, "video", clips), e)
    # batching does not change a row (eval mode: no batch statistics)
    np.testing.assert_allclose(V.embed_videos(model, clips, batch_size=4), e, atol=1e-5)
    np.testing.assert_allclose(V.embed_videos(model, clips[2:3])[0], e[2], atol=1e-5)
    # float input in [0, 255] is the same as uint8
    np.testing.assert_allclose(V.embed_videos(model, clips.astype(np.float32)), e, atol=1e-6)
    assert model.kind == kind and model.modalities == ("video", "text")
    assert not model.training  # embedding restores the mode


@pytest.mark.parametrize("kind", V.KINDS)
def test_text_tower_of_a_video_model(models, ds, kind):
    model = models[kind]
    caps = ds.captions[:5]
    t = embed(model, "text", caps)
    assert t.shape == (5, 16) and t.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(t, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(embed_texts(model, caps), t)
    with pytest.raises(ValueError, match=r"texts"):
        embed_texts(model, [""])


def _reversal_score(model, ds):
    """The reversal probe: fraction of pairs where the caption is closer to the clip than to the
    clip played backwards, ties counting 1/2."""
    p = reversal_probe(ds)
    clips = ds.get("video")[p["clip_index"]]
    txt = embed(model, "text", [ds.captions[j] for j in p["caption_index"]])
    fwd = (V.embed_videos(model, clips) * txt).sum(1)
    back = (V.embed_videos(model, clips[:, ::-1]) * txt).sum(1)
    return float(np.mean(np.where(fwd > back, 1.0, np.where(fwd == back, 0.5, 0.0)))), len(fwd)


def test_meanp_is_exactly_order_invariant(models, ds, clips):
    model = models["meanp"]
    e = V.embed_videos(model, clips)
    np.testing.assert_array_equal(V.embed_videos(model, clips[:, ::-1]), e)
    np.testing.assert_array_equal(V.embed_videos(model, np.ascontiguousarray(clips[:, ::-1])), e)
    # any permutation of the frames: the same up to float rounding
    perm = np.random.default_rng(0).permutation(clips.shape[1])
    np.testing.assert_allclose(V.embed_videos(model, clips[:, perm]), e, atol=1e-5)
    score, n = _reversal_score(model, ds)
    assert n > 0 and score == 0.5


@pytest.mark.parametrize("kind", ["temporal", "conv3d"])
def test_temporal_towers_see_the_order(models, ds, clips, kind):
    model = models[kind]
    e = V.embed_videos(model, clips)
    back = V.embed_videos(model, clips[:, ::-1])
    assert not np.array_equal(back, e)
    assert np.abs(back - e).max() > 1e-6  # a real difference, not float noise (meanp: exactly 0)
    score, _ = _reversal_score(model, ds)
    assert score != 0.5


def test_min_frames_per_kind_are_enough(models):
    for kind, model in models.items():
        t = V.MIN_FRAMES[kind]
        rng = np.random.default_rng(0)
        e = V.embed_videos(model, rng.integers(0, 256, (2, t, 32, 32, 3), dtype=np.uint8))
        assert e.shape == (2, 16) and np.isfinite(e).all()


# ----------------------------------------------------------------------------- training
def test_train_is_deterministic_for_a_seed(ds, clips):
    model, hist = V.train_video_model(ds, kind="temporal", **TRAIN)
    again, hist2 = V.train_video_model(ds, kind="temporal", **TRAIN)
    assert isinstance(model, V.VideoModel) and not model.training
    assert set(hist) >= {"loss", "seconds", "parameters", "train_seconds"}
    assert len(hist["loss"]) == len(hist["seconds"]) == 3 and np.isfinite(hist["loss"]).all()
    assert hist["seconds"] == sorted(hist["seconds"]) and hist["train_seconds"] >= hist["seconds"][-1]
    from mmcourse.torch.encoders import count_parameters

    assert hist["parameters"] == count_parameters(model)
    assert hist2["loss"] == hist["loss"]
    np.testing.assert_array_equal(V.embed_videos(again, clips), V.embed_videos(model, clips))
    np.testing.assert_array_equal(embed(again, "text", ds.captions[:4]), embed(model, "text", ds.captions[:4]))
    other, _ = V.train_video_model(ds, kind="temporal", **dict(TRAIN, seed=1))
    assert not np.allclose(V.embed_videos(other, clips), V.embed_videos(model, clips))
    assert torch.get_num_threads() == 1  # restored


@pytest.mark.parametrize("kind", ["meanp", "conv3d"])
def test_train_other_kinds(ds, kind):
    model, hist = V.train_video_model(ds, kind=kind, twin_negatives=(kind == "meanp"), **TRAIN)
    assert model.kind == kind and len(hist["loss"]) == 3 and np.isfinite(hist["loss"]).all()


@pytest.mark.parametrize("kw, match", [
    (dict(kind="rnn"), "kind"), (dict(steps=0), "steps"), (dict(batch_size=1), "batch_size"),
    (dict(seed=-1), "seed"), (dict(twin_negatives="yes"), "twin_negatives"),
])
def test_train_bad_arguments(ds, kw, match):
    with pytest.raises(ValueError, match=rf"^{match}: expected"):
        V.train_video_model(ds, **dict(TRAIN, **kw))


def test_train_runs_through_the_course_training_loop(ds):
    """The video tower trains in train_dual_encoder over the (video, text) pair, with the
    direction twins as the dataset's hard negatives; a batch larger than the clips is clamped
    to them, as for images."""
    model, hist = V.train_video_model(ds, kind="meanp", **dict(TRAIN, batch_size=64))
    assert {"step", "loss", "temperature", "lr", "val_R@10"} <= set(hist)
    assert model.train_info["steps"] == len(hist["step"]) == TRAIN["steps"]
    from mmcourse._training import training_config

    cfg = training_config(ds, model_modalities=("video", "text"), trainable_pairs=None,
                          hard_negatives=True)
    assert cfg.pairs == (("video", "text"),) and cfg.counterfactual_pair == ("video", "text")


def test_train_needs_clips():
    from mmcourse.data import make_shapes

    still = make_shapes(12, seed=0, cache=False, split_sizes=(8, 2, 2))
    with pytest.raises(ValueError, match=r"^dataset: expected a dataset with a 'video' modality"):
        V.train_video_model(still, **TRAIN)


# ----------------------------------------------------------------------------- save / load / cache
@pytest.mark.parametrize("kind", V.KINDS)
def test_save_and_load_round_trip(models, clips, ds, tmp_path, kind):
    model = models[kind]
    path = V.save_video_model(model, tmp_path / f"{kind}.pt")
    back = V.load_video_model_file(path)
    assert isinstance(back, V.VideoModel) and back.kind == kind and not back.training
    assert back.config == model.config
    np.testing.assert_array_equal(V.embed_videos(back, clips), V.embed_videos(model, clips))
    np.testing.assert_array_equal(embed(back, "text", ds.captions[:3]), embed(model, "text", ds.captions[:3]))


def test_loading_a_bad_file_names_path(tmp_path, models):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a torch file at all")
    with pytest.raises(ValueError, match=r"^path: expected a VideoModel saved by mmcourse.torch.save_model"):
        V.load_video_model_file(garbage)
    with pytest.raises(ValueError, match=r"^path: .*no such file"):
        V.load_video_model_file(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    torch.save({"format": "something else", "weights": torch.zeros(2)}, other)
    with pytest.raises(ValueError, match=r"^path: expected a VideoModel saved by mmcourse.torch.save_model"):
        V.load_video_model_file(other)
    with pytest.raises(ValueError, match=r"^model"):
        V.save_video_model("model", tmp_path / "x.pt")


def test_video_model_path_changes_with_the_parameters(tmp_path):
    a = V.video_model_path(cache_dir=tmp_path)
    assert a == V.video_model_path(cache_dir=tmp_path)
    assert a.parent == tmp_path / "models" and a.suffix == ".pt" and V.BEST_KIND in a.name
    others = {V.video_model_path(cache_dir=tmp_path, steps=10),
              V.video_model_path(cache_dir=tmp_path, seed=1),
              V.video_model_path(cache_dir=tmp_path, batch_size=32),
              V.video_model_path("meanp", cache_dir=tmp_path),
              V.video_model_path(cache_dir=tmp_path, dataset_kwargs=dict(n_train=100))}
    assert len(others) == 5 and a not in others
    with pytest.raises(ValueError, match=r"^kind"):
        V.video_model_path("lstm", cache_dir=tmp_path)


TINY_DEFAULT = dict(dataset_kwargs=dict(n_train=16, n_val=0, n_test=4, cache=False), steps=2,
                    batch_size=8, num_threads=1, progress=False, **SMALL)


def test_load_default_video_model_trains_once_and_caches(tmp_path, monkeypatch, ds):
    from mmcourse.torch import load_default_model
    from mmcourse.torch.pretrained import default_model_path

    monkeypatch.setattr(V, "_MEMORY", {})
    calls = []
    real = V.train_video_model
    monkeypatch.setattr(V, "train_video_model", lambda *a, **k: calls.append(k) or real(*a, **k))
    first = load_default_model(variant="video", cache_dir=tmp_path, **TINY_DEFAULT)
    assert isinstance(first, V.VideoModel) and first.kind == V.BEST_KIND and len(calls) == 1
    assert calls[0]["steps"] == 2 and calls[0]["seed"] == 0
    kw = {k: v for k, v in TINY_DEFAULT.items() if k not in ("dataset_kwargs", "progress")}
    path = V.video_model_path(cache_dir=tmp_path, dataset_kwargs=TINY_DEFAULT["dataset_kwargs"], **kw)
    assert path.is_file() and path.parent == tmp_path / "models"
    assert default_model_path(variant="video", cache_dir=tmp_path,
                              dataset_kwargs=TINY_DEFAULT["dataset_kwargs"], **kw) == path
    # the same process: the memory cache; a new process (memory cleared): the file, not retrained
    assert load_default_model(variant="video", cache_dir=tmp_path, **TINY_DEFAULT) is first
    monkeypatch.setattr(V, "_MEMORY", {})
    again = load_default_model("moving_shapes", variant="video", cache_dir=tmp_path, **TINY_DEFAULT)
    assert len(calls) == 1 and again is not first and isinstance(again, V.VideoModel)
    clips = ds.get("video")[:3]
    np.testing.assert_array_equal(V.embed_videos(again, clips), V.embed_videos(first, clips))


def test_load_default_model_video_variant_of_the_wrong_dataset(tmp_path):
    from mmcourse.torch import load_default_model

    with pytest.raises(ValueError, match=r"^(variant|dataset)\b.*expected.*got"):
        load_default_model("digits", variant="video", cache_dir=tmp_path, **TINY_DEFAULT)
