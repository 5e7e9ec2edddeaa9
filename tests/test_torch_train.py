"""Training loop, embedding helpers, persistence and the attribute classifier on tiny datasets."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from mmcourse.data import CaptionDataset, make_shapes  # noqa: E402
from mmcourse.metrics import hit_rate_at_k, mean_average_precision  # noqa: E402
from mmcourse.torch import (AttributeClassifier, DualEncoder, embed_images, embed_texts,  # noqa: E402
                            extract_features, load_model, make_text_encoder_fn, save_model,
                            train_attribute_classifier, train_dual_encoder)

FAST = dict(steps=4, batch_size=16, progress=False, device="cpu", eval_images=20)


@pytest.fixture(scope="module")
def tiny():
    return make_shapes(160, seed=3, split_sizes=(120, 20, 20), cache=False)


def test_history_and_embeddings(tiny):
    model, hist = train_dual_encoder(tiny, eval_every=2, **FAST)
    assert isinstance(model, DualEncoder) and not model.training
    assert hist["step"] == [1, 2, 3, 4] and len(hist["loss"]) == 4
    assert all(np.isfinite(hist["loss"])) and len(hist["temperature"]) == 4
    assert hist["eval_step"] == [2, 4]
    for k in ("val_R@1", "val_R@5", "val_R@10", "val_i2t_R@10"):
        assert len(hist[k]) == 2 and all(0 <= v <= 1 for v in hist[k])
    img = embed_images(model, tiny.images[:7], batch_size=3)
    txt = embed_texts(model, tiny.captions[:5], batch_size=2)
    assert img.shape == (7, 128) and txt.shape == (5, 128)
    assert img.dtype == np.float32 and txt.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(img, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1, atol=1e-5)
    # batching does not change results
    np.testing.assert_allclose(embed_images(model, tiny.images[:7]), img, atol=1e-5)
    grey = tiny.images[:2].mean(axis=-1).astype(np.uint8)
    assert embed_images(model, grey).shape == (2, 128)


def test_same_seed_same_model(tiny):
    a, ha = train_dual_encoder(tiny, seed=1, **FAST)
    b, hb = train_dual_encoder(tiny, seed=1, **FAST)
    c, _ = train_dual_encoder(tiny, seed=2, **FAST)
    assert ha["loss"] == hb["loss"]
    np.testing.assert_array_equal(embed_images(a, tiny.images[:10]), embed_images(b, tiny.images[:10]))
    np.testing.assert_array_equal(embed_texts(a, tiny.captions[:10]), embed_texts(b, tiny.captions[:10]))
    assert not np.allclose(embed_images(a, tiny.images[:10]), embed_images(c, tiny.images[:10]))


@pytest.mark.parametrize("rnn,loss", [("lstm", "vse"), ("bow", "vse_hardest"), ("gru", "infonce")])
def test_every_encoder_and_loss_trains(tiny, rnn, loss):
    model, hist = train_dual_encoder(tiny, rnn=rnn, loss=loss, hard_negatives=(rnn == "gru"), **FAST)
    assert model.config["rnn"] == rnn and all(np.isfinite(hist["loss"]))


def test_scene_twins_add_the_twin_loss(tiny):
    base, hb = train_dual_encoder(tiny, seed=5, **FAST)
    model, hist = train_dual_encoder(tiny, seed=5, scene_twins=8, twin_weight=2.0, **FAST)
    again, ha = train_dual_encoder(tiny, seed=5, scene_twins=8, twin_weight=2.0, **FAST)
    assert hist["loss"] == ha["loss"] and all(np.isfinite(hist["loss"]))
    # step 1 sees the same weights and batch: the difference is 2 × the twin loss (≈ 2 log 2)
    assert 0.5 < hist["loss"][0] - hb["loss"][0] < 4.0
    np.testing.assert_array_equal(embed_texts(model, tiny.captions[:5]),
                                  embed_texts(again, tiny.captions[:5]))


def test_epochs_and_time_budget(tiny):
    _, hist = train_dual_encoder(tiny, epochs=2, batch_size=40, progress=False, device="cpu")
    assert hist["step"][-1] == 2 * (120 // 40)
    _, hist = train_dual_encoder(tiny, steps=10**6, time_budget=0.5, batch_size=16, progress=False,
                                 device="cpu", eval_images=20)
    assert 1 <= hist["step"][-1] < 10**6 and hist["seconds"][-1] < 30


def test_save_load_round_trip(tiny, tmp_path):
    model, _ = train_dual_encoder(tiny, rnn="lstm", embed_dim=32, **FAST)
    path = save_model(model, tmp_path / "sub" / "m.pt")
    loaded = load_model(path, device="cpu")
    assert loaded.config == model.config and loaded.vocab == model.vocab
    np.testing.assert_array_equal(embed_texts(loaded, tiny.captions[:6]), embed_texts(model, tiny.captions[:6]))
    np.testing.assert_array_equal(embed_images(loaded, tiny.images[:6]), embed_images(model, tiny.images[:6]))
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["m.pt"]  # no temporary left over
    (tmp_path / "bad.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="path"):
        load_model(tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="path"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="model"):
        save_model(torch.nn.Linear(2, 2), tmp_path / "x.pt")


def test_text_encoder_fn(tiny):
    model, _ = train_dual_encoder(tiny, **FAST)
    fn = make_text_encoder_fn(model)
    out = fn(["a red circle", "a zorblax quuxle"])  # unknown words map to <unk>
    assert out.shape == (2, 128) and out.dtype == np.float32
    with pytest.raises(ValueError, match="texts"):
        fn([""])
    with pytest.raises(ValueError, match="texts"):
        fn([])
    with pytest.raises(ValueError, match="model"):
        make_text_encoder_fn("model")
    with pytest.raises(ValueError, match="model"):
        embed_images(object(), tiny.images[:2])


def test_bad_training_arguments(tiny):
    plain = CaptionDataset(images=tiny.images[:20], captions=tiny.captions[:100],
                           caption_image=tiny.caption_image[:100], split=tiny.split[:20])
    cases = [(dict(loss="triplet"), "loss"), (dict(rnn="cnn"), "rnn"), (dict(steps=0), "steps"),
             (dict(steps=3, epochs=1), "steps"), (dict(lr=0), "lr"), (dict(batch_size=1), "batch_size"),
             (dict(time_budget=-1), "time_budget"), (dict(device="tpu"), "device"),
             (dict(hinge_warmup=1.5), "hinge_warmup"), (dict(scene_twins=-1), "scene_twins"),
             (dict(scene_twins=4, twin_weight=0), "twin_weight")]
    for kw, name in cases:
        with pytest.raises(ValueError, match=name):
            train_dual_encoder(tiny, progress=False, **kw)
    with pytest.raises(ValueError, match="dataset"):
        train_dual_encoder(tiny.images, progress=False)
    with pytest.raises(ValueError, match="hard_negatives"):
        train_dual_encoder(plain, hard_negatives=True, progress=False)
    with pytest.raises(ValueError, match="scene_twins"):
        train_dual_encoder(plain, scene_twins=8, progress=False)
    with pytest.raises(ValueError, match="dataset"):
        train_dual_encoder(tiny.subset("test"), progress=False)  # no training images


def test_attribute_classifier(tiny, tmp_path):
    model, hist = train_attribute_classifier(tiny, steps=3, batch_size=16, progress=False, device="cpu")
    assert isinstance(model, AttributeClassifier) and len(hist["loss"]) == 3
    assert 0 <= hist["val_accuracy"][0] <= 1
    feats = extract_features(model, tiny.images[:5])
    assert feats.shape == (5, 64) and feats.dtype == np.float32
    loaded = load_model(save_model(model, tmp_path / "clf.pt"), device="cpu")
    np.testing.assert_array_equal(extract_features(loaded, tiny.images[:5]), feats)
    with pytest.raises(ValueError, match="dataset"):
        train_attribute_classifier(CaptionDataset(images=tiny.images[:4], captions=[], caption_image=[],
                                                  split=["train"] * 4), progress=False)
    with pytest.raises(ValueError, match="model"):
        extract_features("cnn", tiny.images[:2])


@pytest.mark.slow
def test_short_training_beats_untrained_by_far():
    data = make_shapes(2200, seed=5, split_sizes=(2000, 100, 100))
    test = data.subset("test")
    rel = test.text_image_relevance() > 0

    def t2i_map(model):
        return mean_average_precision(embed_texts(model, test.captions) @ embed_images(model, test.images).T, rel)

    untrained, _ = train_dual_encoder(data, steps=1, lr=1e-9, progress=False, device="cpu")
    trained, hist = train_dual_encoder(data, steps=250, batch_size=64, progress=False, device="cpu")
    before, after = t2i_map(untrained), t2i_map(trained)
    assert after > before + 0.15, (before, after)
    assert hist["loss"][-1] < hist["loss"][0]
    s = embed_images(trained, test.images) @ embed_texts(trained, test.captions).T
    assert hit_rate_at_k(s, test.image_text_relevance(), k=10) > 0.3


def test_digits_train_end_to_end():
    from mmcourse import load_dataset

    digits = load_dataset("digits")
    model, hist = train_dual_encoder(digits, steps=3, batch_size=32, progress=False, device="cpu",
                                     eval_images=50)
    assert hist["eval_step"] == [1, 2, 3] and len(hist["val_R@10"]) == 3
    emb = embed_images(model, digits.images[:4])
    assert emb.shape == (4, 128)
    with pytest.raises(ValueError, match="hard_negatives"):
        train_dual_encoder(digits, hard_negatives=True, progress=False)


# ----------------------------------------------------------------------------- modality pairs
def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_training_runs_infonce_over_every_pair_of_towers(tiny):
    """A model with image, text and audio towers on a dataset with spoken captions trains over
    (image, text), (image, audio) and (text, audio): every tower moves, and the loss is the sum
    of the three pairs' losses (three times one pair's at the start, near log(batch))."""
    from mmcourse._training import training_config
    from mmcourse.text import Vocabulary
    from mmcourse.torch.audio import SpeechModel

    spoken = tiny.with_modality("audio")
    torch.manual_seed(0)
    dual = DualEncoder(Vocabulary.build(spoken.subset("train").captions), embed_dim=16,
                       channels=(4, 8), head_dim=16, word_dim=8, hidden_dim=16)
    model = SpeechModel.from_dual_encoder(dual, seed=0, channels=(8, 16, 16), hidden_dim=16)
    cfg = training_config(spoken, model_modalities=model.modalities, trainable_pairs=None)
    assert cfg.pairs == (("image", "text"), ("image", "audio"), ("text", "audio"))
    before = _state(model)
    model, hist = train_dual_encoder(spoken, model=model, steps=2, batch_size=8, progress=False,
                                     eval_images=10)
    after = model.state_dict()
    for tower in ("image_encoder", "text_encoder", "audio_encoder"):
        moved = [k for k in before if k.startswith(tower) and not torch.equal(before[k], after[k])]
        assert moved, f"{tower} did not train"
    assert 3 * np.log(8) * 0.8 < hist["loss"][0] < 3 * np.log(8) * 1.2
    # the image-text model on the same data trains over its one pair only
    _, one = train_dual_encoder(spoken, model=dual, steps=1, batch_size=8, progress=False, eval_images=10)
    assert 0.8 * np.log(8) < one["loss"][0] < 1.2 * np.log(8)


def test_a_pair_the_dataset_lacks_or_no_pair_is_refused(tiny):
    from mmcourse.text import Vocabulary
    from mmcourse.torch.video import VideoModel

    video = VideoModel(Vocabulary.build(tiny.captions), kind="meanp", embed_dim=16, frame_dim=16,
                       channels=(4, 8, 8), word_dim=8, hidden_dim=16)
    with pytest.raises(ValueError, match=r"^model: expected towers whose modality pairs"):
        train_dual_encoder(tiny, model=video, steps=1, progress=False)   # still images, no clips
    with pytest.raises(ValueError, match=r"^model: expected a mmcourse.torch joint model"):
        train_dual_encoder(tiny, model="my model", steps=1, progress=False)

