"""Encoder shapes, padding invariance, parameter counts and input validation."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
from mmcourse.text import Vocabulary  # noqa: E402
from mmcourse.torch import (DualEncoder, ImageEncoder, TextEncoder, count_parameters,  # noqa: E402
                            images_to_tensor)

CAPTIONS = ["a red circle left of a blue square", "a blue circle left of a red square",
            "a small green star", "there is a large yellow cross above a purple diamond"]


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary.build(CAPTIONS)


@pytest.mark.parametrize("size", [8, 17, 32, 48])
def test_image_encoder_any_size(size):
    torch.manual_seed(0)
    enc = ImageEncoder(embed_dim=24).eval()
    x = torch.rand(3, 3, size, size)
    assert enc(x).shape == (3, 24)
    assert enc.features(x).shape == (3, 64)


def test_images_to_tensor_converts_greyscale_and_scales():
    grey = np.arange(2 * 4 * 4, dtype=np.uint8).reshape(2, 4, 4)
    t = images_to_tensor(grey)
    assert t.shape == (2, 3, 4, 4) and t.dtype == torch.float32
    assert torch.equal(t[:, 0], t[:, 2]) and float(t.max()) == pytest.approx(31 / 255)
    assert t.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="images"):
        images_to_tensor(np.zeros((2, 4, 4, 2), np.uint8))


@pytest.mark.parametrize("rnn", ["gru", "lstm", "bow"])
@pytest.mark.parametrize("pooling", ["last", "mean", "max"])
def test_padding_never_changes_the_embedding(rnn, pooling):
    torch.manual_seed(0)
    enc = TextEncoder(20, rnn=rnn, embed_dim=16, pooling=pooling).eval()
    ids = torch.tensor([[5, 3, 7, 2]])
    base = enc(ids, torch.tensor([4]))
    for pad in (1, 3, 10):
        padded = torch.cat([ids, torch.zeros(1, pad, dtype=torch.int64)], dim=1)
        assert torch.allclose(enc(padded, torch.tensor([4])), base, atol=1e-6)
    # in a batch next to a longer caption (so it is padded), still the same vector
    batch = torch.tensor([[5, 3, 7, 2, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]])
    out = enc(batch, torch.tensor([4, 7]))
    assert out.shape == (2, 16)
    assert torch.allclose(out[0], base[0], atol=1e-6)
    # garbage (not zeros) in the padded positions is ignored too
    noisy = batch.clone()
    noisy[0, 4:] = torch.tensor([9, 9, 9])
    assert torch.allclose(enc(noisy, torch.tensor([4, 7]))[0], base[0], atol=1e-6)


def test_word_order_bow_vs_gru():
    torch.manual_seed(0)
    a, b = torch.tensor([[2, 3, 4, 5]]), torch.tensor([[5, 4, 3, 2]])
    ln = torch.tensor([4])
    bow, gru = TextEncoder(8, "bow").eval(), TextEncoder(8, "gru").eval()
    assert torch.allclose(bow(a, ln), bow(b, ln), atol=1e-6)
    assert not torch.allclose(gru(a, ln), gru(b, ln), atol=1e-4)


def test_parameter_counts_match_docstrings():
    assert count_parameters(ImageEncoder()) == 73_520
    assert count_parameters(TextEncoder(50, "gru")) == 64 * 50 + 107_520
    assert count_parameters(TextEncoder(50, "lstm")) == 64 * 50 + 132_352
    assert count_parameters(TextEncoder(50, "bow")) == 64 * 50 + 49_536


def test_dual_encoder_outputs_unit_vectors_in_one_space(vocab):
    torch.manual_seed(0)
    model = DualEncoder(vocab, embed_dim=32).eval()
    ids, lengths = model.tokenize(CAPTIONS)
    assert ids.dtype == torch.int64 and lengths.tolist() == [len(c.split()) for c in CAPTIONS]
    img, txt = model(torch.rand(5, 3, 32, 32), ids, lengths)
    assert img.shape == (5, 32) and txt.shape == (4, 32)
    assert torch.allclose(img.norm(dim=1), torch.ones(5), atol=1e-5)
    assert torch.allclose(txt.norm(dim=1), torch.ones(4), atol=1e-5)
    assert model.temperature == pytest.approx(0.07, rel=1e-5)
    with torch.no_grad():
        model.logit_scale.fill_(100.0)  # clamped CLIP style: temperature never below 0.01
    assert model.temperature == pytest.approx(0.01, rel=1e-5)


def test_bad_arguments_raise(vocab):
    with pytest.raises(ValueError, match="rnn"):
        TextEncoder(10, rnn="transformer")
    with pytest.raises(ValueError, match="vocab_size"):
        TextEncoder(1)
    with pytest.raises(ValueError, match="pooling"):
        TextEncoder(10, pooling="attention")
    with pytest.raises(ValueError, match="embed_dim"):
        ImageEncoder(embed_dim=0)
    with pytest.raises(ValueError, match="channels"):
        ImageEncoder(channels=())
    with pytest.raises(ValueError, match="vocab"):
        DualEncoder(["a", "b"])
    with pytest.raises(ValueError, match="temperature"):
        DualEncoder(vocab, temperature=0)
    with pytest.raises(ValueError, match="backbone"):
        DualEncoder(vocab, backbone="vit")
    enc = TextEncoder(10)
    with pytest.raises(ValueError, match="lengths"):
        enc(torch.tensor([[2, 3]]), torch.tensor([0]))
    with pytest.raises(ValueError, match="lengths"):
        enc(torch.tensor([[2, 3]]), torch.tensor([3]))
    with pytest.raises(ValueError, match="ids"):
        enc(torch.tensor([2, 3]), torch.tensor([2]))
    with pytest.raises(ValueError, match="x"):
        ImageEncoder()(torch.rand(2, 1, 8, 8))
    with pytest.raises(ValueError, match="texts"):
        DualEncoder(vocab).tokenize(["a red circle", "  ?! "])
