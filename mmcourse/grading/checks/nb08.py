"""Checkers for notebook 08 (video retrieval): frame sampling, temporal mean pooling, the output
shape of a 3-D convolution, a 3-D convolution, frame differences and the probes' pairwise accuracy.

References: :mod:`mmcourse.video` (its conv3d is tested against ``torch.nn.functional.conv3d``);
the learner's versions must not call it (its functions are the exercises' twins).
"""
from __future__ import annotations

import numpy as np

from ..check import expect_close, expect_equal, expect_raises, fail, register


def _array(got, case: str, hint: str = "") -> np.ndarray:
    try:
        return np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        fail(case, "a numpy array", type(got).__name__, hint)


@register("nb08-sample", twins=("mmcourse.video:sample_frames",),
          why="A model sees a fixed number of frames; taking the centre of equal segments covers "
              "the whole clip, so no part of the motion is skipped (TSN).")
def check_sample(fn):
    from mmcourse.video import sample_frames

    case = "n_frames=8, k=4"
    got = _array(fn(8, 4), case)
    if np.array_equal(got, [0, 1, 2, 3]):
        fail(case, [1, 3, 5, 7], got, "spread the k frames over the whole clip, not the first k")
    if np.array_equal(got, [0, 2, 4, 6]):
        fail(case, [1, 3, 5, 7], got, "take the *centre* of each of the k segments: "
             "floor((i + 0.5) * n_frames / k)")
    expect_equal(got, np.array([1, 3, 5, 7], dtype=np.float64), case,
                 "segment i covers [i n/k, (i+1) n/k); take its centre, rounded down")
    for n, k in [(16, 8), (10, 3), (7, 7), (100, 1), (9, 4)]:
        c = f"n_frames={n}, k={k}"
        expect_equal(_array(fn(n, k), c), sample_frames(n, k).astype(np.float64), c,
                     "floor((i + 0.5) * n_frames / k) for i = 0 .. k - 1")
    got = np.asarray(fn(16, 8))
    if got.dtype.kind not in "iu":
        fail("n_frames=16, k=8 (dtype)", "integer indices", f"dtype {got.dtype}",
             "indices index frames: return integers (astype(np.int64))")
    expect_raises(lambda: fn(4, 6), "k=6 > n_frames=4", match="k",
                  hint="raise ValueError('k: ...') when more frames are asked than the clip has")


@register("nb08-meanpool", twins=("mmcourse.video:temporal_mean_pool",),
          why="Mean pooling is the simplest way from frames to a clip: it keeps what is seen and "
              "forgets when — including the order of the frames.")
def check_meanpool(fn):
    from mmcourse.video import temporal_mean_pool

    f = np.arange(2 * 3 * 2, dtype=np.float64).reshape(2, 3, 2)
    case = "features (2, 3, 2) = 0..11, all frames real"
    got = _array(fn(f, np.array([3, 3])), case)
    if got.shape == (3, 2):
        fail(case, temporal_mean_pool(f), got, "average over time (axis 1), not over the clips")
    expect_close(got, temporal_mean_pool(f), case, "the mean over axis 1")
    case = "features (2, 3, 2), lengths [1, 2] (padded clips)"
    got = _array(fn(f, np.array([1, 2])), case)
    if np.allclose(got, f.mean(axis=1)):
        fail(case, temporal_mean_pool(f, [1, 2]), got,
             "only the first lengths[i] frames of clip i are real; the rest is padding")
    masked = f * (np.arange(3)[None, :] < np.array([1, 2])[:, None])[..., None]
    if got.shape == (2, 2) and np.allclose(got, masked.sum(axis=1) / 3):
        fail(case, temporal_mean_pool(f, [1, 2]), got, "divide by lengths[i], not by T")
    expect_close(got, temporal_mean_pool(f, [1, 2]), case,
                 "sum the first lengths[i] frames, divide by lengths[i]")
    rng = np.random.default_rng(80)
    x = rng.normal(size=(5, 8, 16))
    lengths = np.array([8, 1, 5, 3, 8])
    expect_close(_array(fn(x, lengths), "random (5, 8, 16)"), temporal_mean_pool(x, lengths),
                 "random features (5, 8, 16) with lengths [8, 1, 5, 3, 8]", "mask, sum, divide")
    expect_close(_array(fn(x[:, ::-1], np.full(5, 8)), "reversed"), temporal_mean_pool(x),
                 "the same clips reversed in time", "the mean does not depend on the order")


