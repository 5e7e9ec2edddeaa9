"""Speech features from scratch: log-mel spectrograms and MFCCs (numpy + scipy only).

The pipeline, one step per function so that each can be taught and tested::

    y      = pre_emphasis(waveform, 0.97)                  # (n_samples,)   y[t] = x[t] - 0.97 x[t-1]
    frames = frame_signal(y, 400, 160)                     # (n_frames, 400) 25 ms frames, 10 ms hop
    frames = frames * window("hamming", 400)               # taper each frame
    power  = power_spectrum(frames, n_fft=512)             # (n_frames, 257) |rFFT|^2
    mel    = power @ mel_filterbank(16000, 512, 40).T      # (n_frames, 40)  triangular mel bands
    logmel = 10 * log10(max(mel, 1e-10))                   # decibels  (log="db")
    ceps   = dct_ii(logmel, 13)                            # (n_frames, 13)  MFCCs
    feats  = cmvn(ceps)                                    # per-utterance mean / variance normalisation

``log_mel_spectrogram`` and ``mfcc`` run the whole chain (vectorised: one strided framing, one rFFT
over all frames, one matmul with the filterbank); ``log_mel_batch`` / ``mfcc_batch`` do the same for a
list of utterances at once (5,000 utterances of 2.5 s at 16 kHz take about 5 s of CPU). While they
run, BLAS is limited to one thread (threadpoolctl, installed with scikit-learn), because threads
waking up for the small filterbank matmul cost more than the matmul itself.

**Time comes first**: every feature matrix is ``(n_frames, n_features)``. librosa returns the
transpose, ``(n_features, n_frames)``.

The reference is librosa (tests check ``mel_filterbank`` against ``librosa.filters.mel``, the mel
spectrogram against ``librosa.feature.melspectrogram(center=False, power=2)``, decibels against
``librosa.power_to_db``, MFCCs against ``librosa.feature.mfcc`` and deltas against
``librosa.feature.delta``). librosa is *not* needed at run time.

Input waveforms (see ``check_waveform``):

- 1-D mono only. A 2-D (stereo / multi-channel) array is **refused** (the channel axis is ambiguous:
  soundfile gives ``(n_samples, channels)``, librosa ``(channels, n_samples)``); mix it down yourself,
  e.g. ``stereo.mean(axis=1)``.
- float arrays are used as they are (float16 is promoted to float32). **Integer PCM is converted**:
  int16 is divided by 32768 and int32 by 2147483648, giving floats in [-1, 1]; any other integer or
  boolean dtype is refused (its scale is unknown).
- NaN/inf, an empty waveform, a sample rate <= 0 and a clip longer than 60 s are refused. Functions
  that compute features (``mel_spectrogram``, ``log_mel_spectrogram``, ``mfcc`` and their batch
  versions) also refuse an all-zero waveform: its spectrum is zero everywhere, so its logarithm is the
  floor ``amin`` in every cell and carries no information. ``pre_emphasis`` and ``frame_signal`` accept
  silence (their result is well defined).
"""
from __future__ import annotations

import contextlib
import math
import numbers
import warnings
from functools import lru_cache

import numpy as np
import scipy.fft

from ._validation import as_array, check_choice, check_int, describe

__all__ = [
    "MAX_SECONDS", "check_waveform", "check_sample_rate",
    "pre_emphasis", "frame_signal", "n_frames", "window", "power_spectrum",
    "hz_to_mel", "mel_to_hz", "mel_frequencies", "mel_filterbank",
    "frame_parameters", "mel_spectrogram", "log_mel_spectrogram", "log_mel_batch",
    "power_to_db", "dct_ii", "mfcc", "mfcc_batch", "cmvn", "deltas",
]

MAX_SECONDS = 60.0  # longest clip accepted, in seconds

