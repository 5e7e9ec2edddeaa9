"""Checkers for notebook 07 (spoken queries): framing, the windowed power spectrum, the mel
filterbank, the DCT-II and cepstral mean / variance normalisation.

Every feature matrix is time first, ``(n_frames, n_features)``. References: ``mmcourse.audio``
(itself tested against librosa and scipy); the learner's versions must not call it (its functions
are the exercises' twins).
"""
from __future__ import annotations

import numpy as np

from ..check import expect_close, expect_raises, fail, register


def _array(got, case: str, hint: str = "") -> np.ndarray:
    try:
        arr = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        fail(case, "a numpy array", type(got).__name__, hint)
    return arr


def _shape(arr: np.ndarray, shape: tuple, case: str, hint: str) -> None:
    if arr.shape != tuple(shape):
        fail(case, f"shape {tuple(shape)}", f"shape {arr.shape}", hint)


@register("nb07-frames", twins=("mmcourse.audio:frame_signal",),
          why="Speech is stationary only over a few tens of milliseconds, so we analyse it in "
              "short overlapping frames: 25 ms windows every 10 ms.")
def check_frames(fn):
    from mmcourse.audio import frame_signal

    x = np.arange(10, dtype=np.float64)
    got = _array(fn(x, 4, 3), "x = 0..9, frame_length=4, hop_length=3")
    want = np.array([[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]], dtype=np.float64)
    _shape(got, want.shape, "x = 0..9, frame_length=4, hop_length=3",
           "n_frames = 1 + (len(x) - frame_length) // hop_length; one row per frame")
    expect_close(got, want, "x = 0..9, frame_length=4, hop_length=3",
                 "frame i is x[i * hop_length : i * hop_length + frame_length]")
    got = _array(fn(np.arange(11, dtype=np.float64), 4, 3), "x = 0..10 (one sample left over)")
    _shape(got, (3, 4), "x = 0..10, frame_length=4, hop_length=3 (the last sample fills no frame)",
           "drop the trailing samples that do not fill a whole frame (no padding)")
    expect_close(_array(fn(np.arange(4.0), 4, 2), "one frame"), [[0, 1, 2, 3]],
                 "a signal exactly one frame long", "a signal of frame_length samples is 1 frame")
    rng = np.random.default_rng(70)
    for n, length, hop in [(16000, 400, 160), (1234, 256, 100), (999, 512, 512)]:
        y = rng.normal(size=n).astype(np.float32)
        case = f"{n} random samples, frame_length={length}, hop_length={hop}"
        got = _array(fn(y, length, hop), case)
        want = frame_signal(y, length, hop)
        _shape(got, want.shape, case, "n_frames = 1 + (len(x) - frame_length) // hop_length")
        expect_close(got, want, case, "frame i starts at sample i * hop_length")
    expect_raises(lambda: fn(np.zeros(100), 400, 160),
                  "100 samples with frame_length=400 (shorter than one frame)", match="frame",
                  hint="raise ValueError('frame_length: ...') when len(x) < frame_length")


def _hamming(length: int) -> np.ndarray:
    n = np.arange(length)
    return 0.54 - 0.46 * np.cos(2.0 * np.pi * n / length)


@register("nb07-power", twins=("mmcourse.audio:power_spectrum", "mmcourse.audio:window"),
          why="The window tapers each frame to zero at its edges, so the FFT does not see the "
              "jumps at the frame boundaries as high frequencies (spectral leakage).")
