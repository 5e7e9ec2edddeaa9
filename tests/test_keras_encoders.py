"""Shapes, masking and validation of the Keras encoders."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
from mmcourse.keras import DualEncoder, ImageEncoder, TextEncoder, count_parameters  # noqa: E402
from mmcourse.keras.encoders import coordinate_grid, masked_mean  # noqa: E402
from mmcourse.text import Vocabulary  # noqa: E402

CAPTIONS = ["a red circle left of a blue square", "a green star", "two big yellow crosses above"]


@pytest.fixture(scope="module")
def vocab():
    return Vocabulary.build(CAPTIONS)


@pytest.mark.parametrize("size", [(32, 32), (17, 40)])
def test_image_encoder_shapes_any_size(size):
    enc = ImageEncoder(embed_dim=24)
    x = tf.random.uniform((3, *size, 3))
    assert tuple(enc(x).shape) == (3, 24)
    assert tuple(enc.features(x).shape) == (3, 64)


def test_image_encoder_parameter_count():
    enc = ImageEncoder()
    enc(tf.zeros((1, 32, 32, 3)))
    # conv (5·16 + 16·32 + 32·64)·9, BN 4·(16+32+64) (2 trainable), head 64·256+256 + 256·128+128
    expected = (5 * 16 + 16 * 32 + 32 * 64) * 9 + 2 * (16 + 32 + 64) + 64 * 256 + 256 + 256 * 128 + 128
    assert count_parameters(enc) == expected


def test_coordinate_grid():
    g = coordinate_grid(tf.zeros((2, 3, 5, 1))).numpy()
    assert g.shape == (2, 3, 5, 3)
    np.testing.assert_allclose(g[0, 0, :, 1], np.linspace(-1, 1, 5), atol=1e-6)  # x along width
    np.testing.assert_allclose(g[0, :, 0, 2], np.linspace(-1, 1, 3), atol=1e-6)  # y along height


@pytest.mark.parametrize("rnn,pooling", [("gru", "last"), ("lstm", "last"), ("bow", "mean"),
                                         ("gru", "mean"), ("gru", "max")])
def test_padding_never_changes_an_embedding(rnn, pooling):
    enc = TextEncoder(20, rnn=rnn, embed_dim=16, pooling=pooling)
    ids = np.array([[5, 7, 3, 9]], np.int32)
    short = enc(ids).numpy()
    for extra in (1, 6):
        padded = np.pad(ids, ((0, 0), (0, extra)))
        np.testing.assert_allclose(enc(padded).numpy(), short, atol=1e-5)
    # inside a batch with a longer caption
    batch = np.array([[5, 7, 3, 9, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]], np.int32)
    np.testing.assert_allclose(enc(batch).numpy()[:1], short, atol=1e-5)


def test_word_order_matters_for_gru_not_bow():
    ids_a, ids_b = np.array([[4, 5, 6]], np.int32), np.array([[6, 5, 4]], np.int32)
    gru, bow = TextEncoder(10, "gru"), TextEncoder(10, "bow")
    assert not np.allclose(gru(ids_a).numpy(), gru(ids_b).numpy(), atol=1e-4)
    np.testing.assert_allclose(bow(ids_a).numpy(), bow(ids_b).numpy(), atol=1e-5)


def test_masked_mean_hand_computed():
    seq = tf.constant([[[1.0], [3.0], [100.0]]])
    mask = tf.constant([[True, True, False]])
    assert float(masked_mean(seq, mask)[0, 0]) == pytest.approx(2.0)


def test_dual_encoder_unit_norm_and_temperature(vocab):
    model = DualEncoder(vocab, embed_dim=32).build_weights()
    ids = model.tokenize(CAPTIONS)
    img, txt = model((tf.random.uniform((2, 32, 32, 3)), ids))
    assert tuple(img.shape) == (2, 32) and tuple(txt.shape) == (3, 32)
    np.testing.assert_allclose(np.linalg.norm(img.numpy(), axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(txt.numpy(), axis=1), 1.0, atol=1e-5)
    assert model.temperature == pytest.approx(0.07, rel=1e-4)
    model.logit_scale.assign(50.0)  # clamped to log(100)
    assert model.temperature == pytest.approx(0.01, rel=1e-4)
    assert ids.dtype == np.int32 and ids.shape == (3, 8)


def test_bad_inputs(vocab):
    with pytest.raises(ValueError, match="rnn"):
        TextEncoder(10, rnn="transformer")
    with pytest.raises(ValueError, match="vocab_size"):
        TextEncoder(1)
    with pytest.raises(ValueError, match="embed_dim"):
        ImageEncoder(embed_dim=0)
    with pytest.raises(ValueError, match="channels"):
        ImageEncoder(channels=())
    with pytest.raises(ValueError, match="vocab"):
        DualEncoder(["not", "a", "vocab"])
    with pytest.raises(ValueError, match="temperature"):
        DualEncoder(vocab, temperature=0.0)
    with pytest.raises(ValueError, match="texts"):
        DualEncoder(vocab).tokenize(["a red circle", "   "])
    with pytest.raises(ValueError, match="ids"):
        TextEncoder(10)(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="x"):
        ImageEncoder().features(tf.zeros((2, 8, 8)))
