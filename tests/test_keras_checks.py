"""The nb01k/nb02k/nb03k checkers accept correct answers and reject typical wrong ones."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

import mmcourse.keras as mk  # noqa: E402
from mmcourse.grading.check import check  # noqa: E402


def conv_output_shape(input_shape, filters, kernel_size, strides=1, padding="valid"):
    h, w, _ = input_shape
    if padding == "same":
        return ((h + strides - 1) // strides, (w + strides - 1) // strides, filters)
    return ((h - kernel_size) // strides + 1, (w - kernel_size) // strides + 1, filters)


class AddCoords(keras.layers.Layer):
    """Hand-written: x and y coordinate channels in [-1, 1] appended to the input."""

    def call(self, x):
        h, w = tf.shape(x)[1], tf.shape(x)[2]
        ys, xs = tf.meshgrid(tf.linspace(-1.0, 1.0, h), tf.linspace(-1.0, 1.0, w), indexing="ij")
        grid = tf.stack([xs, ys], axis=-1)[None]
        grid = tf.tile(tf.cast(grid, x.dtype), [tf.shape(x)[0], 1, 1, 1])
        return tf.concat([x, grid], axis=-1)


class NoCoords(keras.layers.Layer):
    def call(self, x):
        return tf.concat([x, tf.zeros_like(x[..., :2])], axis=-1)


def build_cnn(embed_dim=32, flatten=False):
    layers = [keras.Input((None, None, 3) if not flatten else (32, 32, 3))]
    for f in (16, 32, 64):
        layers += [keras.layers.Conv2D(f, 3, padding="same", use_bias=False),
                   keras.layers.BatchNormalization(), keras.layers.ReLU(), keras.layers.MaxPooling2D(2)]
    layers += [keras.layers.Flatten() if flatten else keras.layers.GlobalAveragePooling2D(),
               keras.layers.Dense(embed_dim)]
    return keras.Sequential(layers)


def cosine_top_k(q, x, k):
    q = tf.math.l2_normalize(q, axis=1)
    x = tf.math.l2_normalize(x, axis=1)
    v, i = tf.math.top_k(tf.matmul(q, x, transpose_b=True), k=k)
    return i.numpy(), v.numpy()


def gru_step(x, h, kernel, recurrent, bias):
    u = h.shape[1]
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    xw, hu = x @ kernel + bias[0], h @ recurrent + bias[1]
    z, r = sig(xw[:, :u] + hu[:, :u]), sig(xw[:, u:2 * u] + hu[:, u:2 * u])
    return z * h + (1 - z) * np.tanh(xw[:, 2 * u:] + r * hu[:, 2 * u:])


def text_encoder(mask_zero=True):
    def build(vocab_size, embed_dim=32):
        return keras.Sequential([keras.layers.Embedding(vocab_size, 8, mask_zero=mask_zero),
                                 keras.layers.GRU(8), keras.layers.Dense(embed_dim)])
    return build


def classifier(seqs):
    def build(vocab_size, n_classes):
        return keras.Sequential([keras.layers.Embedding(vocab_size, 8, mask_zero=True),
                                 keras.layers.LSTM(8, return_sequences=seqs), keras.layers.Dense(n_classes)])
    return build


def train_step(model, optimizer, images, ids):
    with tf.GradientTape() as tape:
        loss = mk.info_nce_loss(model.encode_images(images, training=True),
                                model.encode_texts(ids, training=True),
                                1.0 / tf.exp(model.clamped_logit_scale()))
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    return loss


def masked_mean(states, mask):
    m = tf.cast(mask, states.dtype)
    return tf.reduce_sum(states * m[..., None], 1) / tf.maximum(tf.reduce_sum(m, 1, keepdims=True), 1.0)


def info_nce(a, b, t):
    logits = tf.matmul(a, b, transpose_b=True) / t
    labels = tf.range(tf.shape(a)[0])
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits
    return 0.5 * (tf.reduce_mean(ce(labels, logits)) + tf.reduce_mean(ce(labels, tf.transpose(logits))))


def vse_hinge(a, b, margin, hardest):
    s = tf.matmul(a, b, transpose_b=True)
    pos = tf.linalg.diag_part(s)
    off = 1.0 - tf.eye(tf.shape(s)[0], dtype=s.dtype)
    cost_t = tf.nn.relu(margin + s - pos[:, None]) * off   # image i against wrong captions
    cost_i = tf.nn.relu(margin + s - pos[None, :]) * off   # caption j against wrong images
    if hardest:
        return tf.reduce_mean(tf.reduce_max(cost_t, 1) + tf.reduce_max(cost_i, 0))
    return tf.reduce_mean(tf.reduce_sum(cost_t, 1) + tf.reduce_sum(cost_i, 0))


def composed(img, txt, alpha=0.5):
    m = alpha * img + (1 - alpha) * txt
    return m / np.linalg.norm(m, axis=1, keepdims=True)


CASES = [
    ("nb01k-conv-shape", conv_output_shape,
     lambda s, f, k, strides=1, padding="valid": ((s[0] - k) // strides + 1, (s[1] - k) // strides + 1, f)),
    ("nb01k-addcoords", AddCoords, NoCoords),
    ("nb01k-cnn", build_cnn, lambda d: build_cnn(d, flatten=True)),
    ("nb01k-topk", cosine_top_k, lambda q, x, k: cosine_top_k(q, x, k)[::-1]),
    ("nb02k-masked-mean", masked_mean, lambda s, m: tf.reduce_mean(s, axis=1)),
    ("nb02k-gru-step", gru_step, lambda x, h, k, r, b: gru_step(x, h, k, r, b[::-1])),
    ("nb02k-text-encoder", text_encoder(True), text_encoder(False)),
    ("nb02k-fix-lstm-head", classifier(False), classifier(True)),
    ("nb03k-info-nce", info_nce,
     lambda a, b, t: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
         tf.range(tf.shape(a)[0]), tf.matmul(a, b, transpose_b=True) / t))),
    ("nb03k-vse", vse_hinge, lambda a, b, m, h: vse_hinge(a, b, m, not h)),
    ("nb03k-train-step", train_step, lambda model, opt, x, ids: tf.constant(0.0)),
    ("nb03k-composed-query", composed, lambda i, t, a=0.5: a * i + (1 - a) * t),
]


@pytest.mark.parametrize("grade_id,right,wrong", CASES, ids=[c[0] for c in CASES])
def test_checker_accepts_right_and_rejects_wrong(grade_id, right, wrong, capsys):
    assert check(grade_id, right) is True
    assert check(grade_id, wrong) is False
    out = capsys.readouterr().out
    assert "✓" in out and "✗" in out


def test_checker_reports_not_implemented(capsys):
    def todo(*args, **kwargs):
        raise NotImplementedError()

    assert check("nb03k-info-nce", todo) is False
    assert "not implemented" in capsys.readouterr().out
