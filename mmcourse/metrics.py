"""Retrieval metrics over score matrices, vectorised across queries.

Conventions
-----------
``scores`` is (n_queries, n_items), higher is better; ``relevance`` has the same shape, binary
(0/1, bool) or graded (non-negative floats). A 1-D pair is treated as one query. Binary metrics
count an item as relevant when its relevance is > 0; ``ndcg_at_k`` uses the graded values.

**Tie policy (the one used everywhere in mmcourse).** A ranking is a *stable sort on
descending score*: items with equal scores keep ascending item index, so the item with the lower
index ranks first. ``mmcourse.similarity.top_k``, these metrics and the ``mmcourse.index``
wrappers all follow it. It makes every number reproducible, but it is not neutral: with many
ties (duplicate captions, Hamming distances) a relevant item placed at a low index gains. Break
ties deliberately (or add tiny noise) when that matters, and report it.

Each metric takes ``(scores, relevance, k=..., per_query=False, empty="zero")`` and returns the
mean over queries, or the per-query array with ``per_query=True``. ``k`` larger than the number
of items is clipped to it. A query without any relevant item ("empty") counts as 0 with
``empty="zero"`` (for ``median_rank``: as a miss, rank n_items + 1), is left out of the mean with
``empty="skip"`` (its per-query value is NaN), and raises with ``empty="error"``.

Definitions (rank r is 1-based; ``rel_r`` the relevance at rank r; R the number of relevant items)
- ``hit_rate_at_k``: 1 if any relevant item is in the top k (the "R@K" of VSE++ / CLIP papers).
- ``recall_at_k``: (relevant items in the top k) / R.
- ``precision_at_k``: (relevant items in the top k) / k.
- ``average_precision``: sum over relevant ranks r <= k of precision@r, divided by min(R, k);
  ``k=None`` means all items (then it equals scikit-learn's ``average_precision_score`` on
  tie-free scores). ``mean_average_precision`` is the same function.
- ``ndcg_at_k``: DCG@k / ideal DCG@k with DCG = sum_r rel_r / log2(r + 1) (linear gain); the
  ideal DCG ranks the relevance values in decreasing order.
- ``mean_reciprocal_rank``: 1 / rank of the first relevant item (0 beyond k).
- ``median_rank``: median over queries of the rank of the first relevant item.
- ``precision_recall_curve``: interpolated precision (the best precision at recall >= level) on
  a grid of recall levels, averaged over queries.
"""
from __future__ import annotations

import numpy as np

from ._ranking import rank_order
from ._validation import as_array, check_choice, check_int, check_same_shape, describe

__all__ = [
    "recall_at_k", "hit_rate_at_k", "precision_at_k", "average_precision",
    "mean_average_precision", "ndcg_at_k", "mean_reciprocal_rank", "median_rank",
    "precision_recall_curve", "evaluate_retrieval", "bootstrap_ci", "paired_bootstrap",
]

_EMPTY = ("zero", "skip", "error")


