"""Training, embedding, saving and caching of the Keras dual encoder (small data, few steps)."""
import warnings

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import mmcourse.keras as mk  # noqa: E402
from mmcourse.data import make_shapes  # noqa: E402
from mmcourse.metrics import mean_average_precision  # noqa: E402


@pytest.fixture(scope="module")
def small():
    return make_shapes(400, seed=7, split_sizes=(320, 40, 40), cache=False)


def _t2i_map(model, data):
    test = data.subset("test")
    scores = mk.embed_texts(model, test.captions) @ mk.embed_images(model, test.images).T
    return float(mean_average_precision(scores, test.text_image_relevance() > 0))


def test_same_seed_same_embeddings(small):
    a, ha = mk.train_dual_encoder(small, steps=4, batch_size=16, seed=3, progress=False)
    b, hb = mk.train_dual_encoder(small, steps=4, batch_size=16, seed=3, progress=False)
    c, _ = mk.train_dual_encoder(small, steps=4, batch_size=16, seed=4, progress=False)
    imgs = small.images[:5]
    np.testing.assert_array_equal(mk.embed_images(a, imgs), mk.embed_images(b, imgs))
    assert ha["loss"] == hb["loss"]
    assert not np.allclose(mk.embed_images(a, imgs), mk.embed_images(c, imgs))


def test_history_and_embeddings(small):
    model, hist = mk.train_dual_encoder(small, steps=6, batch_size=16, eval_every=3, progress=False)
    assert hist["step"] == list(range(1, 7)) and hist["eval_step"] == [3, 6]
    for key in ("loss", "temperature", "lr", "seconds"):
        assert len(hist[key]) == 6 and np.all(np.isfinite(hist[key]))
    assert len(hist["val_R@10"]) == 2 and 0 <= hist["val_R@10"][-1] <= 1
    img = mk.embed_images(model, small.images[:7], batch_size=3)
    txt = mk.embed_texts(model, small.captions[:9], batch_size=4)
    assert img.dtype == np.float32 and img.shape == (7, 128) and txt.shape == (9, 128)
    np.testing.assert_allclose(np.linalg.norm(txt, axis=1), 1.0, atol=1e-5)
    fn = mk.make_text_encoder_fn(model)
    np.testing.assert_allclose(fn(small.captions[:2]), txt[:2], atol=1e-6)
    assert fn(["a zebra riding a red circle"]).shape == (1, 128)  # unknown words → <unk>


@pytest.mark.parametrize("kw", [dict(loss="vse_hardest", rnn="lstm"), dict(loss="vse", rnn="bow"),
                                dict(loss="infonce", hard_negatives=True),
                                dict(loss="infonce", scene_twins=8, twin_weight=2.0),
                                dict(loss="vse", hard_negatives=True, scene_twins=16),
                                dict(loss="infonce", mask_false_negatives=True),
                                dict(loss="vse", mask_false_negatives=False)])
def test_other_losses_and_hard_negatives_run(small, kw):
    model, hist = mk.train_dual_encoder(small, steps=3, batch_size=16, progress=False, **kw)
    assert len(hist["loss"]) == 3 and np.all(np.isfinite(hist["loss"]))


def test_save_load_round_trip(small, tmp_path):
    model, _ = mk.train_dual_encoder(small, steps=3, batch_size=16, rnn="lstm", progress=False)
    path = mk.save_model(model, tmp_path / "m")
    assert path.suffix == ".npz"
    again = mk.load_model(path)
    assert again.config == model.config and again.vocab == model.vocab
    np.testing.assert_allclose(mk.embed_images(again, small.images[:4]),
                               mk.embed_images(model, small.images[:4]), atol=1e-6)
    np.testing.assert_allclose(mk.embed_texts(again, small.captions[:4]),
                               mk.embed_texts(model, small.captions[:4]), atol=1e-6)
    with pytest.raises(ValueError, match="path"):
        mk.load_model(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="path"):
        mk.load_model(tmp_path / "junk.npz")


def test_attribute_classifier(small, tmp_path):
    clf, hist = mk.train_attribute_classifier(small, steps=5, batch_size=16, progress=False)
    assert len(hist["loss"]) == 5 and 0 <= hist["val_accuracy"][0] <= 1
    feats = mk.extract_features(clf, small.images[:6])
    assert feats.shape == (6, 64) and feats.dtype == np.float32
    again = mk.load_model(mk.save_model(clf, tmp_path / "clf.npz"))
    np.testing.assert_allclose(mk.extract_features(again, small.images[:6]), feats, atol=1e-5)


