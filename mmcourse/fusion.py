"""Fusing modalities of the same items: early, late, weighted-sum and attention fusion, and
missing-modality imputation (numpy level).

* early fusion concatenates L2-normalised feature blocks scaled by sqrt(weight), so the dot
  product of two fused items equals the weighted sum of the per-modality cosines;
* late fusion adds score matrices (n_queries, n_items) with weights, optionally normalised per
  query first and re-weighted per item when some items lack a modality (``masks``);
* weighted sum adds vectors that live in one shared space (a dual encoder's);
* attention fusion computes the weights per item from the content.
"""
from __future__ import annotations

import warnings

import numpy as np

from ._validation import as_array, as_matrix, check_choice, describe

__all__ = ["early_fusion", "late_fusion", "weighted_sum", "attention_fusion", "impute_missing"]

_EPS = 1e-12


def _weights(weights, m: int) -> np.ndarray:
    """Non-negative weights, one per modality, normalised to sum to 1 (default: equal)."""
    if weights is None:
        return np.full(m, 1.0 / m)
    w = as_array(weights, "weights", ndim=1, dtype=np.float64)
    if len(w) != m:
        raise ValueError(f"weights: expected {m} weights (one per input), got {len(w)}")
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"weights: expected non-negative weights with a positive sum, got {w.tolist()}")
    return w / w.sum()


def _blocks(features, name: str) -> list[np.ndarray]:
    if len(features) == 1 and isinstance(features[0], (list, tuple)):
        features = tuple(features[0])
    if not features:
        raise ValueError(f"{name}: expected at least one array, got none")
    out = [as_matrix(f, f"{name}[{i}]", dtype=np.float64) for i, f in enumerate(features)]
    n = len(out[0])
    for i, f in enumerate(out):
        if len(f) != n:
            raise ValueError(f"{name}[{i}]: expected {n} rows (one per item, like {name}[0]), "
                             f"got shape {f.shape}")
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), _EPS)


def early_fusion(*features, weights=None) -> np.ndarray:
    """Concatenate modalities (each (n, d_m)) into one float32 (n, sum d_m) vector per item.

    Each block is L2-normalised and scaled by sqrt(w_m) (weights sum to 1), so that
    ``fused_a · fused_b = sum_m w_m cos_m(a, b)`` and fused rows have unit norm.
    """
    blocks = _blocks(features, "features")
    w = _weights(weights, len(blocks))
    return np.hstack([np.sqrt(wm) * _unit(b) for wm, b in zip(w, blocks)]).astype(np.float32)