def check_power(fn):
    from mmcourse.audio import power_spectrum, window

    ones = np.ones((1, 4))
    case = "one frame of 4 ones, n_fft=4"
    got = _array(fn(ones, 4), case)
    _shape(got, (1, 3), case, "an rFFT of n_fft points has 1 + n_fft // 2 bins")
    w = _hamming(4)                                          # [0.08, 0.54, 1.0, 0.54]
    want = np.abs(np.fft.rfft(w)) ** 2
    if np.allclose(got, [[16.0, 0.0, 0.0]]):
        fail(case, want[None], got, "multiply each frame by the periodic Hamming window "
             "0.54 - 0.46 cos(2 pi n / N), N = frame_length, before the FFT")
    if np.allclose(got, np.abs(np.fft.rfft(np.hamming(4))) ** 2):
        fail(case, want[None], got, "use the *periodic* window (divide by N = frame_length, not "
             "N - 1 as np.hamming does): it is the one librosa and scipy use for spectra")
    if np.allclose(got, np.abs(np.fft.rfft(w))[None]):
        fail(case, want[None], got, "the power is the *squared* magnitude |X_k|^2")
    expect_close(got, want[None], case, "|rfft(frame * window, n_fft)|^2, no 1 / n_fft scaling")
    rng = np.random.default_rng(71)
    for n_frames, length, n_fft in [(5, 400, 512), (3, 256, 256), (7, 100, 128)]:
        frames = rng.normal(size=(n_frames, length))
        case = f"{n_frames} random frames of {length} samples, n_fft={n_fft}"
        got = _array(fn(frames, n_fft), case)
        want = power_spectrum(frames * window("hamming", length), n_fft)
        _shape(got, want.shape, case, "zero-pad each frame to n_fft samples: np.fft.rfft(..., "
               "n=n_fft, axis=-1) gives 1 + n_fft // 2 bins")
        expect_close(got, want, case, "window each frame, zero-pad to n_fft, rFFT along the last "
                     "axis, then |.|^2", rtol=1e-6, atol=1e-8)


@register("nb07-mel", twins=("mmcourse.audio:mel_filterbank", "mmcourse.audio:hz_to_mel",
                             "mmcourse.audio:mel_to_hz", "mmcourse.audio:mel_frequencies"),
          why="Equal steps in mel are equal steps in perceived pitch: narrow bands where the ear "
              "resolves detail (low frequencies), wide bands above.")
def check_mel(fn):
    from mmcourse.audio import mel_filterbank

    case = "sample_rate=16000, n_fft=512, n_mels=40"
    got = _array(fn(16000, 512, 40), case)
    want = mel_filterbank(16000, 512, 40, htk=True, norm=None)
    _shape(got, want.shape, case, "one row per mel band, one column per rFFT bin (1 + n_fft // 2)")
    area = mel_filterbank(16000, 512, 40, htk=True, norm="slaney")
    if np.allclose(got, area, rtol=1e-4, atol=1e-9):
        fail(case, "triangles with peak 1", "area-normalised triangles",
             "each band rises linearly from 0 at edge i to 1 at edge i+1 and falls to 0 at edge "
             "i+2 (no area normalisation here)")
    edges_hz = np.linspace(0, 8000, 42)
    lin = np.maximum(0, np.minimum((np.arange(257)[None] * 16000 / 512 - edges_hz[:-2, None])
                                   / np.diff(edges_hz)[:-1, None],
                                   (edges_hz[2:, None] - np.arange(257)[None] * 16000 / 512)
                                   / np.diff(edges_hz)[1:, None]))
    if got.shape == lin.shape and np.allclose(got, lin, atol=1e-6):
        fail(case, "band edges equally spaced in mel", "edges equally spaced in Hz",
             "space the n_mels + 2 edges with np.linspace in *mel* (2595 log10(1 + f / 700)), "
             "then convert them back to Hz")
    expect_close(got, want, case, "edges: mel = 2595 log10(1 + f/700), n_mels + 2 points equally "
                 "spaced in mel from 0 to sample_rate / 2; bin k is at k * sample_rate / n_fft Hz",
                 rtol=1e-6, atol=1e-6)
    for sr, n_fft, n_mels in [(8000, 256, 20), (22050, 1024, 64)]:
        case = f"sample_rate={sr}, n_fft={n_fft}, n_mels={n_mels}"
        got = _array(fn(sr, n_fft, n_mels), case)
        want = mel_filterbank(sr, n_fft, n_mels, htk=True, norm=None)
        _shape(got, want.shape, case, "(n_mels, 1 + n_fft // 2)")
        expect_close(got, want, case, "the top edge is the Nyquist frequency sample_rate / 2",
                     rtol=1e-6, atol=1e-6)


@register("nb07-dct", twins=("mmcourse.audio:dct_ii", "mmcourse.audio:mfcc",
                             "mmcourse.audio:mfcc_batch"),
          why="The DCT decorrelates neighbouring mel bands; its first coefficients keep the "
              "smooth spectral envelope (the vocal tract), and drop the fine pitch ripple.")
