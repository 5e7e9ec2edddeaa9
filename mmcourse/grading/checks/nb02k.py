"""Checkers for notebook 02k (RNN text features in Keras): masked mean pooling, one GRU step
checked against ``keras.layers.GRUCell``, a masked GRU text encoder, and the fix of the classic
``LSTM(return_sequences=True)`` → ``Dense`` snippet. TensorFlow is imported lazily (never torch)."""
from __future__ import annotations

import numpy as np

from ..check import expect_close, expect_equal, fail, register


def _tf():
    import tensorflow as tf  # lazy

    return tf


@register("nb02k-masked-mean", twins=("mmcourse.keras.encoders:masked_mean", "mmcourse.grading.checks.nb02:masked_mean_reference",),
          why="Averaging over padding makes the same caption's vector depend "
          "on the batch it was padded in; the mask removes that.")
def check_masked_mean(masked_mean_pool):
    tf = _tf()
    from ...keras.encoders import masked_mean

    rng = np.random.default_rng(0)
    seq = rng.normal(size=(3, 5, 4)).astype(np.float32)
    cases = [("hand case: [1, 3, pad] → 2", np.array([[[1.0], [3.0], [100.0]]], np.float32),
              np.array([[True, True, False]]))]
    cases.append(("3 sequences of lengths 5, 2, 1", seq,
                  np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], bool)))
    cases.append(("no padding at all", seq, np.ones((3, 5), bool)))
    for case, x, mask in cases:
        got = masked_mean_pool(tf.constant(x), tf.constant(mask))
        expect_close(np.asarray(got), masked_mean(tf.constant(x), tf.constant(mask)).numpy(), case,
                     "sum(seq * mask[..., None], axis=1) / sum(mask, axis=1)[:, None] — cast the "
                     "boolean mask to float first", rtol=1e-5, atol=1e-5)
    short = masked_mean_pool(tf.constant(seq[:1, :2]), tf.constant(np.ones((1, 2), bool)))
    padded = masked_mean_pool(tf.constant(np.concatenate([seq[:1, :2], 9 * np.ones((1, 4, 4), np.float32)], 1)),
                              tf.constant(np.array([[1, 1, 0, 0, 0, 0]], bool)))
    expect_close(np.asarray(padded), np.asarray(short), "the same sequence with 4 padded steps of 9s",
                 "padded positions must not count", rtol=1e-5, atol=1e-5)


def _gru_reference(x, h, kernel, recurrent, bias):
    """Keras GRU (reset_after=True) step, gates in the order z, r, h̃."""
    tf = _tf()
    import keras

    cell = keras.layers.GRUCell(h.shape[1])
    cell.build((None, x.shape[1]))
    cell.set_weights([kernel, recurrent, bias])
    out, _ = cell(tf.constant(x), [tf.constant(h)])
    return out.numpy()


@register("nb02k-gru-step", twins=("mmcourse.grading.checks.nb02k:_gru_reference",),
          why="A GRU is two gates and a candidate state: update z decides how much "
          "of the old memory to keep, reset r how much of it to use.")
def check_gru_step(gru_step):
    rng = np.random.default_rng(1)
    for n, d, u in [(1, 2, 3), (4, 5, 6), (2, 8, 1)]:
        x = rng.normal(size=(n, d)).astype(np.float32)
        h = rng.normal(size=(n, u)).astype(np.float32)
        kernel = rng.normal(scale=0.5, size=(d, 3 * u)).astype(np.float32)
        recurrent = rng.normal(scale=0.5, size=(u, 3 * u)).astype(np.float32)
        bias = rng.normal(scale=0.5, size=(2, 3 * u)).astype(np.float32)
        got = gru_step(x, h, kernel, recurrent, bias)
        expect_close(np.asarray(got), _gru_reference(x, h, kernel, recurrent, bias),
                     f"batch {n}, input size {d}, {u} units",
                     "split the 3u columns into z, r, h̃ (in that order); bias[0] is added to x @ kernel, "
                     "bias[1] to h @ recurrent; h̃ = tanh(xW_h + b0_h + r * (hU_h + b1_h)); "
                     "h_new = z * h + (1 - z) * h̃", rtol=1e-4, atol=1e-5)


def _ids(rows, width):
    out = np.zeros((len(rows), width), np.int32)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


@register("nb02k-text-encoder", twins=("mmcourse.keras.encoders:TextEncoder.__init__",),
          why="mask_zero=True lets the GRU skip padding, so a caption's vector "
          "does not depend on how much it was padded.")
def check_text_encoder(build_text_encoder):
    tf = _tf()
    import keras

    model = build_text_encoder(30, 12)
    if not isinstance(model, keras.Model):
        fail("build_text_encoder(30, 12)", "a keras.Model", type(model).__name__)
    caption = [4, 9, 2, 7]
    base = np.asarray(model(tf.constant(_ids([caption], 4))))
    expect_equal(base.shape, (1, 12), "one caption of 4 tokens", "end with Dense(embed_dim)")
    for width in (6, 11):
        got = np.asarray(model(tf.constant(_ids([caption, [5] * width], width))))[:1]
        expect_close(got, base, f"the same caption padded to {width} tokens in a batch",
                     "Embedding(vocab_size, ..., mask_zero=True) so the GRU skips the zeros",
                     rtol=1e-4, atol=1e-5)
    swapped = np.asarray(model(tf.constant(_ids([caption[::-1]], 4))))
    if np.allclose(swapped, base, atol=1e-4):
        fail("the caption reversed", "a different vector (a GRU reads in order)", "the same vector",
             "use a GRU over the sequence, not an average of word vectors")


@register("nb02k-fix-lstm-head", why="return_sequences=True gives one output per word; a caption-level "
          "head needs one vector per caption.")
def check_fixed_classifier(build_classifier):
    tf = _tf()

    model = build_classifier(40, 5)
    for width in (3, 8):
        out = model(tf.constant(_ids([[3, 4, 5], [6, 7]], width)))
        expect_equal(tuple(out.shape), (2, 5), f"2 captions padded to {width} tokens",
                     "one row per caption: LSTM(return_sequences=False), or pool the sequence before "
                     "the Dense head")
    a = np.asarray(model(tf.constant(_ids([[3, 4, 5]], 3))))
    b = np.asarray(model(tf.constant(_ids([[3, 4, 5]], 9))))
    expect_close(b, a, "the same caption with 6 more padding tokens",
                 "mask the padding: Embedding(..., mask_zero=True)", rtol=1e-4, atol=1e-5)
