"""Checkers for notebook 02 (RNN text features): padding, an RNN cell, a GRU step and masked
mean pooling. References: ``mmcourse.text.pad_sequences`` and PyTorch's ``RNNCell`` /
``GRUCell`` (imported lazily)."""
from __future__ import annotations

import numpy as np

from ..check import expect_close, expect_equal, fail, register


def _torch():
    import torch  # lazy: checker modules must stay import-light

    return torch


@register("nb02-pad", twins=("mmcourse.text:pad_sequences",),
          why="A batch of sentences must be a rectangle: pad to one length and "
          "remember the true lengths so the model can ignore the padding.")
def check_pad(pad_batch):
    from ...text import pad_sequences

    cases = [("two sentences", [[5, 6, 7], [8]], None),
             ("one sentence", [[3, 4]], None),
             ("truncation with max_len=2", [[5, 6, 7], [8], [9, 10]], 2),
             ("max_len longer than every sentence", [[2], [3, 4]], 5)]
    for case, seqs, max_len in cases:
        ids_ref, len_ref = pad_sequences([list(s) for s in seqs], max_len=max_len)
        got = pad_batch([list(s) for s in seqs], max_len=max_len)
        if not isinstance(got, tuple) or len(got) != 2:
            fail(case, "a tuple (ids, lengths)", type(got).__name__)
        ids, lengths = got
        expect_equal(np.asarray(ids), np.asarray(ids_ref), case + " (ids)",
                     "pad with 0 (the <pad> id) at the END; truncate to the first max_len tokens")
        expect_equal(np.asarray(lengths), np.asarray(len_ref), case + " (lengths)",
                     "lengths are the number of real tokens after truncation")
        if np.asarray(ids).dtype != np.int64:
            fail(case, "ids of dtype int64", f"dtype {np.asarray(ids).dtype}",
                 "use np.zeros(..., dtype=np.int64)")


def _rnn_reference(x, h, W, U, b):
    torch = _torch()
    cell = torch.nn.RNNCell(W.shape[1], W.shape[0], nonlinearity="tanh").double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.from_numpy(W))
        cell.weight_hh.copy_(torch.from_numpy(U))
        cell.bias_ih.copy_(torch.from_numpy(b))
        cell.bias_hh.zero_()
        return cell(torch.from_numpy(x), torch.from_numpy(h)).numpy()


@register("nb02-rnn-cell", twins=("mmcourse.grading.checks.nb02:_rnn_reference",),
          why="One recurrent step mixes the new word with a summary of "
          "everything before it; the same weights are reused at every position.")
def check_rnn_cell(rnn_cell):
    rng = np.random.default_rng(3)
    for case, n, d_in, d_h in [("a batch of 1, 2 inputs, 3 hidden units", 1, 2, 3),
                               ("a batch of 4, 5 inputs, 2 hidden units", 4, 5, 2),
                               ("large pre-activations (tanh saturates)", 3, 4, 4)]:
        scale = 5.0 if "large" in case else 1.0
        x, h = rng.normal(size=(n, d_in)) * scale, rng.normal(size=(n, d_h))
        W, U, b = rng.normal(size=(d_h, d_in)), rng.normal(size=(d_h, d_h)), rng.normal(size=d_h)
        got = rnn_cell(x.copy(), h.copy(), W.copy(), U.copy(), b.copy())
        expect_close(got, _rnn_reference(x, h, W, U, b), case,
                     "h_new = tanh(x @ W.T + h @ U.T + b); rows of x are examples")


def _gru_reference(x, h, W_ih, W_hh, b_ih, b_hh):
    torch = _torch()
    cell = torch.nn.GRUCell(W_ih.shape[1], h.shape[1]).double()
    with torch.no_grad():
        for name, value in (("weight_ih", W_ih), ("weight_hh", W_hh), ("bias_ih", b_ih),
                            ("bias_hh", b_hh)):
            getattr(cell, name).copy_(torch.from_numpy(value))
        return cell(torch.from_numpy(x), torch.from_numpy(h)).numpy()


@register("nb02-gru-cell", twins=("mmcourse.grading.checks.nb02:_gru_reference",),
          why="The GRU's update gate z lets the state copy itself forward "
          "unchanged, so gradients survive long sentences.")
def check_gru_cell(gru_cell):
    rng = np.random.default_rng(4)
    for case, n, d_in, d_h in [("a batch of 1, 2 inputs, 3 hidden units", 1, 2, 3),
                               ("a batch of 5, 4 inputs, 6 hidden units", 5, 4, 6)]:
        x, h = rng.normal(size=(n, d_in)), rng.normal(size=(n, d_h))
        W_ih, W_hh = rng.normal(size=(3 * d_h, d_in)), rng.normal(size=(3 * d_h, d_h))
        b_ih, b_hh = rng.normal(size=3 * d_h), rng.normal(size=3 * d_h)
        got = gru_cell(x.copy(), h.copy(), W_ih.copy(), W_hh.copy(), b_ih.copy(), b_hh.copy())
        expect_close(got, _gru_reference(x, h, W_ih, W_hh, b_ih, b_hh), case,
                     "gates are stacked r, z, n in that order; n = tanh(x W_in + b_in + "
                     "r * (h W_hn + b_hn)) — r multiplies the WHOLE hidden term including b_hn; "
                     "h_new = (1 - z) * n + z * h")


def masked_mean_reference(states, lengths):
    states = np.asarray(states, dtype=np.float64)
    mask = np.arange(states.shape[1])[None, :] < np.asarray(lengths)[:, None]
    total = (states * mask[..., None]).sum(axis=1)
    return total / np.maximum(mask.sum(axis=1), 1)[:, None]


@register("nb02-masked-mean", twins=("mmcourse.grading.checks.nb02:masked_mean_reference", "mmcourse.keras.encoders:masked_mean",),
          why="Averaging only the real time steps makes a sentence's "
          "embedding independent of how much padding its batch needed.")
def check_masked_mean(masked_mean):
    rng = np.random.default_rng(5)
    tiny = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    expect_close(masked_mean(tiny.copy(), np.array([2])), np.array([[2.0, 3.0]]),
                 "one sentence of 2 tokens padded to 3", "ignore the steps t >= length")
    states = rng.normal(size=(4, 6, 3))
    lengths = np.array([6, 1, 3, 4])
    expect_close(masked_mean(states.copy(), lengths.copy()),
                 masked_mean_reference(states, lengths), "4 sentences of lengths 6, 1, 3, 4",
                 "divide each row by its own length, not by the padded length")
    got = masked_mean(states[:2].copy(), np.array([0, 2]))
    expect_close(got, masked_mean_reference(states[:2], np.array([0, 2])),
                 "a sentence of length 0", "an empty sentence should give a zero vector, "
                 "not NaN: divide by max(length, 1)")