# --------------------------------------------------------------------------- preparation
class _Ranked:
    """Relevance permuted into rank order, plus cumulative hit counts (computed once)."""

    def __init__(self, scores, relevance):
        scores = as_array(scores, "scores")
        relevance = as_array(relevance, "relevance")
        if scores.ndim == 1 and relevance.ndim == 1:
            scores, relevance = scores[None, :], relevance[None, :]
        if scores.ndim != 2:
            raise ValueError(f"scores: expected a 2-D array (n_queries, n_items), got shape "
                             f"{scores.shape}")
        check_same_shape(scores, relevance, "scores", "relevance")
        if scores.dtype.kind not in "biuf" or relevance.dtype.kind not in "biuf":
            raise ValueError(f"scores, relevance: expected numeric arrays, got "
                             f"{describe(scores)} and {describe(relevance)}")
        relevance = relevance.astype(np.float64, copy=False)
        if (relevance < 0).any():
            raise ValueError(f"relevance: expected non-negative values, got minimum "
                             f"{relevance.min()}")
        self.relevance = relevance
        self.n_q, self.n = scores.shape
        self.rel = np.take_along_axis(relevance, rank_order(scores), axis=1)
        self.hit = self.rel > 0
        self.n_rel = self.hit.sum(axis=1)
        self.empty = self.n_rel == 0
        self.first = np.where(self.empty, self.n, self.hit.argmax(axis=1))  # 0-based
        self._cum = None
        self._ideal = None

    @property
    def cum(self) -> np.ndarray:
        """Relevant items among the first r ranks, for r = 1..n (int32, (n_q, n))."""
        if self._cum is None:
            self._cum = np.cumsum(self.hit, axis=1, dtype=np.int32)
        return self._cum

    def ideal_dcg(self, k: int) -> np.ndarray:
        """DCG@k of the best possible ranking, per query (cached over the largest k seen)."""
        if self._ideal is None or self._ideal.shape[1] < k:
            rel = self.relevance
            binary = bool(np.all((rel == 0) | (rel == 1)))
            if binary:  # the ideal ranking puts the R relevant items first
                ranks = np.arange(1, k + 1)
                best = (ranks[None, :] <= self.n_rel[:, None]).astype(np.float64)
            elif k < self.n:
                best = -np.sort(np.partition(-rel, k - 1, axis=1)[:, :k], axis=1)
            else:
                best = -np.sort(-rel, axis=1)
            self._ideal = np.cumsum(best * _discounts(k)[None, :], axis=1)
        return self._ideal[:, k - 1]

    def k(self, k, allow_none: bool = False) -> int:
        if k is None and allow_none:
            return self.n
        return min(check_int(k, "k", minimum=1), self.n)


def _reduce(values: np.ndarray, ranked: _Ranked, empty: str, per_query: bool, miss=0.0):
    check_choice(empty, "empty", _EMPTY)
    values = np.asarray(values, dtype=np.float64)
    if empty == "error" and ranked.empty.any():
        first = int(np.flatnonzero(ranked.empty)[0])
        raise ValueError(f"relevance: expected at least one relevant item per query "
                         f"(empty='error'), got {int(ranked.empty.sum())} empty queries "
                         f"(first: query {first})")
    values = values.copy()
    values[ranked.empty] = miss if empty == "zero" else np.nan
    if per_query:
        return values
    if empty == "skip" and ranked.empty.all():
        raise ValueError("relevance: every query has no relevant item, nothing to average "
                         "with empty='skip'")
    return float(np.nanmean(values))


def _check_flag(per_query) -> bool:
    if not isinstance(per_query, (bool, np.bool_)):
        raise ValueError(f"per_query: expected True or False, got {describe(per_query)}")
    return bool(per_query)


# --------------------------------------------------------------------------- per-query values
def _hits(r: _Ranked, k: int) -> np.ndarray:
    return r.cum[:, k - 1]


def _recall(r, k):
    return _hits(r, k) / np.maximum(r.n_rel, 1)


def _hit_rate(r, k):
    return (r.first < k).astype(np.float64)


def _precision(r, k):
    return _hits(r, k) / k


def _ap(r, k):
    ranks = np.arange(1, k + 1, dtype=np.float64)
    prec_at_hits = np.where(r.hit[:, :k], r.cum[:, :k] / ranks, 0.0)
    return prec_at_hits.sum(axis=1) / np.maximum(np.minimum(r.n_rel, k), 1)


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def _ndcg(r, k):
    dcg = r.rel[:, :k] @ _discounts(k)
    ideal = r.ideal_dcg(k)
    return np.where(ideal > 0, dcg / np.where(ideal > 0, ideal, 1.0), 0.0)


def _rr(r, k):
    return np.where(r.first < k, 1.0 / (r.first + 1.0), 0.0)


# --------------------------------------------------------------------------- public metrics
def recall_at_k(scores, relevance, k: int = 10, per_query: bool = False, empty: str = "zero"):
    """Fraction of each query's relevant items that appear in its top k (mean over queries)."""
    r = _Ranked(scores, relevance)
    return _reduce(_recall(r, r.k(k)), r, empty, _check_flag(per_query))


