"""Checkers for notebook 06 (evaluation): Recall@K, AP, NDCG@K, reciprocal rank, and a bootstrap CI
that resamples clusters (an image with its captions) when ``groups`` is given.

The learner's metrics return one value per query (shape (n_queries,)); ties are broken by item
index (stable sort on descending score), as everywhere in the package. References:
``mmcourse.metrics`` (same tie policy) and scikit-learn on tie-free cases.
"""
from __future__ import annotations

import numpy as np

from ..check import expect_close, fail, register


def _no_ties(rng, n_queries, n_items):
    """Scores without ties (a random permutation per query), so every tie policy agrees."""
    return np.stack([rng.permutation(n_items) for _ in range(n_queries)]).astype(np.float64)


def _binary_rel(rng, n_queries, n_items, p=0.2):
    rel = (rng.random((n_queries, n_items)) < p).astype(np.float32)
    rel[np.arange(n_queries), rng.integers(0, n_items, n_queries)] = 1.0  # >= 1 relevant each
    return rel


def _per_query(fn, scores, rel, case, **kw):
    got = np.asarray(fn(np.asarray(scores, dtype=np.float32), np.asarray(rel, dtype=np.float32),
                        **kw), dtype=np.float64)
    if got.shape != (len(scores),):
        fail(case, f"one value per query, shape ({len(scores)},)", f"shape {got.shape}",
             "return an array with one entry per query (row); no averaging")
    return got


@register("nb06-recall-at-k", twins=("mmcourse.metrics:recall_at_k", "mmcourse.metrics:evaluate_retrieval",),
          why="Recall@K asks what fraction of ALL relevant items made the top K; "
                                 "hit rate (the papers' R@K) only asks whether one did.")
def check_recall_at_k(fn):
    from mmcourse.metrics import recall_at_k

    scores = [[0.9, 0.8, 0.7, 0.6], [0.1, 0.2, 0.3, 0.4]]
    rel = [[1, 0, 1, 1], [1, 0, 0, 0]]
    expect_close(_per_query(fn, scores, rel, "2 hand-made queries, k=2", k=2), [1 / 3, 0.0],
                 "2 hand-made queries, k=2", "relevant items in the top k / all relevant items")
    expect_close(_per_query(fn, scores, rel, "k=4 (all items)", k=4), [1.0, 1.0],
                 "k equal to the number of items", "with k = all items every relevant item is found")
    expect_close(_per_query(fn, [[0.5, 0.5, 0.5]], [[0, 0, 1]], "ties", k=1), [0.0],
                 "three tied scores, only the last item relevant, k=1",
                 "break ties by item index: a stable sort of -scores puts item 0 first")
    expect_close(_per_query(fn, [[0.3, 0.2]], [[0, 0]], "no relevant item", k=1), [0.0],
                 "a query with no relevant item", "define it as 0 (no division by zero)")
    expect_close(_per_query(fn, [[0.3, 0.2, 0.1]], [[0.5, 0, 2.0]], "graded", k=1), [0.5],
                 "graded relevance (0.5 and 2.0 both count as relevant), k=1",
                 "an item is relevant when its relevance is > 0")
    rng = np.random.default_rng(10)
    s = rng.normal(size=(25, 40))
    r = _binary_rel(rng, 25, 40)
    expect_close(_per_query(fn, s, r, "25 random queries", k=5),
                 recall_at_k(s, r, k=5, per_query=True), "25 random queries x 40 items, k=5")
    s = np.round(rng.normal(size=(25, 60)), 0)
    r = _binary_rel(rng, 25, 60)
    expect_close(_per_query(fn, s, r, "ties", k=5), recall_at_k(s, r, k=5, per_query=True),
                 "25 queries x 60 items with many tied scores, k=5",
                 "rank with np.argsort(-scores, kind='stable'): the default sort is not stable")


@register("nb06-average-precision", twins=("mmcourse.metrics:average_precision", "mmcourse.metrics:evaluate_retrieval", "mmcourse.metrics:precision_recall_curve",),
          why="AP averages the precision at the rank of every relevant "
                                       "item, so it rewards putting all of them early.")
