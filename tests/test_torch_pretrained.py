"""Device choice, the cached default model, and the optional ResNet-18 backbone (local weights only)."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from mmcourse.text import Vocabulary  # noqa: E402
from mmcourse.torch import (DualEncoder, default_model_path, embed_images, get_device,  # noqa: E402
                            load_default_model, load_model, load_resnet18, resnet18_weights_path,
                            save_model)
from mmcourse import _model_cache  # noqa: E402
from mmcourse.torch import pretrained  # noqa: E402

TINY = dict(dataset_kwargs=dict(n_train=120, n_val=20, n_test=20, progress=False),
            steps=3, batch_size=16, eval_images=20, device="cpu", progress=False)


def test_device_choice(monkeypatch):
    monkeypatch.delenv("MMCOURSE_DEVICE", raising=False)
    assert get_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert get_device("cpu") == torch.device("cpu")
    monkeypatch.setenv("MMCOURSE_DEVICE", "cpu")
    assert get_device() == torch.device("cpu")
    monkeypatch.setenv("MMCOURSE_DEVICE", "quantum")
    with pytest.raises(ValueError, match="MMCOURSE_DEVICE"):
        get_device()
    with pytest.raises(ValueError, match="device"):
        get_device("gpu9")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA"):
            get_device("cuda")


def test_default_model_is_cached_and_invalidated(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "_MEMORY", {})
    calls = []
    import mmcourse.torch.train as train_mod

    real = train_mod.train_dual_encoder
    monkeypatch.setattr(train_mod, "train_dual_encoder", lambda *a, **k: calls.append(k) or real(*a, **k))
    first = load_default_model("shapes", cache_dir=tmp_path, **TINY)
    path = default_model_path("shapes", cache_dir=tmp_path, **{k: v for k, v in TINY.items() if k != "progress"})
    assert path.is_file() and path.parent == tmp_path / "models" and len(calls) == 1
    assert calls[0]["steps"] == 3 and calls[0]["seed"] == 0 and calls[0]["hard_negatives"] is False
    # same process: memory cache; new process (memory cleared): loaded from disk, not retrained
    assert load_default_model("shapes", cache_dir=tmp_path, **TINY) is first
    monkeypatch.setattr(pretrained, "_MEMORY", {})
    again = load_default_model("shapes", cache_dir=tmp_path, **TINY)
    assert len(calls) == 1 and again is not first
    imgs = np.zeros((2, 32, 32, 3), np.uint8)
    np.testing.assert_array_equal(embed_images(again, imgs), embed_images(first, imgs))
    # a changed parameter, variant or source file gives another key and retrains
    other = dict(TINY, steps=4)
    assert load_default_model("shapes", cache_dir=tmp_path, **other) is not first and len(calls) == 2
    load_default_model("shapes", variant="word_order", cache_dir=tmp_path, **TINY)
    assert len(calls) == 3 and calls[-1]["scene_twins"] > 0
    extra = tmp_path / "fake_source.py"
    extra.write_text("x = 1\n")
    monkeypatch.setattr(_model_cache, "source_files", lambda track: [extra])
    p1 = default_model_path("shapes", cache_dir=tmp_path, steps=3)
    extra.write_text("x = 2\n")
    assert default_model_path("shapes", cache_dir=tmp_path, steps=3) != p1
    assert not list((tmp_path / "models").glob("*.tmp"))


def test_default_model_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="dataset"):
        load_default_model("imagenet", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="variant"):
        load_default_model("shapes", variant="best", cache_dir=tmp_path)
    with pytest.raises(ValueError, match="variant"):
        load_default_model("digits", variant="word_order", cache_dir=tmp_path)


def test_resnet18_from_local_state_dict(tmp_path, monkeypatch):
    from torchvision.models import resnet18

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    missing = resnet18_weights_path()
    assert not missing.exists() and missing.parent.parent == tmp_path / "torch" / "hub"
    vocab = Vocabulary.build(["a red circle", "a blue square"])
    with pytest.warns(UserWarning, match="not found"):  # one sentence, then from scratch
        model = DualEncoder(vocab, backbone="resnet18")
    assert model.config["backbone"] == "cnn"
    torch.manual_seed(0)
    state = resnet18(weights=None).state_dict()
    missing.parent.mkdir(parents=True)
    torch.save(state, missing)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net = load_resnet18("auto")
        model = DualEncoder(vocab, backbone="resnet18", embed_dim=16)
    assert torch.equal(net.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.image_encoder.backbone.conv1.weight, state["conv1.weight"])
    model.eval()
    imgs = np.random.default_rng(0).integers(0, 255, (2, 32, 32, 3), dtype=np.uint8)
    emb = embed_images(model, imgs)
    assert emb.shape == (2, 16)
    loaded = load_model(save_model(model, tmp_path / "r.pt"), device="cpu")
    np.testing.assert_allclose(embed_images(loaded, imgs), emb, atol=1e-6)
    torch.save({"bogus": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="weights"):
        load_resnet18(tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="weights"):
        load_resnet18(tmp_path / "nope.pth")