def hit_rate_at_k(scores, relevance, k: int = 10, per_query: bool = False, empty: str = "zero"):
    """1 if any relevant item is in the top k, else 0 — the "R@K" of VSE++/CLIP papers."""
    r = _Ranked(scores, relevance)
    return _reduce(_hit_rate(r, r.k(k)), r, empty, _check_flag(per_query))


def precision_at_k(scores, relevance, k: int = 10, per_query: bool = False,
                   empty: str = "zero"):
    """Fraction of the top k that is relevant (k clipped to n_items)."""
    r = _Ranked(scores, relevance)
    return _reduce(_precision(r, r.k(k)), r, empty, _check_flag(per_query))


def average_precision(scores, relevance, k: int | None = None, per_query: bool = False,
                      empty: str = "zero"):
    """Average precision over relevant ranks <= k, divided by min(R, k); mean = mAP."""
    r = _Ranked(scores, relevance)
    return _reduce(_ap(r, r.k(k, allow_none=True)), r, empty, _check_flag(per_query))


mean_average_precision = average_precision


def ndcg_at_k(scores, relevance, k: int = 10, per_query: bool = False, empty: str = "zero"):
    """Normalised discounted cumulative gain: linear gain, log2(rank + 1) discount."""
    r = _Ranked(scores, relevance)
    return _reduce(_ndcg(r, r.k(k)), r, empty, _check_flag(per_query))


def mean_reciprocal_rank(scores, relevance, k: int | None = None, per_query: bool = False,
                         empty: str = "zero"):
    """1 / (1-based rank of the first relevant item), 0 when it is beyond k."""
    r = _Ranked(scores, relevance)
    return _reduce(_rr(r, r.k(k, allow_none=True)), r, empty, _check_flag(per_query))


def median_rank(scores, relevance, per_query: bool = False, empty: str = "zero"):
    """Median 1-based rank of the first relevant item (lower is better; 1 is perfect).

    ``per_query=True`` gives each query's rank. Under ``empty="zero"`` a query without a
    relevant item counts as a miss, rank n_items + 1 (a rank of 0 would flatter it).
    """
    r = _Ranked(scores, relevance)
    ranks = r.first + 1.0
    values = _reduce(ranks, r, empty, True, miss=r.n + 1.0)
    if _check_flag(per_query):
        return values
    if empty == "skip" and r.empty.all():
        raise ValueError("relevance: every query has no relevant item, nothing to average "
                         "with empty='skip'")
    return float(np.nanmedian(values))


def precision_recall_curve(scores, relevance, recall_levels=None, k: int | None = None,
                           per_query: bool = False, empty: str = "zero"):
    """Interpolated precision–recall curve: ``(precision, recall)``, each (L,) float64.

    For each query, precision at recall level ``t`` is the best precision reached at any rank
    (within the top k) whose recall is >= t; 0 if that recall is never reached. ``recall`` is
    the grid ``recall_levels`` (default: the 11 levels 0, 0.1, ..., 1); ``precision`` is the mean
    over queries, or (n_queries, L) with ``per_query=True``. Its mean over a fine grid
    approximates mAP. A single query is a 1-D ``scores``/``relevance`` pair.
    """
    r = _Ranked(scores, relevance)
    k = r.k(k, allow_none=True)
    if recall_levels is None:
        levels = np.linspace(0.0, 1.0, 11)
    else:
        levels = as_array(recall_levels, "recall_levels", ndim=1, dtype=np.float64)
        if levels.min() < 0 or levels.max() > 1:
            raise ValueError(f"recall_levels: expected values in [0, 1], got range "
                             f"[{levels.min()}, {levels.max()}]")
    rows, pos = np.nonzero(r.hit[:, :k])  # hits within the top k, row-major
    count = np.bincount(rows, minlength=r.n_q)
    start = np.concatenate([[0], np.cumsum(count)[:-1]])
    j = np.arange(len(rows)) - start[rows] + 1  # 1-based hit number within its query
    prec = j / (pos + 1.0)
    # suffix maximum inside each query: shift later queries down so they never win
    shifted = prec - 2.0 * rows
    best_after = np.maximum.accumulate(shifted[::-1])[::-1] + 2.0 * rows
    need = np.ceil(levels[None, :] * r.n_rel[:, None] - 1e-9).astype(np.int64)
    need = np.maximum(need, 1)  # recall 0 is reached at the first hit
    ok = need <= count[:, None]
    at = np.where(ok, start[:, None] + need - 1, 0)
    curve = np.where(ok, best_after[at] if len(best_after) else 0.0, 0.0)
    check_choice(empty, "empty", _EMPTY)
    if empty == "error" and r.empty.any():
        _reduce(np.zeros(r.n_q), r, empty, True)
    curve[r.empty] = 0.0 if empty == "zero" else np.nan
    if _check_flag(per_query):
        return curve, levels
    keep = ~r.empty if empty == "skip" else np.ones(r.n_q, bool)
    if not keep.any():
        raise ValueError("relevance: every query has no relevant item, nothing to average "
                         "with empty='skip'")
    return curve[keep].mean(axis=0), levels


