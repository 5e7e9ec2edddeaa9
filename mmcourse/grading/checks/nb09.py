"""Checkers for notebook 09 (scaling out): PQ from scratch, the shard merge, nprobe, post-filtering.

References: ``mmcourse.quantization`` (numpy PQ, itself checked against faiss ``IndexPQ``),
``mmcourse.engine.topk`` (merge, post-filter), ``mmcourse.engine.tuning`` (nprobe) and faiss
``IndexPQ`` built on the learner's own codebooks as an independent second opinion. No check
depends on wall-clock time.
"""
from __future__ import annotations

import numpy as np

from ..check import expect_close, expect_equal, expect_ranking, fail, register


def _data(seed: int, n: int = 1200, d: int = 16) -> np.ndarray:
    """Clustered float32 data (n, d): enough structure for codebooks to matter."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, d))
    return (centres[rng.integers(0, 12, n)] + 0.4 * rng.normal(size=(n, d))).astype(np.float32)


def _as_pair(out, case: str):
    if not isinstance(out, tuple) or len(out) != 2:
        fail(case, "a tuple (scores or distances, ids)", type(out).__name__)
    return np.asarray(out[0], dtype=np.float64), np.asarray(out[1])


def _mse(x: np.ndarray, codebook: np.ndarray) -> float:
    d = ((x[:, None, :].astype(np.float64) - codebook[None].astype(np.float64)) ** 2).sum(-1)
    return float(d.min(1).mean())


@register("nb09-codebooks", twins=("mmcourse.quantization:train_pq",),
          why="Each sub-space gets its own codebook: m small k-means problems instead of one "
              "impossible one with ksub^m centroids.")
def check_codebooks(fn):
    from mmcourse.quantization import train_pq

    x = _data(1)
    m, ksub = 4, 16
    cb = np.asarray(fn(x.copy(), m, ksub), dtype=np.float64)
    expect_equal(cb.shape, (m, ksub, 4), "1,200 vectors of 16 dims, m=4, ksub=16 (shape)",
                 "one codebook per sub-space: (m, ksub, d // m)")
    if not np.all(np.isfinite(cb)):
        fail("1,200 vectors, m=4, ksub=16", "finite centroids", "NaN or inf")
    ref = train_pq(x, m, ksub, n_iter=10, seed=0)
    for j in range(m):
        sub = x[:, 4 * j:4 * (j + 1)]
        mine, best = _mse(sub, cb[j]), _mse(sub, ref[j])
        if mine > 1.5 * best + 1e-6:
            fail(f"sub-space {j} (dimensions {4 * j}..{4 * j + 3})",
                 f"a quantisation error near {best:.4f} (k-means on those columns)", f"{mine:.4f}",
                 "sub-space j is the contiguous block of columns j*dsub .. (j+1)*dsub - 1; run "
                 "k-means on that block")
        if len(np.unique(np.round(cb[j], 6), axis=0)) < ksub:
            fail(f"sub-space {j}", f"{ksub} distinct centroids", "repeated centroids",
                 "initialise k-means with distinct data points")


@register("nb09-encode", twins=("mmcourse.quantization:pq_encode",),
          why="A code is m small integers: the nearest centroid in each sub-space.")
def check_encode(fn):
    from mmcourse.quantization import faiss_index_pq, pq_encode, train_pq

    cb = np.array([[[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]],
                   [[0.0, 1.0], [2.0, 0.0], [-3.0, 0.0]]], dtype=np.float32)   # m=2, ksub=3
    x = np.array([[0.9, 1.2, 1.9, 0.1], [4.0, 6.0, -2.0, 0.5], [0.1, -0.1, 0.0, 0.9]], np.float32)
    got = np.asarray(fn(x, cb))
    expect_equal(got.shape, (3, 2), "3 vectors, m=2 codebooks of 3 centroids (shape)",
                 "one code per sub-space: (n, m)")
    expect_equal(got.astype(np.int64), np.array([[1, 1], [2, 2], [0, 0]]),
                 "3 vectors, m=2 codebooks of 3 centroids (hand-computed)",
                 "for sub-space j compare x[:, j*dsub:(j+1)*dsub] with codebooks[j] and take the "
                 "index of the nearest centroid")
    if got.dtype != np.uint8:
        fail("3 vectors, m=2", "dtype uint8 (ksub <= 256 fits one byte)", f"dtype {got.dtype}",
             "return codes.astype(np.uint8)")
    x = _data(2)
    cb = train_pq(x, 4, 32, n_iter=5)
    got = np.asarray(fn(x, cb)).astype(np.int64)
    expect_equal(got, pq_encode(x, cb).astype(np.int64), "1,200 vectors, m=4, ksub=32")
    from mmcourse.quantization import pq_decode

    index = faiss_index_pq(cb, x)                  # faiss encodes x itself with these codebooks
    expect_close(pq_decode(got, cb), index.reconstruct_n(0, len(x)),
                 "your codes decoded vs faiss IndexPQ's codes for the same vectors", rtol=0, atol=1e-6)


@register("nb09-decode", twins=("mmcourse.quantization:pq_decode",),
          why="Decoding concatenates the named centroids: the vector the code stands for.")
def check_decode(fn):
    from mmcourse.quantization import pq_decode, train_pq

    cb = np.array([[[0.0, 0.0], [1.0, 1.0], [5.0, 5.0]],
                   [[0.0, 1.0], [2.0, 0.0], [-3.0, 0.0]]], dtype=np.float32)
    codes = np.array([[1, 1], [2, 0], [0, 2]], dtype=np.uint8)
    expect_close(fn(codes, cb), [[1, 1, 2, 0], [5, 5, 0, 1], [0, 0, -3, 0]],
                 "3 codes, m=2 codebooks (hand-computed)",
                 "row i is concatenate(codebooks[0][codes[i, 0]], codebooks[1][codes[i, 1]], ...)")
    x = _data(3)
    cb = train_pq(x, 8, 16, n_iter=5)
    codes = np.random.default_rng(3).integers(0, 16, size=(50, 8)).astype(np.uint8)
    got = fn(codes, cb)
    expect_close(got, pq_decode(codes, cb), "50 random codes, m=8, ksub=16", rtol=1e-6)
    if np.asarray(got).dtype != np.float32:
        fail("50 random codes", "dtype float32", f"dtype {np.asarray(got).dtype}")


@register("nb09-adc", twins=("mmcourse.quantization:adc_search", "mmcourse.quantization:adc_tables"),
          why="Asymmetric distance: one m x ksub table per query, then m lookups and adds per code "
              "instead of d multiply-adds.")
def check_adc(fn):
    from mmcourse.quantization import faiss_index_pq, train_pq

    cb = np.array([[[0.0], [2.0]], [[0.0], [10.0]]], dtype=np.float32)     # m=2, ksub=2, dsub=1
    codes = np.array([[0, 0], [1, 0], [0, 1], [1, 1], [1, 0]], dtype=np.uint8)
    q = np.array([[2.0, 1.0]], dtype=np.float32)
    # decoded: (0,0) (2,0) (0,10) (2,10) (2,0) -> squared distances 5, 1, 85, 81, 1
    dist, ids = _as_pair(fn(q, codes, cb, 3), "one query, 5 codes, k=3")
    expect_equal(ids.tolist(), [[1, 4, 0]], "one query, 5 codes, k=3 (hand-computed)",
                 "sum the table entries tables[q, j, codes[:, j]] over j; smallest first, equal "
                 "distances by lower id (a stable sort)")
    expect_close(dist, [[1.0, 1.0, 5.0]], "the distances of that query",
                 "squared L2 to the decoded vectors, not their square roots", rtol=1e-5)
    from mmcourse.quantization import pq_encode

    x = _data(4, n=2000)
    cb = train_pq(x, 4, 64, n_iter=5)
    index = faiss_index_pq(cb, x)                  # faiss encodes x: the same codes as pq_encode
    codes = pq_encode(x, cb)
    queries = _data(5, n=20)
    want_d, _ = index.search(queries, 10)
    dist, ids = _as_pair(fn(queries, codes, cb, 10), "20 queries, 2,000 codes, k=10")
    expect_equal(ids.shape, (20, 10), "20 queries, 2,000 codes, k=10 (shape)")
    expect_close(dist, want_d, "20 queries, 2,000 codes (distances vs faiss IndexPQ, same codebooks)",
                 "tables[q, j, c] = |queries[q, j-th block] - codebooks[j][c]|^2", rtol=1e-4,
                 atol=1e-4)
    adc = np.zeros((20, len(codes)))
    for j in range(4):
        diff = queries[:, None, j * 4:(j + 1) * 4].astype(np.float64) - cb[j][None].astype(np.float64)
        adc += ((diff ** 2).sum(-1))[:, codes[:, j]]
    expect_ranking(ids, -adc, "20 queries, 2,000 codes (ids vs faiss IndexPQ, same codebooks)",
                   atol=1e-4)


@register("nb09-merge", twins=("mmcourse.engine.topk:merge_topk", "mmcourse.engine.topk:order_best_first"),
          why="An item of the global top-k is in its own shard's top-k, so merging the shards' "
              "lists is exact.")
def check_merge(fn):
    from mmcourse.engine.topk import merge_topk

    s1, i1 = np.array([[0.9, 0.5, 0.1]]), np.array([[7, 3, 1]])
    s2, i2 = np.array([[0.5, 0.4, -np.inf]]), np.array([[2, 8, -1]])
    scores, ids = _as_pair(fn([s1, s2], [i1, i2], 4), "two shards, k=4")
    expect_equal(ids.tolist(), [[7, 2, 3, 8]], "two shards, k=4, a tie at 0.5 between ids 3 and 2",
                 "sort all candidates by score descending, equal scores by lower id")
    expect_close(scores, [[0.9, 0.5, 0.5, 0.4]], "the merged scores")
    scores, ids = _as_pair(fn([s2[:, :2]], [i2[:, :2]], 3), "one shard with 2 results, k=3")
    expect_equal(ids.tolist(), [[2, 8, -1]], "one shard with 2 results, k=3",
                 "pad with id -1 (score -inf) when there are fewer than k results")
    if not np.isneginf(scores[0, 2]):
        fail("one shard with 2 results, k=3", "score -inf for the padding", scores[0, 2])
    pad_first = [np.array([[-np.inf, -np.inf]]), np.array([[-5.0, -6.0]])]
    _, ids = _as_pair(fn(pad_first, [np.array([[-1, -1]]), np.array([[4, 9]])], 2),
                      "an empty shard (all padding) and one with scores -5, -6")
    expect_equal(ids.tolist(), [[4, 9]], "an empty shard (all padding) and one with scores -5, -6",
                 "padding (id -1) never beats a real item, and never comes before one")
    rng = np.random.default_rng(6)
    parts_s, parts_i = [], []
    for j in range(4):
        s = np.round(rng.normal(size=(30, 10)), 1)                            # many ties
        s = -np.sort(-s, axis=1)
        parts_s.append(s)
        parts_i.append(rng.permutation(1000)[:300].reshape(30, 10) + 1000 * j)
    want_s, want_i = merge_topk(parts_s, parts_i, 10)
    got_s, got_i = _as_pair(fn(parts_s, parts_i, 10), "4 shards, 30 queries, rounded scores (ties)")
    expect_equal(got_i, want_i, "4 shards, 30 queries, rounded scores (ties)",
                 "ties by lower id also across shards")
    expect_close(got_s, want_s, "4 shards, 30 queries: the scores", rtol=1e-6)


class _FakeIVF:
    """An IVF-like index whose recall@10 at each nprobe is set in advance (no timing involved)."""

    def __init__(self, recall_at: dict, nlist: int, exact: np.ndarray):
        self.recall_at, self.params, self.exact = recall_at, {"nlist": nlist, "nprobe": 1}, exact
        self.tried = []

    def set_search_params(self, **kw):
        self.params.update(kw)
        self.tried.append(kw.get("nprobe"))
        return self

    set_params = set_search_params

    def search(self, queries, k=10):
        nq = len(queries)
        hits = int(round(self.recall_at[self.params["nprobe"]] * k))
        ids = self.exact[:nq, :k].copy()
        ids[:, hits:] = 10_000 + np.arange(k - hits)                 # wrong items after `hits`
        return np.zeros((nq, k), np.float32), ids[:, ::-1].copy()     # order must not matter


@register("nb09-nprobe", twins=("mmcourse.engine.tuning:smallest_nprobe",),
          why="Probing more cells finds more true neighbours but costs time: take the smallest "
              "nprobe that reaches the target.")
def check_nprobe(fn):
    exact = np.arange(200).reshape(20, 10)
    curve = {1: 0.3, 2: 0.5, 4: 0.8, 8: 0.9, 16: 1.0}
    fake = _FakeIVF(curve, 16, exact)
    out = fn(fake, np.zeros((20, 4), np.float32), exact, 0.85)
    if not isinstance(out, tuple) or len(out) != 2:
        fail("recall 0.3/0.5/0.8/0.9/1.0 at nprobe 1/2/4/8/16, target 0.85", "a tuple (nprobe, recall)",
             type(out).__name__)
    expect_equal(int(out[0]), 8, "recall 0.3/0.5/0.8/0.9/1.0 at nprobe 1/2/4/8/16, target 0.85",
                 "try nprobe = 1, 2, 4, ... in increasing order and stop at the first whose recall "
                 "against the exact ids reaches the target (compare sets: order does not matter)")
    expect_close(float(out[1]), 0.9, "the recall returned with nprobe=8")
    fake = _FakeIVF(curve, 16, exact)
    out = fn(fake, np.zeros((20, 4), np.float32), exact, 0.25)
    expect_equal(int(out[0]), 1, "the same index, target 0.25", "nprobe=1 already reaches it")
    fake = _FakeIVF({1: 0.2, 2: 0.4, 4: 0.6, 8: 0.7}, 8, exact)
    out = fn(fake, np.zeros((20, 4), np.float32), exact, 0.95)
    expect_equal((int(out[0]), round(float(out[1]), 6)), (8, 0.7),
                 "an index whose recall never reaches 0.95 (nlist=8)",
                 "when no nprobe reaches the target, return nlist (the last candidate) and its recall")
    fake = _FakeIVF({1: 0.5, 2: 1.0, 4: 1.0, 8: 1.0}, 8, exact)
    fn(fake, np.zeros((20, 4), np.float32), exact, 0.9)
    if fake.tried[-1] != 2:
        fail("target 0.9 reached at nprobe=2", "the index left set to nprobe=2",
             f"nprobe={fake.tried[-1]}", "stop trying once the target is reached")


@register("nb09-filter", twins=("mmcourse.engine.topk:post_filter",),
          why="Post-filtering drops the shortlist's non-matching items; a selective filter can "
              "leave fewer than k.")
def check_filter(fn):
    from mmcourse.engine.topk import post_filter

    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5], [0.4, 0.3, -np.inf, -np.inf, -np.inf]])
    ids = np.array([[4, 0, 3, 1, 2], [1, 4, -1, -1, -1]])
    allowed = np.array([True, False, True, True, False])
    got_s, got_i = _as_pair(fn(scores, ids, allowed, 3), "2 shortlists of 5, items 0, 2, 3 allowed, k=3")
    expect_equal(got_i.astype(np.int64).tolist(), [[0, 3, 2], [-1, -1, -1]],
                 "2 shortlists of 5, items 0, 2, 3 allowed, k=3",
                 "keep shortlisted items whose id is allowed, best first; pad with -1 (score -inf): "
                 "never look up allowed[-1] for padding")
    expect_close(got_s[0], [0.8, 0.7, 0.5], "the kept scores")
    if not np.all(np.isneginf(got_s[1])):
        fail("a shortlist with no allowed item", "scores -inf", got_s[1])
    rng = np.random.default_rng(8)
    s = -np.sort(-np.round(rng.normal(size=(25, 40)), 1), axis=1)
    i = np.stack([rng.permutation(300)[:40] for _ in range(25)])
    allowed = rng.random(300) < 0.3
    want_s, want_i = post_filter(s, i, allowed, 10)
    got_s, got_i = _as_pair(fn(s, i, allowed, 10), "25 shortlists of 40, 30 % of items allowed, k=10")
    expect_equal(got_i, want_i, "25 shortlists of 40, 30 % of items allowed, k=10",
                 "equal scores by lower id, padding last")
    expect_close(got_s, want_s, "25 shortlists: the scores")
