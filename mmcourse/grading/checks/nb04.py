"""Checkers for notebook 04 (similarity and search).

Each checker calls the learner's function on several cases, including edge cases, and compares
with the package's reference (``mmcourse.similarity``) or an independent numpy/scipy computation.
"""
from __future__ import annotations

import numpy as np

from ..check import expect_close, fail, register


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@register("nb04-cosine", twins=("mmcourse.similarity:cosine_similarity",),
          why="Cosine similarity ignores vector length, so only direction decides "
                            "the ranking.")
def check_cosine(fn):
    from mmcourse.similarity import cosine_similarity

    a = np.array([[1.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    b = np.array([[0.0, 2.0], [3.0, 0.0], [-1.0, -1.0]], dtype=np.float32)
    expected = np.array([[0.0, 1.0, -np.sqrt(0.5)], [np.sqrt(0.5), np.sqrt(0.5), -1.0]])
    expect_close(fn(a, b), expected, "a 2x2 vs 3x2 hand-computed case",
                 "divide each dot product by both vectors' lengths", rtol=1e-4, atol=1e-5)
    rng = _rng(1)
    a = rng.normal(size=(5, 8)).astype(np.float32)
    b = (rng.normal(size=(7, 8)) * rng.uniform(0.1, 10, size=(7, 1))).astype(np.float32)
    a0, b0 = a.copy(), b.copy()
    got = fn(a, b)
    expect_close(got, cosine_similarity(a, b), "random 5x8 vs 7x8 vectors of different lengths",
                 "normalise the rows of a and of b (L2 norm), then take a @ b.T", rtol=1e-4,
                 atol=1e-5)
    if not (np.array_equal(a, a0) and np.array_equal(b, b0)):
        fail("random inputs", "the inputs left unchanged", "inputs modified in place",
             "normalise copies (a / norm), not the arrays themselves (a /= norm)")
    scaled = fn(3.0 * a, 0.5 * b)
    expect_close(scaled, got, "the same vectors scaled by 3 and 0.5", "cosine must not depend on "
                 "vector length", rtol=1e-4, atol=1e-5)
    z = np.zeros((1, 8), dtype=np.float32)
    got_z = np.asarray(fn(z, b), dtype=np.float64)
    if got_z.shape != (1, 7) or not np.all(np.isfinite(got_z)) or np.abs(got_z).max() > 1e-6:
        fail("a zero query vector", "a row of zeros (similarity 0 with everything)", got_z,
             "guard the division: np.maximum(norm, 1e-12)")


@register("nb04-euclidean", twins=("mmcourse.similarity:euclidean_distance",),
          why="The expansion |a|^2 + |b|^2 - 2 a.b turns distance into one "
                               "matrix product, which BLAS computes fast.")
def check_euclidean(fn):
    from scipy.spatial.distance import cdist

    a = np.array([[0.0, 0.0], [1.0, 1.0]], dtype=np.float32)
    b = np.array([[3.0, 4.0], [1.0, 1.0]], dtype=np.float32)
    expect_close(fn(a, b), [[5.0, np.sqrt(2.0)], [np.sqrt(13.0), 0.0]], "a 2x2 hand-computed case",
                 "return the distance, not its square", rtol=1e-4, atol=1e-4)
    rng = _rng(2)
    a = rng.normal(size=(6, 16)).astype(np.float32)
    b = rng.normal(size=(9, 16)).astype(np.float32)
    expect_close(fn(a, b), cdist(a, b), "random 6x16 vs 9x16 vectors (scipy's cdist)",
                 "sqrt(|a|^2[:, None] + |b|^2[None, :] - 2 a @ b.T)", rtol=1e-3, atol=1e-3)
    c = (_rng(0).normal(size=(4, 32)) * 100 + 300).astype(np.float32)  # float32 cancellation
    got = np.asarray(fn(c, c), dtype=np.float64)
    if got.shape != (4, 4) or not np.all(np.isfinite(got)):
        fail("distances of 4 large vectors to themselves", "finite values (no NaN)", got,
             "rounding can make |a|^2 + |b|^2 - 2 a.b slightly negative: clip at 0 before sqrt")
    if np.abs(np.diag(got)).max() > 2.0:  # float32 rounding leaves ~1 of ~800
        fail("distances of 4 large vectors to themselves", "a diagonal of (almost) zeros",
             np.diag(got), "clip negative squared distances at 0 before the square root")


@register("nb04-disagree", why="Dot product rewards long vectors; cosine does not, so rankings "
                              "differ unless the vectors are normalised.")
def check_disagree(fn):
    out = fn()
    if not isinstance(out, tuple) or len(out) != 2:
        fail("make_disagreement()", "a tuple (query, items)", type(out).__name__)
    query = np.asarray(out[0], dtype=np.float64)
    items = np.asarray(out[1], dtype=np.float64)
    if query.ndim != 1 or items.ndim != 2 or items.shape[1] != query.shape[0] or len(items) < 2:
        fail("make_disagreement()", "query of shape (d,) and items of shape (n>=2, d)",
             f"{query.shape} and {items.shape}")
    if not (np.all(np.isfinite(query)) and np.all(np.isfinite(items))):
        fail("make_disagreement()", "finite numbers", "NaN or inf")
    norms = np.linalg.norm(items, axis=1)
    if np.linalg.norm(query) == 0 or np.any(norms == 0):
        fail("make_disagreement()", "non-zero vectors", "a zero vector", "cosine of a zero vector "
             "is undefined")
    dot = items @ query
    cos = dot / (norms * np.linalg.norm(query))
    if int(np.argmax(dot)) == int(np.argmax(cos)):
        fail("the best item by dot product vs by cosine", "two different items",
             f"item {int(np.argmax(dot))} both times",
             "make one item long (large norm) but pointing away from the query, another short "
             "but pointing along it")
    unit = items / norms[:, None]
    if int(np.argmax(unit @ query)) != int(np.argmax(cos)):  # sanity: always true mathematically
        fail("normalised items", "dot and cosine to agree", "they differ")


@register("nb04-top-k", twins=("mmcourse.similarity:top_k",),
          why="argpartition finds the k best in linear time; only those k need "
                           "sorting.")
def check_top_k(fn):
    from mmcourse.similarity import top_k as ref_top_k

    def verify(scores, k, case):
        scores = np.asarray(scores, dtype=np.float32)
        out = fn(scores.copy(), k)
        if not isinstance(out, tuple) or len(out) != 2:
            fail(case, "a tuple (indices, values)", type(out).__name__)
        idx, val = np.asarray(out[0]), np.asarray(out[1], dtype=np.float64)
        n, m = scores.shape
        if idx.shape != (n, k) or val.shape != (n, k):
            fail(case, f"indices and values of shape {(n, k)}", f"{idx.shape} and {val.shape}")
        if idx.dtype.kind not in "iu":
            fail(case, "integer indices", f"dtype {idx.dtype}")
        ref_idx, ref_val = ref_top_k(scores, k)
        expect_close(val, ref_val, case, "values must be the k largest scores, best first",
                     rtol=1e-6, atol=1e-6)
        if idx.min() < 0 or idx.max() >= m:
            fail(case, f"indices in [0, {m - 1}]", f"range [{idx.min()}, {idx.max()}]")
        if any(len(set(row.tolist())) != k for row in idx):
            fail(case, "k distinct items per row", idx, "an item appears twice")
        expect_close(np.take_along_axis(scores, idx, axis=1), val, case,
                     "each index must point at the score returned next to it")

    verify([[0.1, 0.9, 0.5, 0.7]], 2, "one query, 4 items, k=2")
    rng = _rng(3)
    verify(rng.normal(size=(20, 50)), 5, "20 queries x 50 items, k=5")
    verify(rng.normal(size=(3, 6)), 6, "k equal to the number of items")
    verify(rng.normal(size=(4, 9)), 1, "k=1")
    verify(-np.abs(rng.normal(size=(2, 7))), 3, "all-negative scores")
    verify([[0.5, 0.2, 0.5, 0.5, 0.1]], 2, "tied scores (any of the tied items is accepted)")


@register("nb04-recall", why="Approximate indexes are judged by how many true neighbours they "
                            "return: recall against exact search.")
def check_recall(fn):
    exact = np.array([[0, 1, 2], [3, 4, 5]])
    expect_close(fn(exact.copy(), exact), 1.0, "identical results", "the mean over queries of "
                 "|approx ∩ exact| / k")
    expect_close(fn(exact[:, ::-1].copy(), exact), 1.0, "the same ids in another order",
                 "order does not matter: compare sets")
    expect_close(fn(np.array([[0, 9, 8], [7, 6, 5]]), exact), (1 / 3 + 1 / 3) / 2,
                 "1 of 3 found for each of 2 queries", "average the per-query fractions")
    expect_close(fn(np.array([[9, 8, 7], [6, 2, 1]]), exact), 0.0, "no true neighbour found")
    expect_close(fn(np.array([[0, -1, -1], [3, 4, -1]]), exact), (1 / 3 + 2 / 3) / 2,
                 "faiss pads missing results with -1", "-1 is not an item: it never counts")
    rng = _rng(4)
    ex = np.stack([rng.permutation(100)[:10] for _ in range(30)])
    ap = np.stack([rng.permutation(100)[:10] for _ in range(30)])
    want = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(ap, ex)])
    expect_close(fn(ap, ex), want, "30 random queries, k=10", rtol=1e-6)
