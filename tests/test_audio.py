"""mmcourse.audio: log-mel / MFCC from scratch, checked against librosa and scipy, by hand, by
properties (hypothesis) and on bad input.

librosa returns (features, frames); mmcourse returns (frames, features): the tests transpose.
"""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.fft
import scipy.signal
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from mmcourse import audio

SR = 16000


def rel_err(a, b) -> float:
    """Relative error in the max norm: max |a - b| / max |b|."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def chirp_noise(seconds=1.5, sr=SR, seed=0, f1=6000.0):
    """A deterministic test signal: a linear chirp 100 Hz -> f1 plus white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    return 0.5 * scipy.signal.chirp(t, 100.0, t[-1], f1) + 0.05 * rng.standard_normal(t.size)


@pytest.fixture(scope="module")
def librosa():
    return pytest.importorskip("librosa")


def librosa_input(y, frame_length, n_fft, coef=0.97):
    """The waveform librosa needs to see the frames mmcourse frames (center=False).

    librosa frames n_fft samples and centres a frame_length window in them; mmcourse frames
    frame_length samples and zero-pads the end. Padding (n_fft - frame_length) // 2 zeros in front
    makes librosa's windowed samples the same, and the power spectrum ignores the circular shift.
    """
    if coef:
        y = np.concatenate([[y[0]], y[1:] - coef * y[:-1]])
    off = (n_fft - frame_length) // 2
    return np.pad(y, (off, n_fft - frame_length - off))


# ------------------------------------------------------------------------------------------------
# against librosa / scipy
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("htk", [False, True])
@pytest.mark.parametrize("norm", ["slaney", None])
@pytest.mark.parametrize("sr, n_fft, n_mels, fmin, fmax",
                         [(16000, 512, 40, 0.0, None), (22050, 1024, 64, 50.0, 8000.0),
                          (8000, 256, 23, 20.0, 3800.0), (16000, 400, 80, 0.0, 7600.0)])