def test_bad_inputs(small):
    with pytest.raises(ValueError, match="dataset"):
        mk.train_dual_encoder([1, 2, 3], steps=1)
    with pytest.raises(ValueError, match="rnn"):
        mk.train_dual_encoder(small, rnn="cnn", steps=1)
    with pytest.raises(ValueError, match="loss"):
        mk.train_dual_encoder(small, loss="mse", steps=1)
    with pytest.raises(ValueError, match="steps"):
        mk.train_dual_encoder(small, steps=0)
    with pytest.raises(ValueError, match="steps"):
        mk.train_dual_encoder(small, steps=2, epochs=1)
    with pytest.raises(ValueError, match="lr"):
        mk.train_dual_encoder(small, steps=1, lr=-1.0)
    with pytest.raises(ValueError, match="mask_false_negatives"):
        mk.train_dual_encoder(small, steps=1, mask_false_negatives="sometimes")
    with pytest.raises(ValueError, match="scene_twins"):
        mk.train_dual_encoder(small, steps=1, scene_twins=1.5)
    with pytest.raises(ValueError, match="twin_weight"):
        mk.train_dual_encoder(small, steps=1, scene_twins=4, twin_weight=-1)
    with pytest.raises(ValueError, match="model"):
        mk.embed_images("not a model", small.images[:2])
    with pytest.raises(ValueError, match="model"):
        mk.save_model(object(), "x.npz")
    with pytest.raises(ValueError, match="dataset"):
        mk.train_attribute_classifier(small.subset("train").__class__(
            images=small.images[:4], captions=["a"] * 4, caption_image=np.arange(4),
            split=np.array(["train"] * 4)), steps=1)


def test_load_default_model_caches_and_invalidates(tmp_path, monkeypatch):
    kw = dict(dataset_kwargs=dict(n_train=200, n_val=40, n_test=40), cache_dir=tmp_path,
              steps=3, batch_size=16, progress=False)
    first = mk.load_default_model("shapes", **kw)
    path = mk.default_model_path("shapes", **{k: v for k, v in kw.items() if k != "progress"})
    assert path.is_file() and path.parent == tmp_path / "models"
    assert mk.load_default_model("shapes", **kw) is first  # in-memory
    from mmcourse.keras import pretrained, train

    pretrained._MEMORY.clear()

    def no_training(*a, **k):
        raise AssertionError("should load from disk, not train")

    monkeypatch.setattr(train, "train_dual_encoder", no_training)
    loaded = mk.load_default_model("shapes", **kw)
    imgs = np.zeros((2, 32, 32, 3), np.uint8)
    np.testing.assert_allclose(mk.embed_images(loaded, imgs), mk.embed_images(first, imgs), atol=1e-6)
    other = dict(kw, steps=4)
    assert mk.default_model_path("shapes", **{k: v for k, v in other.items() if k != "progress"}) != path
    with pytest.raises(ValueError, match="variant"):
        mk.load_default_model("shapes", variant="huge", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="dataset"):
        mk.load_default_model("imagenet", cache_dir=tmp_path)


@pytest.mark.slow
def test_short_training_beats_untrained():
    data = make_shapes(2500, seed=11, split_sizes=(2000, 250, 250), cache=False)
    untrained, _ = mk.train_dual_encoder(data, steps=1, lr=1e-9, batch_size=8, progress=False)
    trained, hist = mk.train_dual_encoder(data, steps=250, progress=False)
    before, after = _t2i_map(untrained, data), _t2i_map(trained, data)
    assert after > before + 0.15, (before, after)
    assert hist["val_R@10"][-1] > hist["val_R@10"][0]


@pytest.mark.slow
def test_pretrained_backbone_offline(tmp_path):
    """No weights → one warning and None (never a download); a local weights file loads."""
    h5py = pytest.importorskip("h5py")
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    from mmcourse.keras.pretrained import mobilenet_weights_path

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert mk.load_pretrained_backbone(models_dir=tmp_path) is None
    assert len(caught) == 1 and "not found" in str(caught[0].message)
    net = keras.applications.MobileNetV2(input_shape=(96, 96, 3), alpha=0.35, include_top=False,
                                         pooling="avg", weights=None)
    path = mobilenet_weights_path(96, tmp_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, net)
    backbone = mk.load_pretrained_backbone(models_dir=tmp_path)
    np.testing.assert_allclose(backbone.get_weights()[0], net.get_weights()[0])
    feats = mk.pretrained_features(backbone, np.zeros((2, 32, 32, 3), np.uint8))
    assert feats.shape == (2, 1280) and feats.dtype == np.float32
    with pytest.raises(ValueError, match="weights"):
        mk.load_pretrained_backbone(weights=tmp_path / "nope.h5")