def evaluate_retrieval(scores, relevance, ks=(1, 5, 10), empty: str = "zero",
                       per_query: bool = False) -> dict:
    """All standard metrics from one ranking: a dict of floats (or per-query arrays).

    Keys, for each k in ``ks``: "R@k" (hit rate — the papers' R@K), "Recall@k", "P@k",
    "NDCG@k"; plus "NDCG@10" (always), "mAP" (all items), "MRR", "medR".
    """
    r = _Ranked(scores, relevance)
    if isinstance(ks, (int, np.integer)):
        ks = (ks,)
    if not isinstance(ks, (list, tuple, np.ndarray)) or len(ks) == 0:
        raise ValueError(f"ks: expected a non-empty sequence of integers, got {describe(ks)}")
    ks = [check_int(k, "ks", minimum=1) for k in ks]
    check_choice(empty, "empty", _EMPTY)
    pq = _check_flag(per_query)
    out = {}
    r.ideal_dcg(r.k(max(ks + [10])))  # one pass for every NDCG cut-off
    for k in ks:
        kk = r.k(k)
        out[f"R@{k}"] = _reduce(_hit_rate(r, kk), r, empty, pq)
        out[f"Recall@{k}"] = _reduce(_recall(r, kk), r, empty, pq)
        out[f"P@{k}"] = _reduce(_precision(r, kk), r, empty, pq)
        out[f"NDCG@{k}"] = _reduce(_ndcg(r, kk), r, empty, pq)
    if "NDCG@10" not in out:
        out["NDCG@10"] = _reduce(_ndcg(r, r.k(10)), r, empty, pq)
    out["mAP"] = _reduce(_ap(r, r.n), r, empty, pq)
    out["MRR"] = _reduce(_rr(r, r.n), r, empty, pq)
    ranks = _reduce(r.first + 1.0, r, empty, True, miss=r.n + 1.0)
    if pq:
        out["medR"] = ranks
    elif empty == "skip" and r.empty.all():
        raise ValueError("relevance: every query has no relevant item, nothing to average "
                         "with empty='skip'")
    else:
        out["medR"] = float(np.nanmedian(ranks))
    return out


# --------------------------------------------------------------------------- uncertainty
def _values(x, name: str) -> np.ndarray:
    arr = as_array(x, name, ndim=1, dtype=np.float64)
    if len(arr) < 2:
        raise ValueError(f"{name}: expected at least 2 per-query values, got {len(arr)}")
    return arr


def _boot_params(n_boot, confidence, seed) -> tuple[int, float, np.random.Generator]:
    n_boot = check_int(n_boot, "n_boot", minimum=10)
    if isinstance(confidence, bool) or not isinstance(confidence, (float, int)) \
            or not 0.0 < float(confidence) < 1.0:
        raise ValueError(f"confidence: expected a number in (0, 1), got {describe(confidence)}")
    seed = check_int(seed, "seed", minimum=0)
    return n_boot, float(confidence), np.random.default_rng(seed)