def check_average_precision(fn):
    from sklearn.metrics import average_precision_score

    from mmcourse.metrics import average_precision

    scores = [[0.9, 0.8, 0.7, 0.6, 0.5]]
    expect_close(_per_query(fn, scores, [[1, 0, 1, 0, 0]], "hand case"), [(1 + 2 / 3) / 2],
                 "relevant at ranks 1 and 3", "mean of precision@rank over the relevant ranks: "
                 "(1/1 + 2/3) / 2")
    expect_close(_per_query(fn, scores, [[0, 0, 0, 0, 1]], "last"), [0.2],
                 "the only relevant item ranked last (5th)", "precision at rank 5 is 1/5")
    expect_close(_per_query(fn, [[0.1, 0.2]], [[0, 0]], "none"), [0.0],
                 "a query with no relevant item", "define it as 0")
    rng = np.random.default_rng(11)
    s = _no_ties(rng, 30, 25)
    r = _binary_rel(rng, 30, 25, p=0.3)
    want = np.array([average_precision_score(r[i], s[i]) for i in range(30)])
    expect_close(_per_query(fn, s, r, "30 tie-free queries"), want,
                 "30 tie-free queries (scikit-learn's average_precision_score)", rtol=1e-5)
    graded = r * rng.uniform(0.2, 3.0, size=r.shape)
    expect_close(_per_query(fn, s, graded, "graded"), want,
                 "the same queries with graded relevance", "AP uses binary relevance: > 0")
    tied = np.round(rng.normal(size=(20, 30)), 1)
    rt = _binary_rel(rng, 20, 30)
    expect_close(_per_query(fn, tied, rt, "ties"), average_precision(tied, rt, per_query=True),
                 "20 queries with many tied scores (ties broken by item index)",
                 "rank with np.argsort(-scores, kind='stable')", rtol=1e-5)


@register("nb06-ndcg", twins=("mmcourse.metrics:ndcg_at_k", "mmcourse.metrics:evaluate_retrieval",),
          why="NDCG uses graded relevance and a log discount: a very relevant item at "
                          "rank 1 is worth more than a barely relevant one.")
def check_ndcg(fn):
    from sklearn.metrics import ndcg_score

    from mmcourse.metrics import ndcg_at_k

    s = [[0.9, 0.8, 0.7]]
    r = [[1.0, 0.0, 2.0]]
    dcg = 1.0 + 2.0 / np.log2(4)
    idcg = 2.0 + 1.0 / np.log2(3)
    expect_close(_per_query(fn, s, r, "hand case", k=3), [dcg / idcg],
                 "gains 1, 0, 2 at ranks 1-3, k=3", "DCG = sum(rel_i / log2(i + 1)) over ranks "
                 "i = 1..k; divide by the DCG of the ideal order")
    expect_close(_per_query(fn, s, r, "hand case k=1", k=1), [0.5],
                 "the same query, k=1", "the ideal top 1 has gain 2; we got gain 1")
    expect_close(_per_query(fn, [[0.2, 0.1]], [[0.0, 0.0]], "none", k=2), [0.0],
                 "a query with no relevant item", "define it as 0 (ideal DCG is 0)")
    rng = np.random.default_rng(12)
    sc = _no_ties(rng, 20, 30)
    gr = np.round(rng.random((20, 30)) * (rng.random((20, 30)) < 0.3), 2)
    gr[:, 0] += 0.5
    want = np.array([ndcg_score(gr[i:i + 1], sc[i:i + 1], k=10) for i in range(20)])
    expect_close(_per_query(fn, sc, gr, "20 queries", k=10), want,
                 "20 tie-free queries with graded relevance, k=10 (scikit-learn's ndcg_score)",
                 rtol=1e-4, atol=1e-6)
    tied = np.round(rng.normal(size=(15, 20)), 1)
    expect_close(_per_query(fn, tied, gr[:15, :20], "ties", k=5),
                 ndcg_at_k(tied, gr[:15, :20], k=5, per_query=True),
                 "15 queries with tied scores, k=5 (ties broken by item index)",
                 "rank with np.argsort(-scores, kind='stable')", rtol=1e-4, atol=1e-6)