_PCM_SCALE = {np.dtype(np.int16): 32768.0, np.dtype(np.int32): 2147483648.0}
_WINDOWS = ("hann", "hamming", "rectangular")
_LOGS = ("db", "natural", None)
_CHUNK_FRAMES = 2048  # frames per rFFT call in the batch path (~4 MB buffer: stays in cache)


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------
def check_sample_rate(sample_rate, name: str = "sample_rate") -> float:
    """A finite sampling rate in Hz, > 0 (int or float); returned as a float."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, numbers.Real):
        raise ValueError(f"{name}: expected a positive number of samples per second (e.g. 16000), "
                         f"got {describe(sample_rate)}")
    value = float(sample_rate)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a sampling rate > 0 Hz (e.g. 16000), got {sample_rate!r}")
    return value


def check_waveform(waveform, sample_rate=None, name: str = "waveform", allow_silence: bool = True,
                   max_seconds: float | None = MAX_SECONDS) -> np.ndarray:
    """Validate a mono waveform and return it as a 1-D float32 / float64 array ``(n_samples,)``.

    int16 / int32 PCM is converted to float32 in [-1, 1] (divided by 32768 / 2147483648); other
    integer dtypes and booleans are refused. 2-D (stereo) input is refused: mix it down first.
    ``allow_silence=False`` refuses an all-zero waveform. With ``sample_rate`` given, a clip longer
    than ``max_seconds`` is refused. Raises ``ValueError`` naming ``name``.
    """
    arr = as_array(waveform, name, allow_empty=True)
    if arr.ndim == 0:
        raise ValueError(f"{name}: expected a 1-D mono waveform (n_samples,), got a scalar")
    if arr.ndim != 1:
        raise ValueError(
            f"{name}: expected a 1-D mono waveform (n_samples,), got shape {arr.shape}; stereo and "
            f"multi-channel audio is refused (the channel axis is ambiguous): mix it down first, e.g. "
            f"x.mean(axis=1) for (n_samples, channels) or x.mean(axis=0) for (channels, n_samples)")
    if arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty waveform, got 0 samples")
    kind = arr.dtype.kind
    if kind == "c":
        raise ValueError(f"{name}: expected a real-valued waveform, got dtype {arr.dtype}")
    if kind in "iub":
        scale = _PCM_SCALE.get(arr.dtype)
        if scale is None:
            raise ValueError(
                f"{name}: expected float samples or int16 / int32 PCM, got dtype {arr.dtype} "
                f"(its scale is unknown: convert it to float in [-1, 1] first)")
        arr = (arr.astype(np.float32) / np.float32(scale)).astype(np.float32)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    elif arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name}: expected finite samples, got {bad} NaN/inf entries")
    if sample_rate is not None:
        sr = check_sample_rate(sample_rate)
        if max_seconds is not None and arr.size > max_seconds * sr:
            raise ValueError(f"{name}: expected a clip of at most {max_seconds:g} s, got "
                             f"{arr.size / sr:.1f} s ({arr.size} samples at {sr:g} Hz)")
    if not allow_silence and not np.any(arr):
        raise ValueError(f"{name}: expected a non-silent waveform, got {arr.size} samples that are "
                         f"all zero (its spectrum is zero, so log-mel / MFCC features are meaningless)")
    return arr


def _check_float(value, name: str, minimum: float | None = None, maximum: float | None = None,
                 strict_min: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {describe(value)}")
    value = float(value)
    if minimum is not None and (value <= minimum if strict_min else value < minimum):
        raise ValueError(f"{name}: expected a number {'>' if strict_min else '>='} {minimum:g}, "
                         f"got {value:g}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected a number <= {maximum:g}, got {value:g}")
    return value


def _check_features(features, name: str = "features") -> np.ndarray:
    arr = as_array(features, name)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-D array (n_frames, n_features) with time first, got "
                         f"shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    return arr


# --------------------------------------------------------------------------------------------
# the steps
# --------------------------------------------------------------------------------------------
def _pre_emphasis(y: np.ndarray, coefficient: float, dtype=None) -> np.ndarray:
    out = np.empty(y.shape, dtype=y.dtype if dtype is None else dtype)
    out[0] = y[0]
    np.multiply(y[:-1], -coefficient, out=out[1:], casting="same_kind")
    np.add(out[1:], y[1:], out=out[1:], casting="same_kind")
    return out


def pre_emphasis(waveform, coefficient: float = 0.97) -> np.ndarray:
    """First-order high-pass ``y[t] = x[t] - coefficient * x[t-1]``, with ``y[0] = x[0]``.

    ``waveform``: 1-D (n_samples,) float (int16 / int32 PCM converted, see ``check_waveform``);
    ``coefficient`` in [0, 1). Returns (n_samples,) in the waveform's float dtype. Silence is
    accepted. This equals ``librosa.effects.preemphasis(x, coef=coefficient, zi=[0])``; librosa's
    default ``zi`` extrapolates a sample before ``x[0]`` instead, which only changes ``y[0]``.
    """
    y = check_waveform(waveform, max_seconds=None)
    c = _check_float(coefficient, "coefficient", 0.0)
    if c >= 1.0:
        raise ValueError(f"coefficient: expected a number in [0, 1), got {c:g}")
    return _pre_emphasis(y, c)


def n_frames(n_samples: int, frame_length: int, hop_length: int, center: bool = False) -> int:
    """Number of frames ``frame_signal`` returns: ``1 + (n - frame_length) // hop_length``.

    With ``center=True``, ``n = n_samples + 2 * (frame_length // 2)`` (zero padding at both ends).
    Trailing samples that do not fill a frame are dropped (librosa's ``center=False``, Kaldi's
    ``snip_edges``). Returns 0 when the signal is shorter than one frame.
    """
    n_samples = check_int(n_samples, "n_samples", minimum=0)
    frame_length = check_int(frame_length, "frame_length")
    hop_length = check_int(hop_length, "hop_length")
    if center:
        n_samples += 2 * (frame_length // 2)
    return 0 if n_samples < frame_length else 1 + (n_samples - frame_length) // hop_length


def _frames(y: np.ndarray, frame_length: int, hop_length: int, center: bool, name: str):
    if center:
        pad = frame_length // 2
        y = np.pad(y, (pad, pad))
    if y.size < frame_length:
        raise ValueError(f"{name}: expected at least frame_length={frame_length} samples"
                         f"{' after centre padding' if center else ''}, got {y.size}")
    return np.lib.stride_tricks.sliding_window_view(y, frame_length)[::hop_length]


def frame_signal(waveform, frame_length: int, hop_length: int, center: bool = False) -> np.ndarray:
    """Cut a waveform into overlapping frames: (n_frames, frame_length), time first.

    Frame ``i`` is ``waveform[i * hop_length : i * hop_length + frame_length]``; the count is
    ``n_frames(len(waveform), frame_length, hop_length, center)``. ``center=True`` first pads
    ``frame_length // 2`` zeros at both ends, so frame ``i`` is centred on sample ``i * hop_length``.
    The result is a read-only strided view (no copy). A waveform shorter than one frame is refused;
    silence is accepted.
    """
    y = check_waveform(waveform, max_seconds=None)
    frame_length = check_int(frame_length, "frame_length")
    hop_length = check_int(hop_length, "hop_length")
    return _frames(y, frame_length, hop_length, bool(center), "waveform")


@lru_cache(maxsize=32)
def _window(name: str, length: int, periodic: bool) -> np.ndarray:
    if name == "rectangular" or length == 1:
        w = np.ones(length)
    else:
        a = 0.5 if name == "hann" else 0.54
        denom = length if periodic else length - 1
        n = np.arange(length)
        w = a - (1.0 - a) * np.cos(2.0 * np.pi * n / denom)
    w.setflags(write=False)
    return w


def window(name: str, length: int, periodic: bool = True) -> np.ndarray:
    """A tapering window of ``length`` samples, float64 (length,).

    ``"hann"``: ``0.5 - 0.5 cos(2 pi n / N)``; ``"hamming"``: ``0.54 - 0.46 cos(2 pi n / N)``;
    ``"rectangular"``: ones. ``periodic=True`` (librosa's and ``scipy.signal.get_window``'s default for
    spectral analysis) uses ``N = length``; ``periodic=False`` gives the symmetric window
    (``N = length - 1``). A window of length 1 is ``[1.0]``. Example: ``window("hamming", 4)`` is
    ``[0.08, 0.54, 1.0, 0.54]``.
    """
    check_choice(name, "name", _WINDOWS)
    length = check_int(length, "length")
    return _window(name, length, bool(periodic)).copy()


def _power(frames: np.ndarray, n_fft: int) -> np.ndarray:
    spec = scipy.fft.rfft(frames, n=n_fft, axis=-1)
    return np.square(spec.real) + np.square(spec.imag)


def power_spectrum(frames, n_fft: int | None = None) -> np.ndarray:
    """Power spectrum ``|rFFT(frame, n_fft)|^2`` of each frame: (n_frames, 1 + n_fft // 2).

    ``frames``: (n_frames, frame_length), already windowed; each frame is zero-padded at its end to
    ``n_fft`` samples (default: ``frame_length``; ``n_fft < frame_length`` is refused). No scaling by
    ``1 / n_fft`` (as librosa). Bin ``k`` is the frequency ``k * sample_rate / n_fft`` Hz. float32
    frames give float32, anything else float64.
    """
    arr = as_array(frames, "frames")
    if arr.ndim != 2:
        raise ValueError(f"frames: expected a 2-D array (n_frames, frame_length), got shape {arr.shape}")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"frames: expected real numbers, got dtype {arr.dtype}")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64)
    n_fft = arr.shape[1] if n_fft is None else check_int(n_fft, "n_fft")
    if n_fft < arr.shape[1]:
        raise ValueError(f"n_fft: expected at least frame_length={arr.shape[1]} (frames are zero-"
                         f"padded, never truncated), got {n_fft}")
    return _power(arr, n_fft)


# --------------------------------------------------------------------------------------------
# mel scale and filterbank
# --------------------------------------------------------------------------------------------
_F_SP = 200.0 / 3.0                    # Slaney: 66.67 Hz per mel below 1 kHz
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP     # 15 mel at 1 kHz
_LOGSTEP = math.log(6.4) / 27.0        # Slaney: log-spaced above 1 kHz


def _as_frequencies(x, name: str):
    arr = as_array(x, name, allow_empty=True)
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name}: expected values >= 0, got minimum {arr.min():g}")
    return arr


def _hz_to_mel(f: np.ndarray, htk: bool) -> np.ndarray:
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    mel = f / _F_SP
    high = f >= _MIN_LOG_HZ
    mel = np.where(high, _MIN_LOG_MEL + np.log(np.maximum(f, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP,
                   mel)
    return mel


def _mel_to_hz(m: np.ndarray, htk: bool) -> np.ndarray:
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f = _F_SP * m
    high = m >= _MIN_LOG_MEL
    return np.where(high, _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(m, _MIN_LOG_MEL) - _MIN_LOG_MEL)),
                    f)


def _scalar_or_array(out: np.ndarray, like):
    return float(out) if np.ndim(like) == 0 else out


def hz_to_mel(frequencies, htk: bool = False):
    """Hz -> mel. Slaney (default, as librosa): linear ``f / (200/3)`` below 1 kHz, logarithmic above;
    ``htk=True``: ``2595 log10(1 + f / 700)``. Scalar in -> float out; array in -> float64 array."""
    f = _as_frequencies(frequencies, "frequencies")
    return _scalar_or_array(_hz_to_mel(f, bool(htk)), frequencies)


def mel_to_hz(mels, htk: bool = False):
    """mel -> Hz, the inverse of ``hz_to_mel`` (same ``htk`` switch)."""
    m = _as_frequencies(mels, "mels")
    return _scalar_or_array(_mel_to_hz(m, bool(htk)), mels)


def mel_frequencies(n: int, fmin: float = 0.0, fmax: float = 8000.0, htk: bool = False) -> np.ndarray:
    """``n`` frequencies in Hz (float64), equally spaced on the mel scale from ``fmin`` to ``fmax``."""
    n = check_int(n, "n")
    fmin = _check_float(fmin, "fmin", 0.0)
    fmax = _check_float(fmax, "fmax", 0.0)
    lo, hi = _hz_to_mel(np.array([fmin, fmax]), bool(htk))
    return _mel_to_hz(np.linspace(lo, hi, n), bool(htk))


def _check_band(sample_rate, fmin, fmax):
    sr = check_sample_rate(sample_rate)
    fmin = _check_float(fmin, "fmin", 0.0)
    fmax = sr / 2.0 if fmax is None else _check_float(fmax, "fmax", 0.0)
    if fmax > sr / 2.0:
        raise ValueError(f"fmax: expected at most the Nyquist frequency sample_rate / 2 = "
                         f"{sr / 2.0:g} Hz, got {fmax:g}")
    if fmin >= fmax:
        raise ValueError(f"fmin: expected a frequency below fmax={fmax:g} Hz, got {fmin:g}")
    return sr, fmin, fmax


@lru_cache(maxsize=32)
def _filterbank(sr: float, n_fft: int, n_mels: int, fmin: float, fmax: float, htk: bool,
                norm: str | None) -> np.ndarray:
    fft_freqs = np.arange(1 + n_fft // 2) * (sr / n_fft)
    lo, hi = _hz_to_mel(np.array([fmin, fmax]), htk)
    edges = _mel_to_hz(np.linspace(lo, hi, n_mels + 2), htk)     # (n_mels + 2,) Hz
    widths = np.diff(edges)                                       # (n_mels + 1,)
    ramps = edges[:, None] - fft_freqs[None, :]                   # (n_mels + 2, n_bins)
    lower = -ramps[:-2] / widths[:-1, None]                       # rising edge of band i
    upper = ramps[2:] / widths[1:, None]                          # falling edge of band i
    weights = np.maximum(0.0, np.minimum(lower, upper))
    if norm == "slaney":                                          # equal area: 2 / bandwidth (Hz)
        weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    weights.setflags(write=False)
    return weights, int((~np.any(weights > 0, axis=1)).sum())


def _filterbank_warned(sr, n_fft, n_mels, fmin, fmax, htk, norm, stacklevel=4) -> np.ndarray:
    weights, empty = _filterbank(sr, n_fft, n_mels, fmin, fmax, htk, norm)
    if empty:
        warnings.warn(f"mel_filterbank: {empty} of {n_mels} mel bands contain no FFT bin (they "
                      f"will always be zero); use fewer mel bands or a larger n_fft", UserWarning,
                      stacklevel=stacklevel)
    return weights


def mel_filterbank(sample_rate, n_fft: int, n_mels: int = 40, fmin: float = 0.0,
                   fmax: float | None = None, htk: bool = False, norm: str | None = "slaney"
                   ) -> np.ndarray:
    """Triangular mel filterbank, float64 (n_mels, 1 + n_fft // 2); ``power @ fb.T`` applies it.

    Band ``i`` rises from edge ``i`` to ``i + 1`` and falls to ``i + 2``, with ``n_mels + 2`` edges
    equally spaced in mel between ``fmin`` and ``fmax`` (default ``sample_rate / 2``) Hz. Slaney's mel
    scale (``htk=False``) and ``norm="slaney"`` (each triangle scaled by 2 / its width in Hz, so bands
    have equal area) are the defaults, as ``librosa.filters.mel``; ``norm=None`` keeps peak 1.
    Warns when a band holds no FFT bin.
    """
    sr, fmin, fmax = _check_band(sample_rate, fmin, fmax)
    n_fft = check_int(n_fft, "n_fft", minimum=2)
    n_mels = check_int(n_mels, "n_mels")
    if norm is not None and norm != "slaney":
        raise ValueError(f"norm: expected 'slaney' or None, got {norm!r}")
    return _filterbank_warned(sr, n_fft, n_mels, fmin, fmax, bool(htk), norm, stacklevel=3).copy()


# --------------------------------------------------------------------------------------------
# whole pipeline
# --------------------------------------------------------------------------------------------
def frame_parameters(sample_rate, frame_ms: float = 25.0, hop_ms: float = 10.0,
                     n_fft: int | None = None) -> tuple[int, int, int]:
    """``(frame_length, hop_length, n_fft)`` in samples for frames of ``frame_ms`` every ``hop_ms``.

    Lengths are rounded to whole samples; ``n_fft`` defaults to the next power of two >= the frame
    length (16 kHz, 25 ms, 10 ms -> ``(400, 160, 512)``).
    """
    sr = check_sample_rate(sample_rate)
    frame_ms = _check_float(frame_ms, "frame_ms", 0.0, strict_min=True)
    hop_ms = _check_float(hop_ms, "hop_ms", 0.0, strict_min=True)
    frame_length = int(round(sr * frame_ms / 1000.0))
    hop_length = int(round(sr * hop_ms / 1000.0))
    if frame_length < 2:
        raise ValueError(f"frame_ms: expected a frame of at least 2 samples, got {frame_ms:g} ms = "
                         f"{frame_length} samples at {sr:g} Hz")
    if hop_length < 1:
        raise ValueError(f"hop_ms: expected a hop of at least 1 sample, got {hop_ms:g} ms at {sr:g} Hz")
    if n_fft is None:
        n_fft = 1 << (frame_length - 1).bit_length()
    else:
        n_fft = check_int(n_fft, "n_fft", minimum=2)
        if n_fft < frame_length:
            raise ValueError(f"n_fft: expected at least the frame length {frame_length} samples "
                             f"({frame_ms:g} ms at {sr:g} Hz), got {n_fft}")
    return frame_length, hop_length, n_fft


def _compute_dtype(value) -> type:
    try:
        name = None if value is None else np.dtype(value).name
    except TypeError:
        name = None
    if name not in ("float32", "float64"):
        raise ValueError(f"compute_dtype: expected 'float32' or 'float64', got {value!r}")
    return np.float32 if name == "float32" else np.float64


class _Plan:
    """Validated parameters of one feature extraction, shared by the single and batch paths."""

    def __init__(self, sample_rate, n_mels, frame_ms, hop_ms, n_fft, window, pre_emphasis, fmin,
                 fmax, htk, norm, center, log="db", top_db=80.0, amin=1e-10,
                 compute_dtype="float32"):
        self.sr, fmin, fmax = _check_band(sample_rate, fmin, fmax)
        n_mels = check_int(n_mels, "n_mels")
        self.frame_length, self.hop_length, self.n_fft = frame_parameters(self.sr, frame_ms, hop_ms,
                                                                           n_fft)
        check_choice(window, "window", _WINDOWS)
        if norm is not None and norm != "slaney":
            raise ValueError(f"norm: expected 'slaney' or None, got {norm!r}")
        self.pre_emphasis = 0.0 if pre_emphasis is None else _check_float(pre_emphasis,
                                                                          "pre_emphasis", 0.0)
        if self.pre_emphasis >= 1.0:
            raise ValueError(f"pre_emphasis: expected a coefficient in [0, 1) or None, got "
                             f"{self.pre_emphasis:g}")
        if log not in _LOGS:
            raise ValueError(f"log: expected 'db', 'natural' or None, got {log!r}")
        self.log = log
        self.top_db = None if top_db is None else _check_float(top_db, "top_db", 0.0, strict_min=True)
        self.amin = _check_float(amin, "amin", 0.0, strict_min=True)
        self.center = bool(center)
        self.dtype = _compute_dtype(compute_dtype)
        self.window = _window(window, self.frame_length, True).astype(self.dtype)
        fb = _filterbank_warned(self.sr, self.n_fft, n_mels, fmin, fmax, bool(htk), norm)
        self.fb_t = np.ascontiguousarray(fb.T, dtype=self.dtype)     # (n_bins, n_mels)

    def frames(self, waveform, name):
        y = check_waveform(waveform, self.sr, name=name, allow_silence=False)
        if self.pre_emphasis:
            y = _pre_emphasis(y, self.pre_emphasis, self.dtype)
        else:
            y = y.astype(self.dtype, copy=False)
        return _frames(y, self.frame_length, self.hop_length, self.center, name)

    def mel(self, windowed):
        """Windowed, zero-padded frames (n, n_fft) -> mel power (n, n_mels): one rFFT, one matmul."""
        spec = scipy.fft.rfft(windowed, axis=-1)
        power = np.square(spec.real)
        power += np.square(spec.imag)
        return power @ self.fb_t

    def log_(self, mel):
        """Mel power -> log, in place (``amin`` floor, no ``top_db`` yet)."""
        if self.log is None:
            return mel
        np.maximum(mel, self.amin, out=mel)
        if self.log == "db":
            np.log10(mel, out=mel)
            mel *= 10.0
        else:
            np.log(mel, out=mel)
        return mel

    def floor_(self, feats):
        """Raise values more than ``top_db`` below this utterance's maximum, in place."""
        if self.log is not None and self.top_db is not None:
            top = self.top_db if self.log == "db" else self.top_db * math.log(10.0) / 10.0
            np.maximum(feats, feats.max() - top, out=feats)
        return feats


_BLAS_CONTROLLER = None  # threadpoolctl.ThreadpoolController once created; False if unavailable


def _one_blas_thread():
    """Context that runs BLAS on one thread (via threadpoolctl, a scikit-learn dependency, when
    installed; otherwise it changes nothing).

    The filterbank matmul is small: multi-threaded OpenBLAS spends more time waking and spinning its
    threads than multiplying, 2-3x the whole feature time on a busy 2-core machine.
    """
    global _BLAS_CONTROLLER
    if _BLAS_CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _BLAS_CONTROLLER = False
        else:
            _BLAS_CONTROLLER = ThreadpoolController()
    if _BLAS_CONTROLLER is False:
        return contextlib.nullcontext()
    return _BLAS_CONTROLLER.limit(limits=1, user_api="blas")


def _run(plan: _Plan, waveforms, names) -> list:
    with _one_blas_thread():
        return _run_chunks(plan, waveforms, names)


def _run_chunks(plan: _Plan, waveforms, names) -> list:
    """Window + rFFT + filterbank over chunks of frames from many utterances at once.

    Each waveform is checked, pre-emphasised and framed when its turn comes (memory stays bounded
    by one chunk, whatever the number of utterances); its windowed frames are written straight into
    a zero-padded (chunk, n_fft) buffer, and each full buffer costs one rFFT call and one matmul.
    """
    out: list = []
    width = plan.frame_length
    buf = None
    pending: list[int] = []       # frame counts of the utterances in the buffer, in order
    used = 0

    def flush():
        nonlocal used
        feats = plan.log_(plan.mel(buf[:used])).astype(np.float32, copy=False)
        offset = 0
        for n in pending:
            out.append(plan.floor_(feats[offset:offset + n]))
            offset += n
        pending.clear()
        used = 0

    for waveform, name in zip(waveforms, names):
        frames = plan.frames(waveform, name)
        n = len(frames)
        if buf is None or used + n > len(buf):
            if pending:
                flush()
            if buf is None or n > len(buf):
                buf = np.zeros((max(n, _CHUNK_FRAMES if len(names) > 1 else n), plan.n_fft),
                               dtype=plan.dtype)
        np.multiply(frames, plan.window, out=buf[used:used + n, :width])
        used += n
        pending.append(n)
    flush()
    return out


def _check_waveform_list(waveforms, name="waveforms") -> list:
    if isinstance(waveforms, np.ndarray) and waveforms.ndim == 1 and waveforms.dtype != object:
        raise ValueError(f"{name}: expected a list of 1-D waveforms, got one 1-D array of shape "
                         f"{waveforms.shape} (wrap it in a list, or call log_mel_spectrogram)")
    if waveforms is None or isinstance(waveforms, (str, bytes, dict)) or \
            not hasattr(waveforms, "__len__"):
        raise ValueError(f"{name}: expected a list of 1-D waveforms, got {describe(waveforms)}")
    waveforms = list(waveforms)
    if not waveforms:
        raise ValueError(f"{name}: expected a non-empty list of waveforms, got an empty list")
    return waveforms


def mel_spectrogram(waveform, sample_rate, n_mels: int = 40, frame_ms: float = 25.0,
                    hop_ms: float = 10.0, n_fft: int | None = None, window: str = "hamming",
                    pre_emphasis: float | None = 0.97, fmin: float = 0.0, fmax: float | None = None,
                    htk: bool = False, norm: str | None = "slaney", center: bool = False,
                    compute_dtype: str = "float32") -> np.ndarray:
    """Mel power spectrogram, float32 (n_frames, n_mels), time first, before the log.

    Same parameters and steps as ``log_mel_spectrogram`` (whose docstring describes them) without its
    last step; equals ``librosa.feature.melspectrogram(..., center=False, power=2).T`` on the
    pre-emphasised waveform with the same window, lengths and filterbank.
    """
    plan = _Plan(sample_rate, n_mels, frame_ms, hop_ms, n_fft, window, pre_emphasis, fmin, fmax,
                 htk, norm, center, log=None, compute_dtype=compute_dtype)
    return _run(plan, [waveform], ["waveform"])[0]


def log_mel_spectrogram(waveform, sample_rate, n_mels: int = 40, frame_ms: float = 25.0,
                        hop_ms: float = 10.0, n_fft: int | None = None, window: str = "hamming",
                        pre_emphasis: float | None = 0.97, fmin: float = 0.0,
                        fmax: float | None = None, log: str | None = "db",
                        top_db: float | None = 80.0, amin: float = 1e-10, htk: bool = False,
                        norm: str | None = "slaney", center: bool = False,
                        compute_dtype: str = "float32") -> np.ndarray:
    """Log-mel spectrogram of one mono waveform: float32 (n_frames, n_mels), **time first**.

    Steps: pre-emphasis (``pre_emphasis`` coefficient, ``None`` or 0 to skip) -> frames of
    ``frame_ms`` ms every ``hop_ms`` ms (``frame_parameters``; ``center=True`` zero-pads half a frame
    at both ends) -> periodic ``window`` -> power spectrum with ``n_fft`` points (default: next power
    of two) -> ``mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, htk, norm)`` -> log.

    ``log="db"``: ``10 log10(max(mel, amin))``, then values more than ``top_db`` dB below the
    utterance's maximum are raised to it (``top_db=None``: no floor) -- exactly
    ``librosa.power_to_db(mel, ref=1.0, amin=amin, top_db=top_db)``. ``log="natural"``:
    ``ln(max(mel, amin))`` with the same floor (``top_db`` converted to nepers). ``log=None``: the
    mel power itself. n_frames = ``n_frames(len(waveform), frame_length, hop_length, center)``.
    ``compute_dtype``: precision of the FFT and filterbank ("float32", fast; "float64", about 1.7x
    slower, for bands 60 dB or more below a frame's peak to agree with a float64 reference to 1e-4
    *each*); the result is float32 either way.

    ``waveform``: 1-D float, int16 / int32 PCM converted to [-1, 1]; stereo, silence, NaN/inf,
    shorter than one frame or longer than 60 s is refused with a ``ValueError``.
    """
    plan = _Plan(sample_rate, n_mels, frame_ms, hop_ms, n_fft, window, pre_emphasis, fmin, fmax,
                 htk, norm, center, log=log, top_db=top_db, amin=amin, compute_dtype=compute_dtype)
    return _run(plan, [waveform], ["waveform"])[0]


def log_mel_batch(waveforms, sample_rate, **kwargs) -> list:
    """``log_mel_spectrogram`` of each waveform of a list: a list of float32 (n_frames_i, n_mels).

    Same keyword arguments. Faster than a Python loop over ``log_mel_spectrogram``: the frames of
    many utterances share one rFFT and one filterbank matmul. Errors name ``waveforms[i]``.
    """
    waveforms = _check_waveform_list(waveforms)
    plan = _Plan(sample_rate, **_plan_kwargs(kwargs, "log_mel_batch"))
    return _run(plan, waveforms, [f"waveforms[{i}]" for i in range(len(waveforms))])


_PLAN_DEFAULTS = dict(n_mels=40, frame_ms=25.0, hop_ms=10.0, n_fft=None, window="hamming",
                      pre_emphasis=0.97, fmin=0.0, fmax=None, htk=False, norm="slaney",
                      center=False, log="db", top_db=80.0, amin=1e-10, compute_dtype="float32")


def _plan_kwargs(kwargs: dict, where: str) -> dict:
    unknown = sorted(set(kwargs) - set(_PLAN_DEFAULTS))
    if unknown:
        raise ValueError(f"{where}: unexpected keyword argument(s) {unknown}; expected some of "
                         f"{sorted(_PLAN_DEFAULTS)}")
    return {**_PLAN_DEFAULTS, **kwargs}


def power_to_db(power, amin: float = 1e-10, top_db: float | None = 80.0) -> np.ndarray:
    """``10 log10(max(power, amin))``, floored at ``top_db`` below the maximum (``None``: no floor).

    Any shape; float64 out (float32 for float32 input). Equals
    ``librosa.power_to_db(power, ref=1.0, amin=amin, top_db=top_db)``. Negative power is refused.
    """
    arr = as_array(power, "power")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"power: expected real numbers, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise ValueError(f"power: expected values >= 0 (a power spectrum), got minimum {arr.min():g}")
    amin = _check_float(amin, "amin", 0.0, strict_min=True)
    if arr.dtype != np.float32:
        arr = arr.astype(np.float64)
    out = 10.0 * np.log10(np.maximum(arr, arr.dtype.type(amin)))
    if top_db is not None:
        top_db = _check_float(top_db, "top_db", 0.0, strict_min=True)
        out = np.maximum(out, out.max() - top_db)
    return out


# --------------------------------------------------------------------------------------------
# cepstra, normalisation, deltas
# --------------------------------------------------------------------------------------------
@lru_cache(maxsize=32)
def _dct_matrix(n_in: int, n_out: int, norm: str | None) -> np.ndarray:
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(np.pi * k * (2 * n + 1) / (2.0 * n_in))          # (n_out, n_in)
    if norm == "ortho":
        basis *= math.sqrt(2.0 / n_in)
        basis[0] *= 1.0 / math.sqrt(2.0)
    else:
        basis *= 2.0
    mat = np.ascontiguousarray(basis.T)                               # (n_in, n_out)
    mat.setflags(write=False)
    return mat


def dct_ii(x, n_out: int | None = None, norm: str | None = "ortho") -> np.ndarray:
    """DCT-II along the last axis, keeping the first ``n_out`` coefficients: (..., n_out).

    ``y[k] = s_k sum_n x[n] cos(pi k (2n + 1) / (2N))`` with ``N = x.shape[-1]``; ``norm="ortho"``:
    ``s_0 = sqrt(1/N)``, ``s_k = sqrt(2/N)`` (an orthonormal transform); ``norm=None``: ``s_k = 2``.
    Equals ``scipy.fft.dct(x, type=2, norm=norm, axis=-1)[..., :n_out]``. float32 in -> float32 out,
    otherwise float64.
    """
    arr = as_array(x, "x")
    if arr.ndim < 1:
        raise ValueError("x: expected an array with at least 1 dimension, got a scalar")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"x: expected real numbers, got dtype {arr.dtype}")
    n_in = arr.shape[-1]
    n_out = n_in if n_out is None else check_int(n_out, "n_out", maximum=n_in)
    if norm is not None and norm != "ortho":
        raise ValueError(f"norm: expected 'ortho' or None, got {norm!r}")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    return arr.astype(dtype, copy=False) @ _dct_matrix(n_in, n_out, norm).astype(dtype, copy=False)


def _lifter(n_mfcc: int, lifter: float) -> np.ndarray:
    return 1.0 + (lifter / 2.0) * np.sin(np.pi * np.arange(1, n_mfcc + 1) / lifter)


def _mfcc_setup(n_mfcc, n_mels, lifter):
    n_mels = check_int(n_mels, "n_mels")
    n_mfcc = check_int(n_mfcc, "n_mfcc")
    if n_mfcc > n_mels:
        raise ValueError(f"n_mfcc: expected at most n_mels={n_mels} coefficients, got {n_mfcc}")
    lifter = _check_float(lifter, "lifter", 0.0)
    mat = _dct_matrix(n_mels, n_mfcc, "ortho").astype(np.float32)
    if lifter > 0:
        mat = mat * _lifter(n_mfcc, lifter).astype(np.float32)[None, :]
    return n_mels, mat


def mfcc(waveform, sample_rate, n_mfcc: int = 13, n_mels: int = 40, lifter: float = 0.0,
         **kwargs) -> np.ndarray:
    """MFCCs of one mono waveform: float32 (n_frames, n_mfcc), **time first**.

    ``dct_ii(log_mel_spectrogram(waveform, sample_rate, n_mels, **kwargs), n_mfcc, norm="ortho")``,
    in decibels by default (``log="db"``, ``top_db=80``) -- librosa's ``feature.mfcc`` with
    ``dct_type=2, norm="ortho"``. ``lifter > 0`` multiplies coefficient ``k`` by
    ``1 + (lifter / 2) sin(pi (k + 1) / lifter)`` (as librosa). ``kwargs``: those of
    ``log_mel_spectrogram``. Coefficient 0 tracks loudness; ``cmvn`` and ``deltas`` usually follow.
    """
    n_mels, mat = _mfcc_setup(n_mfcc, n_mels, lifter)
    return log_mel_spectrogram(waveform, sample_rate, n_mels=n_mels, **kwargs) @ mat


def mfcc_batch(waveforms, sample_rate, n_mfcc: int = 13, n_mels: int = 40, lifter: float = 0.0,
               **kwargs) -> list:
    """``mfcc`` of each waveform of a list: a list of float32 (n_frames_i, n_mfcc)."""
    n_mels, mat = _mfcc_setup(n_mfcc, n_mels, lifter)
    return [lm @ mat for lm in log_mel_batch(waveforms, sample_rate, n_mels=n_mels, **kwargs)]


def cmvn(features, variance: bool = True) -> np.ndarray:
    """Per-utterance cepstral mean (and variance) normalisation of (n_frames, n_features).

    Each column (feature) gets mean 0 over time and, with ``variance=True``, standard deviation 1
    (population std, ``ddof=0``). A constant column -- e.g. a single frame -- becomes 0 instead of
    dividing by zero. float32 in -> float32 out, otherwise float64.
    """
    arr = _check_features(features)
    x = arr.astype(np.float64)
    centred = x - x.mean(axis=0)
    centred -= centred.mean(axis=0)        # second pass: removes the rounding error of the mean
    constant = np.ptp(x, axis=0) == 0
    centred[:, constant] = 0.0
    if variance:
        std = np.sqrt(np.mean(np.square(centred), axis=0))
        std[constant | (std == 0)] = 1.0
        centred /= std
    return centred.astype(np.float32 if arr.dtype == np.float32 else np.float64, copy=False)


@lru_cache(maxsize=16)
def _savgol(width: int, order: int) -> np.ndarray:
    """Weights that estimate the ``order``-th derivative at the centre of ``width`` samples, from a
    least-squares polynomial of degree ``order`` (Savitzky-Golay)."""
    half = width // 2
    t = np.arange(-half, half + 1, dtype=np.float64)
    vander = t[:, None] ** np.arange(order + 1)[None, :]            # (width, order + 1)
    w = np.linalg.pinv(vander)[order] * math.factorial(order)      # (width,)
    w.setflags(write=False)
    return w


def deltas(features, width: int = 9, order: int = 1) -> np.ndarray:
    """Delta (``order=1``) or delta-delta (``order=2``) features along time: (n_frames, n_features).

    A local least-squares estimate of the ``order``-th time derivative over ``width`` frames
    (odd, >= 3); for ``order=1`` that is ``sum_n n x[t+n] / sum_n n^2``, n = -width//2..width//2. At
    the edges the polynomial fitted to the first / last ``width`` frames is used. Equals
    ``librosa.feature.delta(features.T, width=width, order=order, mode="interp").T``. Needs
    ``n_frames >= width``. float32 in -> float32 out, otherwise float64.
    """
    arr = _check_features(features)
    width = check_int(width, "width", minimum=3)
    if width % 2 == 0:
        raise ValueError(f"width: expected an odd number of frames >= 3, got {width}")
    order = check_int(order, "order", minimum=1, maximum=2)
    if arr.shape[0] < width:
        raise ValueError(f"features: expected at least width={width} frames to estimate deltas, got "
                         f"{arr.shape[0]} (shape {arr.shape}); use a smaller width")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    x = arr.astype(np.float64)
    windows = np.lib.stride_tricks.sliding_window_view(x, width, axis=0)  # (T - w + 1, F, w)
    inner = windows @ _savgol(width, order)                              # (T - w + 1, F)
    # With polynomial degree == derivative order the fitted derivative is constant over a window,
    # so the edge estimates ("interp" mode) equal the first / last interior ones.
    half = width // 2
    out = np.concatenate([np.repeat(inner[:1], half, axis=0), inner,
                          np.repeat(inner[-1:], half, axis=0)], axis=0)
    return out.astype(dtype, copy=False)