def test_mel_filterbank_matches_librosa(librosa, htk, norm, sr, n_fft, n_mels, fmin, fmax):
    ours = audio.mel_filterbank(sr, n_fft, n_mels, fmin=fmin, fmax=fmax, htk=htk, norm=norm)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax, htk=htk,
                              norm=norm, dtype=np.float64)
    assert ours.shape == (n_mels, 1 + n_fft // 2) and ours.dtype == np.float64
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("htk", [False, True])
def test_mel_scale_matches_librosa(librosa, htk):
    hz = np.array([0.0, 55.0, 440.0, 999.0, 1000.0, 1001.0, 4000.0, 8000.0, 22050.0])
    np.testing.assert_allclose(audio.hz_to_mel(hz, htk=htk), librosa.hz_to_mel(hz, htk=htk),
                               rtol=1e-12)
    mels = librosa.hz_to_mel(hz, htk=htk)
    np.testing.assert_allclose(audio.mel_to_hz(mels, htk=htk), librosa.mel_to_hz(mels, htk=htk),
                               rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(audio.mel_frequencies(12, 30.0, 7000.0, htk=htk),
                               librosa.mel_frequencies(12, fmin=30.0, fmax=7000.0, htk=htk),
                               rtol=1e-12)
    assert isinstance(audio.hz_to_mel(440.0, htk=htk), float)


@pytest.mark.parametrize("name", ["hann", "hamming"])
@pytest.mark.parametrize("length", [1, 4, 7, 400, 512])
def test_window_is_periodic_as_librosa(librosa, name, length):
    np.testing.assert_allclose(audio.window(name, length),
                               librosa.filters.get_window(name, length, fftbins=True), atol=1e-15)
    np.testing.assert_allclose(audio.window(name, length, periodic=False),
                               scipy.signal.get_window(name, length, fftbins=False), atol=1e-15)


def test_pre_emphasis_matches_librosa_with_zero_state(librosa):
    y = chirp_noise(0.5)
    np.testing.assert_allclose(audio.pre_emphasis(y, 0.97),
                               librosa.effects.preemphasis(y, coef=0.97, zi=[0.0]), atol=1e-15)


def test_framing_and_power_spectrum_match_librosa_stft(librosa):
    y = chirp_noise(0.6)
    frames = audio.frame_signal(y, 512, 128) * audio.window("hann", 512)
    ours = audio.power_spectrum(frames, 512)
    ref = np.abs(librosa.stft(y, n_fft=512, hop_length=128, window="hann", center=False)) ** 2
    assert ours.shape == ref.T.shape == (1 + (y.size - 512) // 128, 257)
    np.testing.assert_allclose(ours, ref.T, rtol=1e-4, atol=1e-10 * ref.max())


@pytest.mark.parametrize("kw", [
    dict(),                                                     # 25 ms / 10 ms, n_fft 512, hamming
    dict(window="hann", n_mels=64, fmin=20.0, fmax=7600.0),
    dict(frame_ms=32.0, hop_ms=8.0, htk=True, norm=None, pre_emphasis=None),
    dict(n_fft=1024, n_mels=80, window="hann"),
])
def test_mel_spectrogram_matches_librosa(librosa, kw):
    y = chirp_noise(1.2)
    frame_length, hop_length, n_fft = audio.frame_parameters(SR, kw.get("frame_ms", 25.0),
                                                             kw.get("hop_ms", 10.0), kw.get("n_fft"))
    ref = librosa.feature.melspectrogram(
        y=librosa_input(y, frame_length, n_fft, kw.get("pre_emphasis", 0.97)), sr=SR, n_fft=n_fft,
        hop_length=hop_length, win_length=frame_length, window=kw.get("window", "hamming"),
        center=False, power=2.0, n_mels=kw.get("n_mels", 40), fmin=kw.get("fmin", 0.0),
        fmax=kw.get("fmax"), htk=kw.get("htk", False), norm=kw.get("norm", "slaney")).T
    fast = audio.mel_spectrogram(y, SR, **kw)
    exact = audio.mel_spectrogram(y, SR, compute_dtype="float64", **kw)
    assert fast.shape == ref.shape and fast.dtype == np.float32 and exact.dtype == np.float32
    assert rel_err(fast, ref) <= 1e-4
    np.testing.assert_allclose(exact, ref, rtol=1e-4)        # every cell, even -60 dB bands


def test_centred_frames_match_librosa(librosa):
    y = chirp_noise(0.8)
    ref = librosa.feature.melspectrogram(y=audio.pre_emphasis(y), sr=SR, n_fft=512, hop_length=160,
                                         win_length=400, window="hann", center=True,
                                         pad_mode="constant", power=2.0, n_mels=40).T
    ours = audio.mel_spectrogram(y, SR, window="hann", center=True, compute_dtype="float64")
    assert ours.shape == ref.shape == (1 + y.size // 160, 40)
    np.testing.assert_allclose(ours, ref, rtol=1e-4)


@pytest.mark.parametrize("top_db", [80.0, 40.0, None])
def test_log_mel_db_matches_librosa_power_to_db(librosa, top_db):
    y = chirp_noise(1.0)
    ref_power = librosa.feature.melspectrogram(
        y=librosa_input(y, 400, 512), sr=SR, n_fft=512, hop_length=160, win_length=400,
        window="hamming", center=False, power=2.0, n_mels=40)
    ref = librosa.power_to_db(ref_power, ref=1.0, amin=1e-10, top_db=top_db).T
    ours = audio.log_mel_spectrogram(y, SR, top_db=top_db)
    assert ours.shape == ref.shape and ours.dtype == np.float32
    assert rel_err(ours, ref) <= 1e-4
    np.testing.assert_allclose(ours, ref, atol=1e-3)          # dB: at most 0.001 dB off anywhere
    np.testing.assert_allclose(audio.power_to_db(ref_power, top_db=top_db),
                               librosa.power_to_db(ref_power, top_db=top_db), rtol=1e-6, atol=1e-6)


def test_natural_log_is_ln_of_the_mel_power():
    y = chirp_noise(0.5)
    power = audio.mel_spectrogram(y, SR).astype(np.float64)
    ours = audio.log_mel_spectrogram(y, SR, log="natural", top_db=None)
    np.testing.assert_allclose(ours, np.log(np.maximum(power, 1e-10)), rtol=1e-5, atol=1e-5)
    floored = audio.log_mel_spectrogram(y, SR, log="natural", top_db=20.0)
    assert floored.min() == pytest.approx(ours.max() - 20.0 * np.log(10.0) / 10.0, abs=1e-4)


@pytest.mark.parametrize("n_mfcc, n_mels, lifter, extra", [
    (13, 40, 0.0, {}), (20, 64, 22.0, {}), (13, 40, 0.0, dict(window="hann", htk=True)),
])
def test_mfcc_matches_librosa(librosa, n_mfcc, n_mels, lifter, extra):
    y = chirp_noise(1.5, seed=3)
    ref = librosa.feature.mfcc(
        y=librosa_input(y, 400, 512), sr=SR, n_mfcc=n_mfcc, dct_type=2, norm="ortho", lifter=lifter,
        n_fft=512, hop_length=160, win_length=400, window=extra.get("window", "hamming"),
        center=False, power=2.0, n_mels=n_mels, htk=extra.get("htk", False)).T
    ours = audio.mfcc(y, SR, n_mfcc=n_mfcc, n_mels=n_mels, lifter=lifter, **extra)
    assert ours.shape == ref.shape == (1 + (y.size - 400) // 160, n_mfcc)
    assert ours.dtype == np.float32
    assert rel_err(ours, ref) <= 1e-4
    exact = audio.mfcc(y, SR, n_mfcc=n_mfcc, n_mels=n_mels, lifter=lifter,
                       compute_dtype="float64", **extra)
    assert rel_err(exact, ref) <= 1e-6


@pytest.mark.parametrize("width, order", [(9, 1), (5, 1), (3, 1), (9, 2), (5, 2)])
def test_deltas_match_librosa(librosa, width, order):
    feats = audio.mfcc(chirp_noise(0.6, seed=1), SR).astype(np.float64)
    ref = librosa.feature.delta(feats.T, width=width, order=order, mode="interp").T
    ours = audio.deltas(feats, width=width, order=order)
    assert ours.shape == feats.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9 * np.abs(ref).max())
    assert audio.deltas(feats.astype(np.float32), width, order).dtype == np.float32


@pytest.mark.parametrize("norm", ["ortho", None])
@pytest.mark.parametrize("n_out", [1, 13, 40])
def test_dct_ii_matches_scipy(norm, n_out):
    x = np.random.default_rng(0).standard_normal((7, 40))
    np.testing.assert_allclose(audio.dct_ii(x, n_out, norm=norm),
                               scipy.fft.dct(x, type=2, norm=norm, axis=-1)[:, :n_out],
                               rtol=1e-10, atol=1e-10)


def test_batch_equals_single_calls_across_chunks(monkeypatch):
    rng = np.random.default_rng(5)
    waves = [chirp_noise(s, seed=i) for i, s in enumerate(rng.uniform(0.2, 1.0, 9))]
    monkeypatch.setattr(audio, "_CHUNK_FRAMES", 150)           # several chunks, one wave > a chunk
    batch = audio.log_mel_batch(waves, SR, n_mels=32)
    mf = audio.mfcc_batch(waves, SR, n_mfcc=12, n_mels=32)
    assert len(batch) == len(mf) == len(waves)
    for w, b, m in zip(waves, batch, mf):
        np.testing.assert_allclose(b, audio.log_mel_spectrogram(w, SR, n_mels=32), rtol=1e-6,
                                   atol=1e-5)
        np.testing.assert_allclose(m, audio.mfcc(w, SR, n_mfcc=12, n_mels=32), rtol=1e-6,
                                   atol=1e-5)
        assert b.shape == (audio.n_frames(len(w), 400, 160), 32) and b.dtype == np.float32


def test_top_db_floor_is_per_utterance():
    loud, quiet = chirp_noise(0.5), 1e-3 * chirp_noise(0.5, seed=1)
    a, b = audio.log_mel_batch([loud, quiet], SR, top_db=30.0)
    assert a.min() == pytest.approx(a.max() - 30.0, abs=1e-3)
    assert b.min() == pytest.approx(b.max() - 30.0, abs=1e-3)
    assert b.max() < a.max() - 40.0


# ------------------------------------------------------------------------------------------------
# by hand
# ------------------------------------------------------------------------------------------------
def test_frame_signal_by_hand():
    x = np.arange(10.0)
    np.testing.assert_array_equal(audio.frame_signal(x, 4, 3),
                                  [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]])
    np.testing.assert_array_equal(audio.frame_signal(x, 4, 2),
                                  [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6, 7], [6, 7, 8, 9]])
    np.testing.assert_array_equal(audio.frame_signal(x, 5, 4), [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8]])
    np.testing.assert_array_equal(audio.frame_signal(x, 4, 4, center=True),   # 2 zeros each side
                                  [[0, 0, 0, 1], [2, 3, 4, 5], [6, 7, 8, 9]])
    assert audio.n_frames(10, 4, 3) == 3 and audio.n_frames(10, 4, 4, center=True) == 3
    assert audio.n_frames(3, 4, 1) == 0


def test_windows_by_hand():
    np.testing.assert_allclose(audio.window("hamming", 4), [0.08, 0.54, 1.0, 0.54])
    np.testing.assert_allclose(audio.window("hann", 4), [0.0, 0.5, 1.0, 0.5], atol=1e-15)
    np.testing.assert_allclose(audio.window("hamming", 4, periodic=False), np.hamming(4))
    np.testing.assert_array_equal(audio.window("rectangular", 3), [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(audio.window("hann", 1), [1.0])


def test_small_cases_by_hand():
    np.testing.assert_allclose(audio.pre_emphasis(np.array([1.0, 2.0, 3.0]), 0.5), [1.0, 1.5, 2.0])
    np.testing.assert_allclose(audio.power_spectrum([[1.0, 0.0, 0.0, 0.0]]), [[1.0, 1.0, 1.0]])
    np.testing.assert_allclose(audio.power_spectrum([[1.0, 1.0, 1.0, 1.0]]), [[16.0, 0.0, 0.0]],
                               atol=1e-12)
    np.testing.assert_allclose(audio.power_spectrum([[1.0, 1.0]], n_fft=4), [[4.0, 2.0, 0.0]],
                               atol=1e-12)                                  # zero-padded at the end
    np.testing.assert_allclose(audio.dct_ii(np.ones(4)), [2.0, 0.0, 0.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(audio.dct_ii([[1.0, -1.0]], norm=None), [[0.0, 2.0 * np.sqrt(2.0)]],
                               atol=1e-12)
    assert audio.hz_to_mel(1000.0) == pytest.approx(15.0)
    assert audio.hz_to_mel(200.0) == pytest.approx(3.0)
    assert audio.hz_to_mel(700.0, htk=True) == pytest.approx(2595.0 * np.log10(2.0))
    assert audio.frame_parameters(16000) == (400, 160, 512)
    assert audio.frame_parameters(8000, 32.0, 16.0) == (256, 128, 256)
    np.testing.assert_allclose(audio.cmvn([[1.0, 2.0], [3.0, 2.0]]), [[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(audio.cmvn([[1.0, 2.0], [3.0, 2.0]], variance=False),
                               [[-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(audio.cmvn([[4.0, 5.0], [6.0, 9.0]], variance=False),
                               [[-1.0, -2.0], [1.0, 2.0]])
    np.testing.assert_array_equal(audio.cmvn([[3.0, -1.0]]), [[0.0, 0.0]])     # one frame: no NaN
    ramp = np.arange(12.0)[:, None] * np.array([[2.0, -0.5]])
    np.testing.assert_allclose(audio.deltas(ramp, width=5), np.tile([2.0, -0.5], (12, 1)))
    np.testing.assert_allclose(audio.deltas(ramp ** 2 / 2, width=5, order=2)[:, 0], 4.0)


def test_filterbank_shape_and_triangles():
    fb = audio.mel_filterbank(SR, 512, 40, norm=None)
    assert fb.shape == (40, 257) and fb.max() == pytest.approx(1.0, abs=0.05)
    assert (fb >= 0).all() and (fb.sum(axis=1) > 0).all()
    peaks = fb.argmax(axis=1)
    assert (np.diff(peaks) > 0).all()                                   # bands climb in frequency
    fb.setflags(write=True)                                             # a copy: the cache is safe
    fb[:] = 0
    assert audio.mel_filterbank(SR, 512, 40, norm=None).max() > 0


def test_empty_mel_bands_warn():
    with pytest.warns(UserWarning, match="no FFT bin"):
        audio.mel_filterbank(8000, 64, 60)


def test_pcm_integers_are_scaled():
    y = 0.5 * chirp_noise(0.5)
    pcm16 = np.round(y * 32767).astype(np.int16)
    np.testing.assert_allclose(audio.log_mel_spectrogram(pcm16, SR),
                               audio.log_mel_spectrogram(pcm16 / 32768.0, SR), atol=1e-3)
    pcm32 = pcm16.astype(np.int32) << 16
    np.testing.assert_allclose(audio.mfcc(pcm32, SR), audio.mfcc(pcm16, SR), atol=1e-3)
    assert audio.check_waveform(np.array([-32768, 16384], np.int16)).tolist() == [-1.0, 0.5]
    assert audio.check_waveform(np.array([-32768, 16384], np.int16)).dtype == np.float32


def test_features_are_time_first_and_float32():
    y = chirp_noise(1.0).astype(np.float32)
    for feats, width in [(audio.log_mel_spectrogram(y, SR, n_mels=24), 24),
                         (audio.mfcc(y, SR, n_mfcc=10, n_mels=24), 10),
                         (audio.mel_spectrogram(y, SR, n_mels=24), 24)]:
        assert feats.shape == (audio.n_frames(y.size, 400, 160), width)
        assert feats.dtype == np.float32 and np.isfinite(feats).all()


# ------------------------------------------------------------------------------------------------
# properties
# ------------------------------------------------------------------------------------------------
@given(n=st.integers(1, 300), frame_length=st.integers(1, 64), hop=st.integers(1, 40),
       center=st.booleans())
def test_frame_count_formula(n, frame_length, hop, center):
    x = np.arange(n, dtype=np.float64)
    padded = n + 2 * (frame_length // 2) if center else n
    expected = 1 + (padded - frame_length) // hop if padded >= frame_length else 0
    assert audio.n_frames(n, frame_length, hop, center) == expected
    if expected == 0:
        with pytest.raises(ValueError, match="waveform: expected at least frame_length"):
            audio.frame_signal(x, frame_length, hop, center=center)
        return
    frames = audio.frame_signal(x, frame_length, hop, center=center)
    assert frames.shape == (expected, frame_length)
    src = np.pad(x, frame_length // 2) if center else x
    for i in (0, expected - 1):
        np.testing.assert_array_equal(frames[i], src[i * hop:i * hop + frame_length])


finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@given(hnp.arrays(np.float64, st.tuples(st.integers(2, 40), st.integers(1, 6)), elements=finite))
def test_cmvn_zero_mean_unit_variance(x):
    out = audio.cmvn(x)
    assert out.shape == x.shape and np.isfinite(out).all()
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-9)
    spread = x.std(axis=0)
    varying = spread > 1e-6 * (1.0 + np.abs(x).max(axis=0))
    np.testing.assert_allclose(out.std(axis=0)[varying], 1.0, rtol=1e-6)
    constant = np.ptp(x, axis=0) == 0
    assert (out[:, constant] == 0).all()
    np.testing.assert_allclose(audio.cmvn(x, variance=False), x - x.mean(axis=0),
                               atol=1e-9 * (1 + np.abs(x).max()))


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 48)), elements=finite))
def test_dct_ii_ortho_is_orthonormal(x):
    y = audio.dct_ii(x)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1), rtol=1e-9,
                               atol=1e-9)
    np.testing.assert_allclose(y, scipy.fft.dct(x, type=2, norm="ortho", axis=-1), atol=1e-8)


@given(st.floats(0.0, 24000.0), st.booleans())
def test_mel_scale_round_trip_and_monotone(f, htk):
    m = audio.hz_to_mel(f, htk=htk)
    assert audio.mel_to_hz(m, htk=htk) == pytest.approx(f, rel=1e-9, abs=1e-9)
    assert audio.hz_to_mel(f + 1.0, htk=htk) > m


@given(st.integers(12, 60), st.sampled_from([3, 5, 9]), st.floats(-5, 5), st.floats(-5, 5))
def test_deltas_of_a_line_are_its_slope(n, width, slope, intercept):
    line = (intercept + slope * np.arange(n, dtype=np.float64))[:, None]
    np.testing.assert_allclose(audio.deltas(line, width=width), slope, atol=1e-9)


@given(st.integers(0, 2 ** 31 - 1))
def test_log_mel_of_any_noise_is_finite_and_floored(seed):
    y = np.random.default_rng(seed).standard_normal(3200) * 0.1
    out = audio.log_mel_spectrogram(y, SR, n_mels=20)
    assert out.shape == (audio.n_frames(3200, 400, 160), 20) and np.isfinite(out).all()
    assert out.max() - out.min() <= 80.0 + 1e-3


# ------------------------------------------------------------------------------------------------
# bad input
# ------------------------------------------------------------------------------------------------
GOOD = chirp_noise(0.3)
LM = audio.log_mel_spectrogram
BAD = [
    (lambda: LM(np.array([]), SR), "waveform: expected a non-empty waveform"),
    (lambda: LM(np.zeros(4000), SR), "waveform: expected a non-silent waveform"),
    (lambda: audio.mfcc(np.zeros(4000, np.int16), SR), "waveform: expected a non-silent"),
    (lambda: LM(np.r_[GOOD, np.nan], SR), "waveform: expected finite"),
    (lambda: LM(np.r_[GOOD, np.inf], SR), "waveform: expected finite"),
    (lambda: LM(np.stack([GOOD, GOOD]), SR), r"waveform: expected a 1-D mono .*stereo"),
    (lambda: LM(np.stack([GOOD, GOOD], axis=1), SR), r"waveform: expected a 1-D mono"),
    (lambda: LM(np.float64(1.0), SR), "waveform: expected a 1-D mono waveform"),
    (lambda: LM(np.ones(4000, np.int64), SR), "waveform: expected float samples or int16"),
    (lambda: LM(np.ones(4000, bool), SR), "waveform: expected float samples or int16"),
    (lambda: LM(GOOD.astype(complex), SR), "waveform: expected a real-valued"),
    (lambda: LM(["a", "b"], SR), "waveform: expected a numeric array"),
    (lambda: LM(None, SR), "waveform: expected an array, got None"),
    (lambda: LM(GOOD[:100], SR), "waveform: expected at least frame_length=400"),
    (lambda: LM(np.ones(16000 * 61) * 0.1, SR), r"waveform: expected a clip of at most 60 s"),
    (lambda: LM(GOOD, 0), "sample_rate: expected a sampling rate > 0"),
    (lambda: LM(GOOD, -16000), "sample_rate: expected a sampling rate > 0"),
    (lambda: LM(GOOD, float("nan")), "sample_rate: expected a sampling rate > 0"),
    (lambda: LM(GOOD, "16k"), "sample_rate: expected a positive number"),
    (lambda: LM(GOOD, True), "sample_rate: expected a positive number"),
    (lambda: LM(GOOD, SR, n_mels=0), "n_mels: expected an integer >= 1"),
    (lambda: LM(GOOD, SR, n_mels=2.5), "n_mels: expected an integer"),
    (lambda: LM(GOOD, SR, frame_ms=0), "frame_ms: expected a number > 0"),
    (lambda: LM(GOOD, SR, frame_ms=0.05), "frame_ms: expected a frame of at least 2 samples"),
    (lambda: LM(GOOD, SR, hop_ms=-1), "hop_ms: expected a number > 0"),
    (lambda: LM(GOOD, SR, n_fft=256), "n_fft: expected at least the frame length 400"),
    (lambda: LM(GOOD, SR, window="kaiser"), "window: expected one of"),
    (lambda: LM(GOOD, SR, pre_emphasis=1.0), r"pre_emphasis: expected a coefficient in \[0, 1\)"),
    (lambda: LM(GOOD, SR, pre_emphasis=-0.1), "pre_emphasis: expected a number >= 0"),
    (lambda: LM(GOOD, SR, fmax=9000), "fmax: expected at most the Nyquist frequency"),
    (lambda: LM(GOOD, SR, fmin=4000, fmax=3000), "fmin: expected a frequency below fmax"),
    (lambda: LM(GOOD, SR, fmin=-1), "fmin: expected a number >= 0"),
    (lambda: LM(GOOD, SR, log="log2"), "log: expected 'db', 'natural' or None"),
    (lambda: LM(GOOD, SR, top_db=0), "top_db: expected a number > 0"),
    (lambda: LM(GOOD, SR, amin=0), "amin: expected a number > 0"),
    (lambda: LM(GOOD, SR, norm="l2"), "norm: expected 'slaney' or None"),
    (lambda: LM(GOOD, SR, compute_dtype="float16"), "compute_dtype: expected 'float32'"),
    (lambda: LM(GOOD, SR, compute_dtype=None), "compute_dtype: expected 'float32'"),
    (lambda: audio.mel_spectrogram(np.zeros(800), SR), "waveform: expected a non-silent"),
    (lambda: audio.mfcc(GOOD, SR, n_mfcc=0), "n_mfcc: expected an integer >= 1"),
    (lambda: audio.mfcc(GOOD, SR, n_mfcc=41, n_mels=40), "n_mfcc: expected at most n_mels=40"),
    (lambda: audio.mfcc(GOOD, SR, n_mels=0), "n_mels: expected an integer >= 1"),
    (lambda: audio.mfcc(GOOD, SR, lifter=-1), "lifter: expected a number >= 0"),
    (lambda: audio.mfcc(GOOD, 0), "sample_rate: expected a sampling rate > 0"),
    (lambda: audio.mfcc(np.ones((2, 4000)), SR), "waveform: expected a 1-D mono"),
    (lambda: audio.log_mel_batch([], SR), "waveforms: expected a non-empty list"),
    (lambda: audio.log_mel_batch(GOOD, SR), "waveforms: expected a list of 1-D waveforms"),
    (lambda: audio.log_mel_batch(None, SR), "waveforms: expected a list"),
    (lambda: audio.log_mel_batch([GOOD, np.zeros(4000)], SR), r"waveforms\[1\]: expected a non-"),
    (lambda: audio.log_mel_batch([GOOD], SR, n_mfcc=3), "unexpected keyword argument"),
    (lambda: audio.mfcc_batch([GOOD, GOOD[:10]], SR), r"waveforms\[1\]: expected at least"),
    (lambda: audio.pre_emphasis(GOOD, 1.2), r"coefficient: expected a number in \[0, 1\)"),
    (lambda: audio.pre_emphasis(np.array([]), 0.97), "waveform: expected a non-empty"),
    (lambda: audio.pre_emphasis(np.ones((2, 3)), 0.97), "waveform: expected a 1-D mono"),
    (lambda: audio.frame_signal(GOOD, 0, 10), "frame_length: expected an integer >= 1"),
    (lambda: audio.frame_signal(GOOD, 400, 0), "hop_length: expected an integer >= 1"),
    (lambda: audio.frame_signal([np.nan, 1.0], 1, 1), "waveform: expected finite"),
    (lambda: audio.n_frames(-1, 4, 2), "n_samples: expected an integer >= 0"),
    (lambda: audio.window("blackman", 4), "name: expected one of"),
    (lambda: audio.window("hann", 0), "length: expected an integer >= 1"),
    (lambda: audio.power_spectrum(np.ones(4)), r"frames: expected a 2-D array"),
    (lambda: audio.power_spectrum(np.ones((2, 8)), n_fft=4), "n_fft: expected at least"),
    (lambda: audio.power_spectrum([[np.nan, 1.0]]), "frames: expected finite"),
    (lambda: audio.power_spectrum(np.ones((0, 4))), "frames: expected a non-empty"),
    (lambda: audio.mel_filterbank(0, 512), "sample_rate: expected a sampling rate > 0"),
    (lambda: audio.mel_filterbank(SR, 1), "n_fft: expected an integer >= 2"),
    (lambda: audio.mel_filterbank(SR, 512, n_mels=0), "n_mels: expected an integer >= 1"),
    (lambda: audio.mel_filterbank(SR, 512, fmax=8001), "fmax: expected at most the Nyquist"),
    (lambda: audio.mel_filterbank(SR, 512, norm="l1"), "norm: expected 'slaney' or None"),
    (lambda: audio.mel_frequencies(0), "n: expected an integer >= 1"),
    (lambda: audio.hz_to_mel(-5.0), "frequencies: expected values >= 0"),
    (lambda: audio.hz_to_mel([np.inf]), "frequencies: expected finite"),
    (lambda: audio.mel_to_hz("x"), "mels: expected a numeric array"),
    (lambda: audio.frame_parameters(SR, n_fft=100), "n_fft: expected at least the frame length"),
    (lambda: audio.power_to_db([-1.0, 1.0]), "power: expected values >= 0"),
    (lambda: audio.power_to_db([1.0], top_db=-3), "top_db: expected a number > 0"),
    (lambda: audio.dct_ii(np.ones(4), 5), "n_out: expected an integer <= 4"),
    (lambda: audio.dct_ii(np.ones(4), norm="forward"), "norm: expected 'ortho' or None"),
    (lambda: audio.dct_ii(np.float64(3.0)), "x: expected an array with at least 1 dimension"),
    (lambda: audio.dct_ii([]), "x: expected a non-empty"),
    (lambda: audio.cmvn(np.ones(5)), r"features: expected a 2-D array \(n_frames, n_features\)"),
    (lambda: audio.cmvn([[np.nan]]), "features: expected finite"),
    (lambda: audio.cmvn(np.ones((0, 3))), "features: expected a non-empty"),
    (lambda: audio.deltas(np.ones((20, 3)), width=4), "width: expected an odd number"),
    (lambda: audio.deltas(np.ones((20, 3)), width=1), "width: expected an integer >= 3"),
    (lambda: audio.deltas(np.ones((20, 3)), order=3), "order: expected an integer <= 2"),
    (lambda: audio.deltas(np.ones((5, 3)), width=9), "features: expected at least width=9 frames"),
    (lambda: audio.deltas(np.ones(20)), "features: expected a 2-D array"),
    (lambda: audio.check_waveform(np.ones(10), 0), "sample_rate: expected a sampling rate > 0"),
    (lambda: audio.check_waveform(np.ones(10), 10, max_seconds=0.5),
     "waveform: expected a clip of at most 0.5 s"),
]


@pytest.mark.parametrize("call, message", BAD, ids=[m[:40] for _, m in BAD])
def test_bad_input_raises_value_error_naming_the_argument(call, message):
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # no warning on the way to the error
        with pytest.raises(ValueError, match=message):
            call()


def test_silence_is_fine_where_the_result_is_defined():
    silence = np.zeros(1000)
    np.testing.assert_array_equal(audio.pre_emphasis(silence), silence)
    assert audio.frame_signal(silence, 400, 160).shape == (4, 400)
    np.testing.assert_array_equal(audio.power_spectrum(np.zeros((2, 4))), np.zeros((2, 3)))
    assert audio.check_waveform(silence).shape == (1000,)


def test_import_does_not_load_a_deep_learning_framework():
    code = ("import sys, json, mmcourse.audio as a; a.mfcc(a.np.sin(a.np.arange(8000.0)), 16000); "
            "print(json.dumps(sorted(m for m in ('torch', 'tensorflow', 'keras', 'librosa') "
            "if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_empty_mel_bands_warn_on_every_call_and_in_the_pipeline():
    for _ in range(2):
        with pytest.warns(UserWarning, match="mel bands contain no FFT bin"):
            audio.mel_filterbank(8000, 64, 60)
    with pytest.warns(UserWarning, match="no FFT bin"):
        audio.log_mel_spectrogram(chirp_noise(0.3), SR, n_mels=128, frame_ms=16.0)
