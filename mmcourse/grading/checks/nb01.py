"""Checkers for notebook 01 (CNN image features): conv output size, conv2d, max pooling,
receptive field. References: PyTorch's ``conv2d`` / ``max_pool2d`` (imported lazily) and the
closed-form receptive-field recursion."""
from __future__ import annotations

import numpy as np

from ..check import expect_close, expect_equal, fail, register


def _torch():
    import torch  # lazy: checker modules must stay import-light

    return torch


@register("nb01-output-size", why="Every CNN layer's output shape follows from this one formula.")
def check_output_size(conv_output_size):
    cases = [(32, 3, 1, 0), (32, 3, 1, 1), (32, 5, 2, 2), (7, 3, 2, 0), (28, 2, 2, 0),
             (5, 5, 1, 0), (4, 3, 3, 1), (10, 1, 1, 0)]
    for n, k, s, p in cases:
        expected = (n + 2 * p - k) // s + 1
        got = conv_output_size(n, k, stride=s, padding=p)
        expect_equal(int(got) if isinstance(got, (int, np.integer)) else got, expected,
                     f"n={n}, kernel_size={k}, stride={s}, padding={p}",
                     "floor((n + 2*padding - kernel_size) / stride) + 1 — use // for the floor")


def _conv_cases(rng):
    eye = np.arange(25, dtype=np.float64).reshape(1, 1, 5, 5)
    box = np.ones((1, 1, 3, 3))
    asym = np.array([[[[1.0, 0.0], [0.0, -1.0]]]])  # catches a flipped kernel
    yield "a 5x5 ramp and a 3x3 box filter", eye, box, None, 1, 0
    yield "a 2x2 asymmetric kernel (no flipping!)", eye, asym, None, 1, 0
    yield "padding=1 on a box filter", eye, box, np.array([0.5]), 1, 1
    yield "stride=2", eye, box, None, 2, 0
    x = rng.normal(size=(2, 3, 7, 6))
    w = rng.normal(size=(4, 3, 3, 2))
    yield "2 images, 3 input channels, 4 filters of 3x2, a bias", x, w, rng.normal(size=4), 1, 0
    yield "stride=2 and padding=2 with several channels", x, rng.normal(size=(5, 3, 3, 3)), \
        rng.normal(size=5), 2, 2


@register("nb01-conv2d", why="A convolution is a small dot product slid over the image: "
          "the same weights everywhere, which is why CNNs need few parameters.")
def check_conv2d(conv2d):
    torch = _torch()
    rng = np.random.default_rng(1)
    for case, x, w, b, stride, padding in _conv_cases(rng):
        expected = torch.nn.functional.conv2d(
            torch.from_numpy(x), torch.from_numpy(w),
            None if b is None else torch.from_numpy(np.asarray(b, dtype=np.float64)),
            stride=stride, padding=padding).numpy()
        got = conv2d(x.copy(), w.copy(), None if b is None else np.array(b), stride=stride,
                     padding=padding)
        expect_close(got, expected, case,
                     "output[n, o, i, j] = b[o] + sum over c, di, dj of "
                     "x_padded[n, c, i*stride+di, j*stride+dj] * w[o, c, di, dj] "
                     "(PyTorch does not flip the kernel)", rtol=1e-6, atol=1e-8)


@register("nb01-maxpool", why="Pooling keeps the strongest response in each window, making "
          "features tolerant to small shifts and shrinking the map.")
def check_maxpool(max_pool2d):
    torch = _torch()
    rng = np.random.default_rng(2)
    ramp = np.arange(16, dtype=np.float64).reshape(1, 1, 4, 4)
    cases = [("a 4x4 ramp, size=2", ramp, 2, None),
             ("negative values, size=2", -ramp, 2, None),
             ("an odd 5x5 input (the last row/column is dropped)",
              rng.normal(size=(1, 1, 5, 5)), 2, None),
             ("overlapping windows: size=3, stride=1", rng.normal(size=(2, 3, 6, 6)), 3, 1),
             ("size=3, stride=2 on 2 images x 4 channels", rng.normal(size=(2, 4, 9, 7)), 3, 2)]
    for case, x, size, stride in cases:
        expected = torch.nn.functional.max_pool2d(torch.from_numpy(x), size,
                                                  stride=stride).numpy()
        got = max_pool2d(x.copy(), size, stride=stride)
        expect_close(got, expected, case, "take the max over each size x size window; "
                     "stride defaults to size; windows that do not fit are dropped")


def receptive_field_reference(layers) -> int:
    """Receptive field of one output unit: r grows by (k - 1) x (product of earlier strides)."""
    r, jump = 1, 1
    for k, s in layers:
        r += (k - 1) * jump
        jump *= s
    return r


@register("nb01-receptive-field", twins=("mmcourse.grading.checks.nb01:receptive_field_reference",),
          why="The receptive field tells you how much of the image one "
          "feature can see: deep layers see whole objects, early ones only edges.")
def check_receptive_field(receptive_field):
    cases = [[], [(3, 1)], [(3, 1), (3, 1)], [(3, 1), (2, 2), (3, 1), (2, 2)],
             [(5, 2), (3, 2), (3, 2)], [(1, 1), (7, 1)], [(2, 2), (2, 2), (2, 2), (3, 1)]]
    for layers in cases:
        expect_equal(receptive_field(list(layers)), receptive_field_reference(layers),
                     f"layers={layers}",
                     "start from r=1; each layer adds (kernel - 1) times the product of the "
                     "strides of the layers before it")
    if receptive_field([(3, 1)] * 3) == 9:
        fail("three 3x3 stride-1 convolutions", 7, 9,
             "stacked kernels overlap: the growth is additive, not multiplicative")