def _normalize_rows(s: np.ndarray, present: np.ndarray, how: str | None) -> np.ndarray:
    """Per query row: z-score or min-max over the *present* entries (constant rows -> 0)."""
    if how is None:
        return s
    masked = np.where(present, s, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no present entry
        if how == "zscore":
            centre, spread = np.nanmean(masked, 1, keepdims=True), np.nanstd(masked, 1, keepdims=True)
        else:
            centre = np.nanmin(masked, 1, keepdims=True)
            spread = np.nanmax(masked, 1, keepdims=True) - centre
    centre, spread = np.nan_to_num(centre), np.nan_to_num(spread)
    return (s - centre) / np.where(spread > _EPS, spread, 1.0) * (spread > _EPS)


def late_fusion(*score_matrices, weights=None, normalize: str | None = None,
                masks=None) -> np.ndarray:
    """Weighted sum of M score matrices of equal shape (n_queries, n_items) -> float32.

    ``normalize``: None (scores as given), "zscore" or "minmax" — per query row, so modalities
    on different scales add fairly. ``masks``: optional list of M boolean arrays (None = all
    present), each (n_items,) or (n_queries, n_items), True where that modality's score exists;
    each entry then averages only its present modalities (weights renormalised per entry), so an
    item missing its caption is neither rewarded nor punished. Every entry needs one modality.
    """
    mats = _blocks(score_matrices, "score_matrices")
    for i, s in enumerate(mats[1:], 1):
        if s.shape != mats[0].shape:
            raise ValueError(f"score_matrices[{i}]: expected shape {mats[0].shape}, got {s.shape}")
    w = _weights(weights, len(mats))
    if normalize not in (None, "zscore", "minmax"):
        raise ValueError(f"normalize: expected None, 'zscore' or 'minmax', got {normalize!r}")
    present = _masks(masks, len(mats), mats[0].shape)
    mats = [_normalize_rows(s, p, normalize) for s, p in zip(mats, present)]
    total = sum(wm * p for wm, p in zip(w, present))
    if (total <= 0).any():
        raise ValueError(f"masks: expected at least one present modality (with weight > 0) per "
                         f"entry, got {int((total <= 0).sum())} entries with none")
    fused = sum(wm * np.where(p, s, 0.0) for wm, s, p in zip(w, mats, present))
    return (fused / total).astype(np.float32)


def _masks(masks, m: int, shape: tuple[int, int]) -> list[np.ndarray]:
    """M boolean arrays of ``shape`` (True = present) from the ``masks`` argument."""
    if masks is None:
        return [np.ones(shape, dtype=bool)] * m
    if isinstance(masks, np.ndarray) or len(masks) != m:
        raise ValueError(f"masks: expected a list of {m} masks (one per score matrix, None = all "
                         f"present), got {describe(masks)}")
    out = []
    for i, mask in enumerate(masks):
        if mask is None:
            out.append(np.ones(shape, dtype=bool))
            continue
        arr = np.asarray(mask)
        if arr.dtype != bool or arr.shape not in ((shape[1],), shape):
            raise ValueError(f"masks[{i}]: expected a boolean array of shape ({shape[1]},) or "
                             f"{shape}, got {describe(arr)}")
        out.append(np.broadcast_to(arr, shape))
    return out


def weighted_sum(*embeddings, weights=None) -> np.ndarray:
    """``sum_m w_m e_m`` of same-space embeddings (M arrays (n, d), or one list of them) ->
    float32 (n, d), e.g. a composed image + text query.

    Weights are normalised to sum to 1; the result is not re-normalised.
    """
    if len(embeddings) == 1 and isinstance(embeddings[0], np.ndarray):
        raise ValueError(f"embeddings: expected several (n, d) arrays or a list of them, got one "
                         f"{describe(embeddings[0])}")
    blocks = _blocks(embeddings, "embeddings")
    for i, b in enumerate(blocks[1:], 1):
        if b.shape != blocks[0].shape:
            raise ValueError(f"embeddings[{i}]: expected shape {blocks[0].shape}, got {b.shape}")
    w = _weights(weights, len(blocks))
    return sum(wm * b for wm, b in zip(w, blocks)).astype(np.float32)


def attention_fusion(features, query, return_weights: bool = False, temperature: float = 1.0):
    """Per-item softmax(f_m · q / (sqrt(d) * temperature)) over modalities, then the weighted sum.

    ``features``: list of M arrays (n, d) in one space; ``query``: (d,) -> float32 (n, d)
    (and the weights (n, M) with ``return_weights=True``).
    """
    if isinstance(features, np.ndarray):
        raise ValueError(f"features: expected a list of (n, d) arrays, got {describe(features)}")
    blocks = _blocks(tuple(features), "features")
    stack = np.stack(blocks, axis=1)  # (n, M, d)
    q = as_array(query, "query", ndim=1, dtype=np.float64)
    if len(q) != stack.shape[-1]:
        raise ValueError(f"query: expected {stack.shape[-1]} values to match features, got {len(q)}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature: expected a positive finite number, got {describe(temperature)}")
    logits = stack @ q / (np.sqrt(stack.shape[-1]) * temperature)
    logits -= logits.max(axis=1, keepdims=True)
    alpha = np.exp(logits)
    alpha /= alpha.sum(axis=1, keepdims=True)
    fused = (alpha[..., None] * stack).sum(axis=1).astype(np.float32)
    return (fused, alpha.astype(np.float32)) if return_weights else fused


def impute_missing(features, mask, strategy: str = "mean") -> np.ndarray:
    """Fill the rows of ``features`` (n, d) whose ``mask`` (n,) is False (missing) -> float32.

    ``mask`` is True where the modality is present. "mean": the mean of the present rows (zeros
    when none is present); "zero": zeros. The input is not modified.
    """
    check_choice(strategy, "strategy", ("mean", "zero"))
    x = as_matrix(features, "features", dtype=np.float64).copy()
    present = np.asarray(mask)
    if present.shape != (len(x),) or present.dtype != bool:
        raise ValueError(f"mask: expected a boolean array of shape ({len(x)},) (True = present), "
                         f"got {describe(present)}")
    fill = x[present].mean(axis=0) if strategy == "mean" and present.any() else np.zeros(x.shape[1])
    x[~present] = fill
    return x.astype(np.float32)