@register("nb06-reciprocal-rank", twins=("mmcourse.metrics:mean_reciprocal_rank", "mmcourse.metrics:evaluate_retrieval",),
          why="MRR only looks at the FIRST relevant item: the right metric "
                                     "when one good answer is enough.")
def check_reciprocal_rank(fn):
    from mmcourse.metrics import mean_reciprocal_rank

    s = [[0.9, 0.8, 0.7, 0.6], [0.9, 0.8, 0.7, 0.6], [0.1, 0.2, 0.3, 0.4]]
    r = [[1, 0, 0, 1], [0, 0, 1, 1], [0, 0, 0, 0]]
    expect_close(_per_query(fn, s, r, "3 hand-made queries"), [1.0, 1 / 3, 0.0],
                 "first relevant at rank 1, at rank 3, and never",
                 "1 / (1-based rank of the first relevant item); 0 without one")
    expect_close(_per_query(fn, [[0.5, 0.5, 0.5, 0.5]], [[0, 0, 1, 0]], "ties"), [1 / 3],
                 "four tied scores, item 2 relevant", "ties are broken by item index")
    rng = np.random.default_rng(13)
    sc = rng.normal(size=(40, 30))
    rel = _binary_rel(rng, 40, 30, p=0.05)
    expect_close(_per_query(fn, sc, rel, "40 queries"),
                 mean_reciprocal_rank(sc, rel, per_query=True), "40 random queries x 30 items")
    sc = np.round(rng.normal(size=(40, 60)), 0)
    rel = _binary_rel(rng, 40, 60, p=0.05)
    expect_close(_per_query(fn, sc, rel, "ties"), mean_reciprocal_rank(sc, rel, per_query=True),
                 "40 queries x 60 items with many tied scores",
                 "rank with np.argsort(-scores, kind='stable'): the default sort is not stable")


@register("nb06-bootstrap", twins=("mmcourse.metrics:bootstrap_ci", "mmcourse.metrics:paired_bootstrap",),
          why="A metric averaged over a few hundred queries has sampling noise; resampling "
              "queries shows how much. Correlated queries (the five captions of one image) "
              "must be resampled together, or the interval comes out too narrow.")