def check_dct(fn):
    from mmcourse.audio import dct_ii

    x = np.array([1.0, 2.0, 3.0, 4.0])
    case = "x = [1, 2, 3, 4], n_out=4"
    got = _array(fn(x[None], 4), case)
    want = dct_ii(x[None], 4)
    _shape(got, (1, 4), case, "transform along the last axis; keep n_out coefficients")
    unscaled = np.array([[np.sum(x * np.cos(np.pi * k * (2 * np.arange(4) + 1) / 8))
                          for k in range(4)]])
    if np.allclose(got, unscaled) or np.allclose(got, 2 * unscaled):
        fail(case, want, got, "orthonormal scaling: multiply coefficient 0 by sqrt(1/N) and the "
             "others by sqrt(2/N)")
    expect_close(got, want, case, "y_k = s_k sum_n x_n cos(pi k (2n + 1) / (2N)), s_0 = sqrt(1/N), "
                 "s_k = sqrt(2/N)")
    expect_close(_array(fn(np.full((2, 5), 3.0), 3), "a constant row"),
                 [[3.0 * np.sqrt(5), 0, 0]] * 2, "two constant rows of 3.0 (N=5), n_out=3",
                 "a constant signal has only coefficient 0 = sqrt(N) * value", atol=1e-9)
    rng = np.random.default_rng(72)
    for shape, n_out in [((20, 40), 13), ((7, 26), 26), ((3, 4, 10), 5)]:
        x = rng.normal(size=shape)
        case = f"random x of shape {shape}, n_out={n_out}"
        got = _array(fn(x, n_out), case)
        want = dct_ii(x, n_out)
        _shape(got, want.shape, case, "keep every leading axis; the last becomes n_out")
        expect_close(got, want, case, "the DCT runs along the last axis (x @ basis.T)",
                     rtol=1e-6, atol=1e-9)
    x = rng.normal(size=(4, 16))
    full = _array(fn(x, 16), "orthonormality")
    if not np.allclose(np.sum(full ** 2, axis=-1), np.sum(x ** 2, axis=-1), rtol=1e-6):
        fail("4 random rows of 16, n_out=16 (energy)", "the same energy as the input",
             "a different energy", "the orthonormal DCT keeps the sum of squares")


@register("nb07-cmvn", twins=("mmcourse.audio:cmvn",),
          why="A louder recording or another microphone adds a constant to every log-mel band; "
              "subtracting the per-utterance mean removes it.")
def check_cmvn(fn):
    from mmcourse.audio import cmvn

    feats = np.array([[1.0, 10.0], [3.0, 10.0], [5.0, 10.0]])
    case = "3 frames x 2 features, the second constant"
    got = _array(fn(feats), case)
    _shape(got, (3, 2), case, "return the same shape: one column per feature, time first")
    want = np.array([[-1.224744871, 0.0], [0.0, 0.0], [1.224744871, 0.0]])
    if np.allclose(got[:, 0], [-1.0, 0.0, 1.0]):
        fail(case, want, got, "use the population standard deviation (ddof=0, np.std's default)")
    if np.allclose(got, [[-1.0, 1.0]] * 3):
        fail(case, want, got, "normalise each column (feature) over time: mean and std along axis 0, "
             "not across the features of a frame")
    if np.allclose(got, [[-2.0, 0.0], [0.0, 0.0], [2.0, 0.0]]):
        fail(case, want, got, "after subtracting the mean, divide by the standard deviation")
    if not np.all(np.isfinite(got)):
        fail(case, want, got, "a constant column has std 0: make it 0 instead of dividing by zero")
    expect_close(got, want, case, "(x - mean over time) / std over time, per feature column")
    rng = np.random.default_rng(73)
    x = rng.normal(3.0, 4.0, size=(150, 13)) * rng.uniform(0.5, 2.0, size=13)
    case = "150 random frames x 13 features"
    got = _array(fn(x), case)
    expect_close(got, cmvn(x), case, "mean and std are computed per column (axis=0)",
                 rtol=1e-6, atol=1e-8)
    expect_close(_array(fn(x + 25.0), "shifted"), cmvn(x), "the same features + 25 (a gain change "
                 "in dB)", "CMVN must remove any constant offset", rtol=1e-6, atol=1e-8)
    single = _array(fn(x[:1]), "one frame")
    expect_close(single, np.zeros((1, 13)), "a single frame (every column constant)",
                 "constant columns become 0", atol=1e-9)