@register("nb08-conv3d-shape", twins=("mmcourse.video:conv3d_output_shape",),
          why="Every layer of a 3-D CNN shrinks time as well as space; the formula tells how many "
              "frames are left, and when a clip is too short for the network.")
def check_conv3d_shape(fn):
    from mmcourse.video import conv3d_output_shape

    cases = [((8, 32, 32), (3, 3, 3), (1, 1, 1), (1, 1, 1)),
             ((8, 32, 32), (3, 3, 3), (1, 2, 2), (1, 1, 1)),
             ((16, 112, 112), (3, 3, 3), (1, 1, 1), (0, 0, 0)),
             ((8, 16, 16), (3, 3, 3), (2, 2, 2), (1, 1, 1)),
             ((5, 9, 7), (2, 3, 4), (2, 1, 3), (0, 1, 2)),
             ((4, 4, 4), (4, 4, 4), (1, 1, 1), (0, 0, 0))]
    for size, k, s, p in cases:
        case = f"input {size}, kernel {k}, stride {s}, padding {p}"
        try:
            got = tuple(int(v) for v in fn(size, k, s, p))
        except (TypeError, ValueError) as exc:
            fail(case, conv3d_output_shape(size, k, s, p), f"{type(exc).__name__}: {exc}",
                 "return a tuple (T', H', W')")
        want = conv3d_output_shape(size, k, s, p)
        if got != want and got == tuple((x + 2 * pi - ki) // si for x, ki, si, pi in zip(size, k, s, p)):
            fail(case, want, got, "floor((x + 2p - k) / s) + 1: the first window counts too")
        if got != want and got == tuple(-(-(x + 2 * pi - ki) // si) + 1 for x, ki, si, pi in zip(size, k, s, p)):
            fail(case, want, got, "round down (a window that does not fit is not computed)")
        expect_equal(got, want, case, "per axis: floor((x + 2 * padding - kernel) / stride) + 1")
    expect_raises(lambda: fn((2, 32, 32), (3, 3, 3), (1, 1, 1), (0, 0, 0)),
                  "2 frames, a 3-frame kernel and no padding", match="kernel",
                  hint="raise ValueError('kernel_size: ...') when an output axis would be < 1")


@register("nb08-conv3d", twins=("mmcourse.video:conv3d",),
          why="A 3-D kernel spans time as well as space, so one filter can respond to an edge "
              "*moving* in one direction — motion is seen in the first layer.")
def check_conv3d(fn):
    from mmcourse.video import conv3d

    x = np.zeros((1, 1, 3, 3, 3))
    x[0, 0, 1, 1, 1] = 1.0
    w = np.arange(27, dtype=np.float64).reshape(1, 1, 3, 3, 3)
    case = "one impulse in the middle of a 3×3×3 input, kernel 0..26, padding 0"
    got = _array(fn(x, w, None, 1, 0), case)
    expect_close(got, [[[[[13.0]]]]], case, "cross-correlation (no kernel flip): the middle "
                 "weight, 13, meets the impulse; output shape (1, 1, 1, 1, 1)")
    case = "the same impulse, padding 1"
    got = _array(fn(x, w, None, 1, 1), case)
    flipped = w[0, 0, ::-1, ::-1, ::-1]
    if got.shape == (1, 1, 3, 3, 3) and np.allclose(got[0, 0], w[0, 0]):
        fail(case, flipped[None, None], got, "that is a true convolution (flipped kernel); deep "
             "learning 'convolutions' are cross-correlations: out[t] = sum x[t + a] w[a]")
    expect_close(got, flipped[None, None], case,
                 "out[t, i, j] = sum over (a, b, c) of x_padded[t + a, i + b, j + c] * w[a, b, c]")
    rng = np.random.default_rng(81)
    for shape, wshape, stride, pad in [((2, 3, 6, 8, 8), (4, 3, 3, 3, 3), 1, 1),
                                       ((1, 2, 8, 9, 7), (3, 2, 3, 2, 3), 2, 0),
                                       ((2, 5, 4, 6, 6), (2, 5, 1, 3, 3), (1, 2, 2), (0, 1, 1))]:
        xi, wi = rng.normal(size=shape), rng.normal(size=wshape)
        b = rng.normal(size=wshape[0])
        case = f"random x {shape}, weight {wshape}, stride {stride}, padding {pad}, with bias"
        got = _array(fn(xi, wi, b, stride, pad), case)
        want = conv3d(xi, wi, b, stride, pad)
        if got.shape == want.shape and np.allclose(got, want - b[None, :, None, None, None]):
            fail(case, want, got, "add bias[o] to every output of channel o")
        expect_close(got, want, case, "sum over input channels and the kernel's three axes",
                     rtol=1e-6, atol=1e-8)


@register("nb08-motion", twins=("mmcourse.video:frame_differences",),
          why="Differences of consecutive frames are zero wherever nothing changes: the simplest "
              "motion feature, and the idea behind optical flow and two-stream networks.")
def check_motion(fn):
    from mmcourse.video import frame_differences

    clip = np.zeros((3, 2, 2, 3), dtype=np.uint8)
    clip[1, 0, 0] = (30, 60, 90)
    case = "3 black 2×2 frames, one pixel lit (30, 60, 90) in frame 1"
    got = _array(fn(clip), case)
    want = frame_differences(clip)
    wrapped = np.abs(clip[1:] - clip[:-1]).mean(axis=-1)        # what uint8 arithmetic gives
    if got.shape == want.shape and np.allclose(got, wrapped) and not np.allclose(got, want):
        fail(case, want, got, "convert to float before subtracting: uint8 wraps around "
             "(0 - 60 is 196)")
    if got.shape == (2, 2, 2, 3):
        fail(case, want, got, "average the absolute differences over the colour channels")
    if got.shape == (3, 2, 2):
        fail(case, want, got, "T frames have T - 1 differences (no padding)")
    expect_close(got, want, case, "|frame[t + 1] - frame[t]| averaged over the 3 channels: "
                 "60 in both differences at pixel (0, 0)")
    rng = np.random.default_rng(82)
    c = rng.integers(0, 256, size=(8, 16, 16, 3), dtype=np.uint8)
    case = "a random uint8 clip (8, 16, 16, 3)"
    got = _array(fn(c), case)
    if got.shape == (8, 16, 16):
        fail(case, frame_differences(c), got, "T frames have T - 1 differences (no padding)")
    expect_close(got, frame_differences(c), case, "np.abs(np.diff(clip.astype(float), axis=0)).mean(-1)")
    expect_raises(lambda: fn(c[:1]), "a clip of one frame", match="clip",
                  hint="raise ValueError('clip: ...') when there are fewer than 2 frames")


@register("nb08-probe", twins=("mmcourse.video:pairwise_accuracy",),
          why="A probe asks one question per pair; counting ties as half makes a model that "
              "cannot tell the two apart score exactly chance, 0.5.")
def check_probe(fn):
    from mmcourse.video import pairwise_accuracy

    def _value(got, case):
        try:
            return float(got)
        except (TypeError, ValueError):
            fail(case, "a float", type(got).__name__, "return one number in [0, 1]")

    case = "positive [3, 1, 2], negative [1, 2, 2]"
    got = _value(fn(np.array([3.0, 1.0, 2.0]), np.array([1.0, 2.0, 2.0])), case)
    if np.isclose(got, 1 / 3):
        fail(case, 0.5, got, "a tie counts ½, not 0")
    if np.isclose(got, 2 / 3):
        fail(case, 0.5, got, "a tie counts ½, not 1 (>= is too generous)")
    expect_close(got, 0.5, case, "1 win, 1 loss, 1 tie: (1 + 0.5) / 3")
    same = np.linspace(-1, 1, 50)
    expect_close(_value(fn(same, same.copy()), "identical scores"), 0.5,
                 "50 pairs with identical positive and negative scores", "all ties: exactly 0.5")
    rng = np.random.default_rng(83)
    p, n = rng.normal(size=400).round(1), rng.normal(size=400).round(1)  # rounding makes ties
    expect_close(_value(fn(p, n), "random with ties"), pairwise_accuracy(p, n),
                 "400 random pairs (some tied)", "mean of (p > n) + 0.5 * (p == n)")
    expect_raises(lambda: fn(np.ones(3), np.ones(4)), "3 positive and 4 negative scores",
                  match="negative_scores", hint="raise ValueError('negative_scores: ...') when the "
                  "shapes differ: every positive needs its own negative")
