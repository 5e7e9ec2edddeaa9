"""mmcourse.video: frame sampling, temporal mean pooling, 3-D convolution (and its output shape),
frame differences and the probes' pairwise accuracy — by hand, against PyTorch, by properties
(hypothesis) and on bad input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mmcourse import video


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield torch
    torch.set_num_threads(old)


# ------------------------------------------------------------------------------------------------
# sample_frames
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_frames, k, want", [
    (8, 4, [1, 3, 5, 7]), (16, 16, list(range(16))), (10, 3, [1, 5, 8]), (100, 1, [50]),
    (1, 1, [0]), (9, 4, [1, 3, 5, 7]), (7, 2, [1, 5]), (5, 5, [0, 1, 2, 3, 4])])
def test_sample_frames_by_hand(n_frames, k, want):
    got = video.sample_frames(n_frames, k)
    assert got.dtype == np.int64 and got.shape == (k,)
    assert got.tolist() == want


def test_sample_frames_accepts_numpy_integers():
    assert video.sample_frames(np.int64(8), np.int32(4)).tolist() == [1, 3, 5, 7]


@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.just(n), st.integers(1, n))))
def test_sample_frames_properties(nk):
    n, k = nk
    idx = video.sample_frames(n, k)
    assert idx.shape == (k,) and idx.dtype.kind == "i"
    assert (np.diff(idx) > 0).all()                              # strictly increasing: no repeats
    assert idx.min() >= 0 and idx.max() < n
    i = np.arange(k)
    # frame idx (the interval [idx, idx + 1)) holds the centre of segment i, so it overlaps that
    # segment [i n / k, (i + 1) n / k); exact integer arithmetic. (idx itself may lie just before
    # the segment's start: n=5, k=4 takes frame 1 for the segment [1.25, 2.5), centre 1.875.)
    assert (2 * idx * k <= (2 * i + 1) * n).all() and ((2 * i + 1) * n < 2 * (idx + 1) * k).all()
    assert (i * n < (idx + 1) * k).all() and (idx * k < (i + 1) * n).all()
    if n % k == 0:                                               # equal integer segments: inside
        assert (i * n <= idx * k).all()
    # and it is the segment's centre, rounded down
    assert idx.tolist() == [((2 * j + 1) * n) // (2 * k) for j in range(k)]


# ------------------------------------------------------------------------------------------------
# temporal_mean_pool
# ------------------------------------------------------------------------------------------------
def test_temporal_mean_pool_by_hand():
    f = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
                  [[0.0, 0.0], [10.0, 20.0], [99.0, 99.0]]])
    assert np.array_equal(video.temporal_mean_pool(f), [[3.0, 4.0], [109 / 3, 119 / 3]])
    assert np.array_equal(video.temporal_mean_pool(f, [1, 2]), [[1.0, 2.0], [5.0, 10.0]])
    assert np.array_equal(video.temporal_mean_pool(f, np.array([3, 3])), video.temporal_mean_pool(f))
    out = video.temporal_mean_pool(f.astype(np.float32), [2, 1])
    assert out.dtype == np.float64 and out.shape == (2, 2)
    assert np.array_equal(out, [[2.0, 3.0], [0.0, 0.0]])


def test_temporal_mean_pool_ignores_what_the_padding_holds():
    rng = np.random.default_rng(0)
    f = rng.normal(size=(4, 6, 5))
    lengths = np.array([6, 1, 3, 4])
    g = f.copy()
    for i, L in enumerate(lengths):
        g[i, L:] = 1e6 * rng.normal(size=(6 - L, 5))
    np.testing.assert_allclose(video.temporal_mean_pool(g, lengths), video.temporal_mean_pool(f, lengths),
                               rtol=0, atol=1e-12)


_features = hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 7), st.integers(1, 6)),
                       elements=st.floats(-1e3, 1e3, allow_nan=False))


@given(_features, st.data())
def test_temporal_mean_pool_properties(f, data):
    n, T, _ = f.shape
    np.testing.assert_allclose(video.temporal_mean_pool(f), f.mean(axis=1), rtol=1e-12, atol=1e-9)
    lengths = np.array(data.draw(st.lists(st.integers(1, T), min_size=n, max_size=n)))
    got = video.temporal_mean_pool(f, lengths)
    want = np.stack([f[i, :L].mean(axis=0) for i, L in enumerate(lengths)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
    # reversing each clip's real frames (the padding stays where it is) changes nothing
    rev = f.copy()
    for i, L in enumerate(lengths):
        rev[i, :L] = f[i, :L][::-1]
    np.testing.assert_allclose(video.temporal_mean_pool(rev, lengths), got, rtol=1e-12, atol=1e-9)


# ------------------------------------------------------------------------------------------------
# conv3d_output_shape
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("args, want", [
    (((8, 32, 32), 3, 1, 1), (8, 32, 32)),
    (((8, 32, 32), 3, (1, 2, 2), 1), (8, 16, 16)),
    (((16, 112, 112), 3, 1, 0), (14, 110, 110)),
    (((8, 16, 16), 3, 2, 1), (4, 8, 8)),
    (((5, 9, 7), (2, 3, 4), (2, 1, 3), (0, 1, 2)), (2, 9, 3)),
    (((4, 4, 4), 4, 1, 0), (1, 1, 1)),
    (((10, 10, 10), 3, 1, 0, 2), (6, 6, 6)),                    # dilation 2: an effective kernel of 5
    (((7, 7, 7), [1, 2, 3], [1, 1, 1], [0, 0, 0], [1, 1, 1]), (7, 6, 5)),
])
def test_conv3d_output_shape_by_hand(args, want):
    got = video.conv3d_output_shape(*args)
    assert got == want and isinstance(got, tuple) and all(type(v) is int for v in got)


@pytest.mark.parametrize("size", [(1, 5, 7), (4, 8, 9), (7, 3, 12)])
def test_conv3d_output_shape_matches_torch_conv3d(torch, size):
    x = torch.zeros((1, 1) + size)
    n_checked = 0
    for k in [1, 2, 3, (1, 3, 2)]:
        for s in [1, 2, (3, 1, 2)]:
            for p in [0, 1, (2, 0, 1)]:
                for d in [1, 2, (1, 2, 1)]:
                    layer = torch.nn.Conv3d(1, 1, k, stride=s, padding=p, dilation=d, bias=False)
                    try:
                        with torch.no_grad():
                            want = tuple(layer(x).shape[2:])
                    except RuntimeError:
                        want = None
                    if want is None or min(want) < 1:
                        with pytest.raises(ValueError, match="^kernel_size"):
                            video.conv3d_output_shape(size, k, s, p, d)
                    else:
                        assert video.conv3d_output_shape(size, k, s, p, d) == want, (size, k, s, p, d)
                        n_checked += 1
    assert n_checked > 50


# ------------------------------------------------------------------------------------------------
# conv3d
# ------------------------------------------------------------------------------------------------
def test_conv3d_by_hand():
    x = np.zeros((1, 1, 3, 3, 3))
    x[0, 0, 1, 1, 1] = 1.0
    w = np.arange(27, dtype=np.float64).reshape(1, 1, 3, 3, 3)
    # a cross-correlation: the middle weight meets the impulse
    assert np.array_equal(video.conv3d(x, w), [[[[[13.0]]]]])
    # with padding 1 the impulse response is the flipped kernel
    assert np.array_equal(video.conv3d(x, w, padding=1), w[:, :, ::-1, ::-1, ::-1])
    # ones * ones over 2×2×2, two input channels, bias per output channel
    out = video.conv3d(np.ones((1, 2, 2, 2, 2)), np.ones((3, 2, 2, 2, 2)), bias=[0.0, 1.0, -16.0])
    assert out.shape == (1, 3, 1, 1, 1) and out.ravel().tolist() == [16.0, 17.0, 0.0]
    # stride 2 on a ramp along time, a 1×1×1 kernel: every other frame
    ramp = np.arange(5, dtype=np.float64).reshape(1, 1, 5, 1, 1)
    assert video.conv3d(ramp, 2 * np.ones((1, 1, 1, 1, 1)), stride=(2, 1, 1)).ravel().tolist() == [0, 4, 8]
    # integer inputs give float64
    assert video.conv3d(np.ones((1, 1, 2, 2, 2), int), np.ones((1, 1, 1, 1, 1), int)).dtype == np.float64


@pytest.mark.parametrize("xshape, wshape, stride, padding, with_bias", [
    ((2, 3, 6, 8, 8), (4, 3, 3, 3, 3), 1, 1, True),
    ((1, 2, 8, 9, 7), (3, 2, 3, 2, 3), 2, 0, False),
    ((2, 5, 4, 6, 6), (2, 5, 1, 3, 3), (1, 2, 2), (0, 1, 1), True),
    ((1, 1, 5, 5, 5), (1, 1, 5, 5, 5), 1, 0, False),
    ((3, 2, 7, 4, 5), (2, 2, 2, 4, 1), (3, 1, 2), (2, 0, 1), True),
    ((1, 4, 3, 3, 3), (6, 4, 1, 1, 1), 1, 0, True),
    ((2, 1, 6, 5, 4), (2, 1, 3, 3, 3), [2, 1, 3], [1, 2, 0], False),
    ((1, 3, 4, 4, 4), (2, 3, 2, 2, 2), 3, 2, True),
])
def test_conv3d_matches_torch(torch, xshape, wshape, stride, padding, with_bias):
    rng = np.random.default_rng(sum(xshape) * 31 + sum(wshape))
    x, w = rng.normal(size=xshape), rng.normal(size=wshape)
    b = rng.normal(size=wshape[0]) if with_bias else None
    as_t = lambda v: tuple(v) if isinstance(v, (list, tuple)) else v  # noqa: E731
    want = torch.nn.functional.conv3d(torch.from_numpy(x), torch.from_numpy(w),
                                      None if b is None else torch.from_numpy(b),
                                      stride=as_t(stride), padding=as_t(padding)).numpy()
    got = video.conv3d(x, w, b, stride, padding)
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


# ------------------------------------------------------------------------------------------------
# frame_differences
# ------------------------------------------------------------------------------------------------
def test_frame_differences_by_hand():
    clip = np.zeros((3, 2, 2, 3), dtype=np.uint8)
    clip[1, 0, 0] = (30, 60, 90)
    got = video.frame_differences(clip)
    want = np.zeros((2, 2, 2))
    want[:, 0, 0] = 60.0                                         # up by 60 on average, then down
    assert got.dtype == np.float64 and np.array_equal(got, want)
    bw = np.array([0, 255], dtype=np.uint8)[:, None, None, None] * np.ones((2, 1, 1, 3), np.uint8)
    assert video.frame_differences(bw).tolist() == [[[255.0]]]
    assert video.frame_differences(bw[::-1]).tolist() == [[[255.0]]]  # 0 - 255 does not wrap to 1
    still = np.full((4, 3, 5, 3), 17, dtype=np.uint8)
    assert np.array_equal(video.frame_differences(still), np.zeros((3, 3, 5)))


@given(hnp.arrays(np.uint8, st.tuples(st.integers(2, 5), st.integers(1, 4), st.integers(1, 4), st.just(3))))
def test_frame_differences_on_uint8_equals_the_float_computation(clip):
    got = video.frame_differences(clip)
    want = np.abs(clip[1:].astype(np.float64) - clip[:-1].astype(np.float64)).mean(axis=-1)
    assert got.shape == (clip.shape[0] - 1,) + clip.shape[1:3]
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
    assert got.min() >= 0 and got.max() <= 255
    np.testing.assert_allclose(video.frame_differences(clip.astype(np.float32)), want, atol=1e-9)


# ------------------------------------------------------------------------------------------------
# pairwise_accuracy
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("p, n, want", [
    ([3.0, 1.0, 2.0], [1.0, 2.0, 2.0], 0.5),                     # a win, a loss, a tie
    ([1.0, 2.0], [0.0, 0.0], 1.0), ([0.0, 0.0], [1.0, 2.0], 0.0), ([5.0], [5.0], 0.5),
    ([1, 2, 3, 4], [0, 2, 5, 4], 0.5), ([1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 1.0, 1.0], 0.625)])
def test_pairwise_accuracy_by_hand(p, n, want):
    got = video.pairwise_accuracy(p, n)
    assert type(got) is float and got == want


_scores = st.integers(1, 40).flatmap(lambda m: st.tuples(
    hnp.arrays(np.float64, m, elements=st.integers(-3, 3).map(float)),   # few values: many ties
    hnp.arrays(np.float64, m, elements=st.integers(-3, 3).map(float))))


@given(_scores)
def test_pairwise_accuracy_properties(pn):
    p, n = pn
    a, b = video.pairwise_accuracy(p, n), video.pairwise_accuracy(n, p)
    assert 0.0 <= a <= 1.0 and 0.0 <= b <= 1.0
    assert a + b == pytest.approx(1.0, abs=1e-12)
    assert video.pairwise_accuracy(p, p.copy()) == 0.5
    assert a == pytest.approx((np.sum(p > n) + 0.5 * np.sum(p == n)) / len(p), abs=1e-12)


# ------------------------------------------------------------------------------------------------
# bad input: ValueError naming the argument
# ------------------------------------------------------------------------------------------------
_ok_x, _ok_w = np.ones((1, 2, 4, 4, 4)), np.ones((3, 2, 3, 3, 3))


@pytest.mark.parametrize("call, name", [
    (lambda: video.sample_frames(4, 6), "k"),
    (lambda: video.sample_frames(4, 0), "k"),
    (lambda: video.sample_frames(4, 2.0), "k"),
    (lambda: video.sample_frames(0, 1), "n_frames"),
    (lambda: video.sample_frames(8.0, 2), "n_frames"),
    (lambda: video.sample_frames(True, 1), "n_frames"),
    (lambda: video.temporal_mean_pool(np.ones((2, 3))), "features"),
    (lambda: video.temporal_mean_pool(np.ones((2, 3, 4, 5))), "features"),
    (lambda: video.temporal_mean_pool(np.ones((2, 0, 4))), "features"),
    (lambda: video.temporal_mean_pool(np.ones((2, 3, 4)), [1, 2, 3]), "lengths"),
    (lambda: video.temporal_mean_pool(np.ones((2, 3, 4)), [[1, 2]]), "lengths"),
    (lambda: video.temporal_mean_pool(np.ones((2, 3, 4)), [0, 2]), "lengths"),
    (lambda: video.temporal_mean_pool(np.ones((2, 3, 4)), [1, 4]), "lengths"),
    (lambda: video.temporal_mean_pool(np.ones((2, 3, 4)), [1.5, 2]), "lengths"),  # not a frame count
    (lambda: video.conv3d_output_shape((2, 32, 32), 3), "kernel_size"),
    (lambda: video.conv3d_output_shape((4, 4, 4), (3, 5, 3), 1, 0), "kernel_size"),
    (lambda: video.conv3d_output_shape((4, 4, 4), 3, 1, 0, 2), "kernel_size"),
    (lambda: video.conv3d_output_shape((4, 4, 4), (3, 3)), "kernel_size"),
    (lambda: video.conv3d_output_shape((4, 4, 4), 0), "kernel_size"),
    (lambda: video.conv3d_output_shape((8, 8), 3), "input_shape"),
    (lambda: video.conv3d_output_shape((8, 0, 8), 1), "input_shape"),
    (lambda: video.conv3d_output_shape((8, 8, 8), 3, 0), "stride"),
    (lambda: video.conv3d_output_shape((8, 8, 8), 3, 1, -1), "padding"),
    (lambda: video.conv3d_output_shape((8, 8, 8), 3, 1, 1, 0), "dilation"),
    (lambda: video.conv3d(np.ones((2, 4, 4, 4)), _ok_w), "x"),
    (lambda: video.conv3d(_ok_x, np.ones((3, 1, 3, 3, 3))), "weight"),
    (lambda: video.conv3d(_ok_x, np.ones((3, 2, 3, 3))), "weight"),
    (lambda: video.conv3d(_ok_x, np.ones((3, 2, 5, 3, 3))), "kernel_size"),
    (lambda: video.conv3d(_ok_x, _ok_w, stride=0), "stride"),
    (lambda: video.conv3d(_ok_x, _ok_w, padding=(1, 1)), "padding"),
    (lambda: video.conv3d(_ok_x, _ok_w, bias=np.ones(4)), "bias"),
    (lambda: video.conv3d(_ok_x, _ok_w, bias=np.ones(1)), "bias"),       # 3 output channels
    (lambda: video.frame_differences(np.zeros((1, 4, 4, 3), np.uint8)), "clip"),
    (lambda: video.frame_differences(np.zeros((3, 4, 4), np.uint8)), "clip"),
    (lambda: video.frame_differences(np.zeros((3, 4, 4, 4), np.uint8)), "clip"),
    (lambda: video.pairwise_accuracy(np.ones(3), np.ones(4)), "negative_scores"),
    (lambda: video.pairwise_accuracy(np.ones((2, 2)), np.ones((2, 2))), "negative_scores"),
    (lambda: video.pairwise_accuracy([], []), "negative_scores"),
])
def test_bad_input_raises_a_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        call()