def check_bootstrap(fn):
    from mmcourse.metrics import bootstrap_ci

    rng = np.random.default_rng(14)
    values = (rng.random(400) < 0.6).astype(np.float64)

    def interval(vals, case, hint="", **kw):
        out = fn(np.asarray(vals, dtype=np.float64), **kw)
        if not isinstance(out, tuple) or len(out) != 3:
            fail(case, "a tuple (mean, low, high)", type(out).__name__)
        mean, lo, hi = (float(v) for v in out)
        expect_close(mean, float(np.mean(vals)), case, "the first entry is the plain mean of "
                     "all values (whatever the groups)")
        if not lo <= mean <= hi:
            fail(case, "low <= mean <= high", (lo, mean, hi), hint)
        return lo, hi

    case = "400 Bernoulli(0.6) values, 95%"
    lo, hi = interval(values, case, n_boot=2000, confidence=0.95, seed=0)
    mean, se = values.mean(), values.std() / np.sqrt(len(values))
    expect_close([lo, hi], [mean - 1.96 * se, mean + 1.96 * se], case + " (normal approximation)",
                 "resample the values WITH replacement n_boot times, take the mean of each "
                 "resample, and return the (1 - confidence)/2 and (1 + confidence)/2 quantiles",
                 atol=0.015)
    _, rlo, rhi = bootstrap_ci(values, n_boot=2000, confidence=0.95, seed=0)
    expect_close([lo, hi], [rlo, rhi], case + " (mmcourse.metrics.bootstrap_ci)", atol=0.015)
    lo90, hi90 = interval(values, "the same values, 90%", n_boot=2000, confidence=0.90, seed=0)
    if not hi90 - lo90 < hi - lo:
        fail("confidence=0.90 vs 0.95", "a narrower 90% interval", (lo90, hi90),
             "use confidence: quantiles (1 - confidence)/2 and (1 + confidence)/2")
    lo2, hi2 = interval(np.tile(values, 9), "9x more values", n_boot=2000, confidence=0.95, seed=0)
    if not (hi2 - lo2) < 0.5 * (hi - lo):
        fail("the same values repeated 9 times", "an interval about 3x narrower", (lo2, hi2),
             "each resample must have as many values as the input")
    expect_close(interval(np.full(50, 0.25), "constant values", n_boot=200, confidence=0.95,
                          seed=0), [0.25, 0.25], "50 identical values", "no spread, no uncertainty")
    first = interval(values, "seed=3", n_boot=500, confidence=0.95, seed=3)
    if first != interval(values, "seed=3", n_boot=500, confidence=0.95, seed=3):
        fail("two calls with seed=3", "identical intervals", "different intervals",
             "use np.random.default_rng(seed)")

    # clustered values: 120 "images" with 5 identical "captions" each (perfectly correlated)
    per_image = (rng.random(120) < 0.6).astype(np.float64)
    clustered, image_of = np.repeat(per_image, 5), np.repeat(np.arange(120), 5)
    case = "120 clusters of 5 identical values, groups given, 95%"
    glo, ghi = interval(clustered, case, groups=image_of, n_boot=2000, confidence=0.95, seed=0)
    gse = per_image.std() / np.sqrt(len(per_image))
    expect_close([glo, ghi], [per_image.mean() - 1.96 * gse, per_image.mean() + 1.96 * gse],
                 case + " (normal approximation over the 120 clusters)",
                 "with groups, draw len(unique groups) cluster ids with replacement and average "
                 "ALL the values of the drawn clusters: the 600 values carry only 120 clusters' "
                 "worth of information", atol=0.03)
    nlo, nhi = interval(clustered, "the same 600 values without groups", n_boot=2000,
                        confidence=0.95, seed=0)
    if not (ghi - glo) > 1.6 * (nhi - nlo):
        fail("the same values with and without groups",
             "an interval about sqrt(5) = 2.2x wider with groups", (glo, ghi),
             f"without groups you returned ({nlo:.3f}, {nhi:.3f}); resample whole groups, not "
             "single values, when groups is given")
    order = rng.permutation(len(clustered))
    labels = np.array([f"img{g:03d}" for g in image_of])[order]
    case = "the same clusters shuffled, with string ids"
    slo, shi = interval(clustered[order], case, groups=labels, n_boot=2000, confidence=0.95,
                        seed=0)
    _, rlo, rhi = bootstrap_ci(clustered[order], n_boot=2000, confidence=0.95, seed=0,
                               groups=labels)
    expect_close([slo, shi], [rlo, rhi], case + " (mmcourse.metrics.bootstrap_ci)",
                 "a group's members need not be next to each other, and ids need not be "
                 "integers: map them with np.unique(groups, return_inverse=True)", atol=0.03)
    case = "2 clusters of unequal size ([1, 1, 1] and [0]), 40%"
    hint = ("a resample drawing one group of each has mean (1 + 1 + 1 + 0) / 4 = 0.75: average "
            "all the drawn values, not the drawn groups' means")
    expect_close(interval([1.0, 1.0, 1.0, 0.0], case, hint, groups=[0, 0, 0, 1], n_boot=4000,
                          confidence=0.40, seed=0), [0.75, 0.75], case, hint, atol=1e-9)
    case = "400 values, each its own group"
    ilo, ihi = interval(values, case, groups=np.arange(400), n_boot=2000, confidence=0.95, seed=0)
    expect_close([ilo, ihi], list(bootstrap_ci(values, n_boot=2000, confidence=0.95, seed=0)[1:]),
                 case + " (the same as no groups)", "singleton groups are plain resampling",
                 atol=0.015)