def _groups(groups, n: int, name: str = "groups"):
    """Cluster ids (n,) -> (inverse (n,) int64 in [0, G), G), or None; at least 2 clusters."""
    if groups is None:
        return None
    g = np.asarray(groups)
    if g.ndim != 1 or len(g) != n:
        raise ValueError(f"{name}: expected one cluster id per value, shape ({n},), got "
                         f"{describe(groups)}")
    _, inverse = np.unique(g, return_inverse=True)
    inverse = inverse.reshape(-1).astype(np.int64)
    n_groups = int(inverse.max()) + 1 if n else 0
    if n_groups < 2:
        raise ValueError(f"{name}: expected at least 2 distinct clusters to resample, got {n_groups}")
    return inverse, n_groups


def _boot_means(values: np.ndarray, n_boot: int, rng: np.random.Generator,
                groups=None) -> np.ndarray:
    """Means of n_boot resamples (with replacement), drawn in blocks to bound memory.

    With ``groups`` (``_groups``'s (inverse, G)), whole clusters are resampled: G cluster draws
    per resample, and the resample's mean is the mean of all the values of the drawn clusters
    (the metric recomputed on a resampled test set, so big clusters weigh more)."""
    if groups is None:
        n = len(values)
        out = np.empty(n_boot)
        block = max(1, (1 << 22) // n)
        for s in range(0, n_boot, block):
            b = min(block, n_boot - s)
            out[s:s + b] = values[rng.integers(0, n, size=(b, n))].mean(axis=1)
        return out
    inverse, n_groups = groups
    sums = np.bincount(inverse, weights=values, minlength=n_groups)
    counts = np.bincount(inverse, minlength=n_groups).astype(np.float64)
    out = np.empty(n_boot)
    block = max(1, (1 << 22) // n_groups)
    for s in range(0, n_boot, block):
        b = min(block, n_boot - s)
        draw = rng.integers(0, n_groups, size=(b, n_groups))
        out[s:s + b] = sums[draw].sum(axis=1) / counts[draw].sum(axis=1)
    return out


def bootstrap_ci(per_query_values, n_boot: int = 1000, confidence: float = 0.95,
                 seed: int = 0, groups=None) -> tuple[float, float, float]:
    """Percentile-bootstrap confidence interval of a mean: ``(mean, low, high)``.

    ``per_query_values`` (n,) are e.g. ``average_precision(..., per_query=True)``: queries
    are resampled with replacement ``n_boot`` times (seeded), and the interval is the central
    ``confidence`` mass of the resampled means.

    ``groups`` (n,) (any hashable ids, e.g. ``dataset.caption_image``) makes it a *cluster*
    bootstrap: queries that share an id (the five captions of one image) are correlated, so
    whole clusters are resampled together, and each resample's mean is over all values of the
    drawn clusters. Resampling correlated queries one by one gives intervals that are too
    narrow.
    """
    values = _values(per_query_values, "per_query_values")
    clusters = _groups(groups, len(values))
    n_boot, confidence, rng = _boot_params(n_boot, confidence, seed)
    means = _boot_means(values, n_boot, rng, clusters)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(values.mean()), float(low), float(high)


def paired_bootstrap(a, b, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0,
                     groups=None) -> dict:
    """Compare two systems on the same queries: is mean(a) - mean(b) different from 0?

    ``a`` and ``b`` are per-query values (n,) of two systems, row i being the same query.
    Queries are resampled jointly (the pairing removes query difficulty from the noise).
    Returns ``{"diff", "low", "high", "p_value"}``: the observed mean difference, its
    percentile interval, and a two-sided bootstrap p-value (twice the smaller tail mass of
    the resampled differences at 0, with +1 smoothing). ``groups`` (n,): resample clusters
    of queries together, as in :func:`bootstrap_ci`.
    """
    a = _values(a, "a")
    b = _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"b: expected the same number of queries as a ({len(a)}), got {len(b)}")
    clusters = _groups(groups, len(a))
    n_boot, confidence, rng = _boot_params(n_boot, confidence, seed)
    diffs = _boot_means(a - b, n_boot, rng, clusters)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(diffs, [alpha, 1.0 - alpha])
    tail = min((diffs <= 0).sum(), (diffs >= 0).sum())
    p_value = min(1.0, 2.0 * (tail + 1) / (n_boot + 1))
    return {"diff": float((a - b).mean()), "low": float(low), "high": float(high),
            "p_value": float(p_value)}
