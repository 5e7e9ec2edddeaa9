"""Video in numpy: frame sampling, temporal pooling, 3-D convolution, frame differences, probes.

The reference implementations of notebook 08's exercises (the learner writes their own; these
are the checkers' references) and the pieces its cells use. A clip is uint8 or float
``(T, H, W, 3)``, a batch of clips ``(n, T, H, W, 3)``; a feature sequence is ``(n, T, d)``.
Imports neither framework.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_int, describe


def sample_frames(n_frames: int, k: int) -> np.ndarray:
    """Indices of ``k`` frames spread evenly over a clip of ``n_frames``: the centre of each of
    ``k`` equal segments (TSN, Wang et al. 2016), int64 (k,), increasing.

    ``k > n_frames`` raises ValueError (a frame would repeat).
    """
    n_frames = check_int(n_frames, "n_frames", minimum=1)
    k = check_int(k, "k", minimum=1)
    if k > n_frames:
        raise ValueError(f"k: expected at most n_frames={n_frames} frames, got {k}")
    return np.floor((np.arange(k) + 0.5) * n_frames / k).astype(np.int64)


def temporal_mean_pool(features, lengths=None) -> np.ndarray:
    """Mean over time of ``features`` (n, T, d) → (n, d); with ``lengths`` (n,) only the first
    ``lengths[i]`` frames of clip i count (padded clips)."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 3 or f.shape[1] == 0:
        raise ValueError(f"features: expected (n, T, d) with T >= 1, got {describe(features)}")
    if lengths is None:
        return f.mean(axis=1)
    lengths = np.asarray(lengths)
    if lengths.shape != (len(f),) or lengths.dtype.kind not in "iu" or (lengths < 1).any() \
            or (lengths > f.shape[1]).any():
        raise ValueError(f"lengths: expected {len(f)} integers in [1, {f.shape[1]}], got {describe(lengths)}")
    mask = np.arange(f.shape[1])[None, :] < lengths[:, None]
    return (f * mask[..., None]).sum(axis=1) / lengths[:, None]


def _triple(value, name: str, minimum: int) -> tuple[int, int, int]:
    if isinstance(value, (int, np.integer)):
        value = (value,) * 3
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise ValueError(f"{name}: expected an int or 3 ints (time, height, width), got {describe(value)}")
    return tuple(check_int(v, name, minimum=minimum) for v in value)


def conv3d_output_shape(input_shape, kernel_size, stride=1, padding=0, dilation=1) -> tuple:
    """(T', H', W') of a 3-D convolution over (T, H, W): per axis
    ``floor((x + 2 p - d (k - 1) - 1) / s) + 1`` (as ``torch.nn.Conv3d``)."""
    size = _triple(input_shape, "input_shape", 1)
    k = _triple(kernel_size, "kernel_size", 1)
    s = _triple(stride, "stride", 1)
    p = _triple(padding, "padding", 0)
    d = _triple(dilation, "dilation", 1)
    out = tuple((x + 2 * pi - di * (ki - 1) - 1) // si + 1 for x, ki, si, pi, di in zip(size, k, s, p, d))
    if min(out) < 1:
        raise ValueError(f"kernel_size: expected a kernel that fits the padded input {size}, got "
                         f"{k} (output {out})")
    return out


def conv3d(x, weight, bias=None, stride=1, padding=0) -> np.ndarray:
    """3-D cross-correlation, as ``torch.nn.functional.conv3d``: ``x`` (n, C_in, T, H, W),
    ``weight`` (C_out, C_in, kT, kH, kW), ``bias`` (C_out,) → (n, C_out, T', H', W') float64."""
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(weight, dtype=np.float64)
    if x.ndim != 5:
        raise ValueError(f"x: expected (n, C_in, T, H, W), got {describe(x)}")
    if w.ndim != 5 or w.shape[1] != x.shape[1]:
        raise ValueError(f"weight: expected (C_out, {x.shape[1]}, kT, kH, kW), got {describe(w)}")
    s = _triple(stride, "stride", 1)
    p = _triple(padding, "padding", 0)
    out_shape = conv3d_output_shape(x.shape[2:], w.shape[2:], s, p)
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((pi, pi) for pi in p))
    out = np.zeros((x.shape[0], w.shape[0]) + out_shape)
    kt, kh, kw = w.shape[2:]
    for a in range(kt):
        for b in range(kh):
            for c in range(kw):
                patch = xp[:, :, a:a + s[0] * out_shape[0]:s[0], b:b + s[1] * out_shape[1]:s[1],
                           c:c + s[2] * out_shape[2]:s[2]]  # (n, C_in, T', H', W')
                out += np.einsum("nctij,oc->notij", patch, w[:, :, a, b, c])
    if bias is not None:
        b = np.asarray(bias, dtype=np.float64)
        if b.shape != (w.shape[0],):
            raise ValueError(f"bias: expected shape ({w.shape[0]},) (one per output channel), got {describe(bias)}")
        out += b[None, :, None, None, None]
    return out


def frame_differences(clip) -> np.ndarray:
    """Motion energy of a clip (T, H, W, 3): the mean absolute change of each pixel between
    consecutive frames, over the colour channels, float64 (T - 1, H, W) in [0, 255]."""
    c = np.asarray(clip, dtype=np.float64)
    if c.ndim != 4 or c.shape[-1] != 3 or c.shape[0] < 2:
        raise ValueError(f"clip: expected (T, H, W, 3) with T >= 2, got {describe(clip)}")
    return np.abs(np.diff(c, axis=0)).mean(axis=-1)


def pairwise_accuracy(positive_scores, negative_scores) -> float:
    """The fraction of pairs whose positive scores above its negative, ties counting ½ (the
    probes' score: 0.5 is chance, and exactly 0.5 for a model that cannot tell them apart)."""
    p = np.asarray(positive_scores, dtype=np.float64)
    n = np.asarray(negative_scores, dtype=np.float64)
    if p.ndim != 1 or p.shape != n.shape or len(p) == 0:
        raise ValueError(f"negative_scores: expected the shape of positive_scores {p.shape} "
                         f"(1-D, not empty), got {n.shape}")
    return float(np.mean((p > n) + 0.5 * (p == n)))


__all__ = ["sample_frames", "temporal_mean_pool", "conv3d_output_shape", "conv3d",
           "frame_differences", "pairwise_accuracy"]
