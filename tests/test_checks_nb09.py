"""The checkers of notebook 09 (scaling out) accept the solution notebook's own answers, reject classic
mistakes with a hint, give 0 to an answer that delegates to the package's twin, and never raise."""
from __future__ import annotations

import numpy as np
import pytest

import mmcourse
from mmcourse import quantization
from mmcourse.engine import topk, tuning
from mmcourse.grading.check import known_ids, twins_of
from solution_answers import answers

_SOL = answers("09_scaling_out")
_NS = _SOL["nb09-codebooks"]                     # one namespace for every answer cell
_NS["kmeans"] = quantization.kmeans               # what the notebook's setup cell imports
_NS["recall_vs_exact"] = tuning.recall_vs_exact
_NAMES = {"nb09-codebooks": "train_codebooks", "nb09-encode": "encode_pq", "nb09-decode": "decode_pq",
          "nb09-adc": "search_adc", "nb09-merge": "merge_shards", "nb09-nprobe": "choose_nprobe",
          "nb09-filter": "post_filter_topk"}
RIGHT = {gid: _SOL[gid][name] for gid, name in _NAMES.items()}
_r = RIGHT
TWINS = {"nb09-codebooks": ("mmcourse.quantization:train_pq",),
         "nb09-encode": ("mmcourse.quantization:pq_encode",),
         "nb09-decode": ("mmcourse.quantization:pq_decode",),
         "nb09-adc": ("mmcourse.quantization:adc_search", "mmcourse.quantization:adc_tables"),
         "nb09-merge": ("mmcourse.engine.topk:merge_topk", "mmcourse.engine.topk:order_best_first"),
         "nb09-nprobe": ("mmcourse.engine.tuning:smallest_nprobe",),
         "nb09-filter": ("mmcourse.engine.topk:post_filter",)}


def _interleaved_codebooks(X, m, ksub, n_iter=10, seed=0):        # sub-space j = columns j::m
    X = np.asarray(X, dtype=np.float32)
    return np.stack([quantization.kmeans(X[:, j::m], ksub, n_iter, seed + j) for j in range(m)])


def _first_points(X, m, ksub, n_iter=10, seed=0):                # no k-means at all
    X = np.asarray(X, dtype=np.float32)
    dsub = X.shape[1] // m
    return np.stack([X[:ksub, j * dsub:(j + 1) * dsub] for j in range(m)])


def _adc_sqrt(q, codes, cb, k):
    d, i = _r["nb09-adc"](q, codes, cb, k)
    return np.sqrt(d), i


def _adc_unstable(q, codes, cb, k):                              # argsort without a stable kind
    d, i = _r["nb09-adc"](q, codes, cb, codes.shape[0])
    order = np.argsort(-np.asarray(d), axis=1)[:, ::-1][:, :k]
    return np.take_along_axis(d, order, 1), np.take_along_axis(i, order, 1)


def _merge_no_padding(s, i, k):                                   # forgets to pad, ties by shard order
    scores = np.concatenate(s, axis=1)
    ids = np.concatenate(i, axis=1)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def _nprobe_positional(index, queries, exact_ids, target, k=10):  # recall by position, not sets
    nlist = index.params["nlist"]
    for p in sorted({min(2 ** j, nlist) for j in range(int(np.log2(nlist)) + 2)}):
        index.set_search_params(nprobe=p)
        r = float(np.mean(index.search(queries, k)[1] == np.asarray(exact_ids)[:, :k]))
        if r >= target:
            return p, r
    return nlist, r


def _nprobe_largest(index, queries, exact_ids, target, k=10):     # always the most accurate
    nlist = index.params["nlist"]
    index.set_search_params(nprobe=nlist)
    return nlist, tuning.recall_vs_exact(index.search(queries, k)[1], exact_ids)


def _post_filter_pads_with_zero(s, i, allowed, k):               # id 0 is an item, not padding
    scores, ids = _r["nb09-filter"](s, i, allowed, k)
    return scores, np.where(np.asarray(ids) < 0, 0, ids)


WRONG = {
    "nb09-codebooks": [_interleaved_codebooks, _first_points],
    "nb09-encode": [lambda X, cb: _r["nb09-encode"](X, cb).astype(np.int64),                  # not uint8
                    lambda X, cb: np.stack([((np.asarray(X)[:, None, j * cb.shape[2]:(j + 1) * cb.shape[2]] - cb[j][None]) ** 2)
                                            .sum(-1).argmax(1) for j in range(cb.shape[0])], 1).astype(np.uint8)],
    "nb09-decode": [lambda c, cb: np.concatenate([cb[j][np.asarray(c)[:, -1 - j]] for j in range(cb.shape[0])], 1)],
    "nb09-adc": [_adc_sqrt, lambda q, c, cb, k: _r["nb09-adc"](q, c, cb, k)[::-1]],
    "nb09-merge": [_merge_no_padding, lambda s, i, k: _r["nb09-merge"](s[:1], i[:1], k)],
    "nb09-nprobe": [_nprobe_positional, _nprobe_largest],
    "nb09-filter": [_post_filter_pads_with_zero,
                    lambda s, i, allowed, k: (np.asarray(s)[:, :k], np.asarray(i)[:, :k])],       # no filter
}

DELEGATING = {
    "nb09-codebooks": lambda X, m, ksub, n_iter=10, seed=0: quantization.train_pq(X, m, ksub, n_iter, seed),
    "nb09-encode": lambda X, cb: quantization.pq_encode(X, cb),
    "nb09-decode": lambda c, cb: quantization.pq_decode(c, cb),
    "nb09-adc": lambda q, c, cb, k: quantization.adc_search(q, c, cb, k),
    "nb09-merge": lambda s, i, k: topk.merge_topk(s, i, k),
    "nb09-nprobe": lambda index, q, e, t, k=10: tuning.smallest_nprobe(index, q, e, t, k),
    "nb09-filter": lambda s, i, allowed, k: topk.post_filter(s, i, allowed, k),
}


def test_every_exercise_of_the_notebook_has_a_checker():
    assert {gid for gid in known_ids() if gid.startswith("nb09-")} == set(RIGHT)


@pytest.mark.parametrize("grade_id", sorted(RIGHT))
def test_each_checker_names_its_twins(grade_id):
    assert twins_of(grade_id) == TWINS[grade_id]


@pytest.mark.parametrize("grade_id", sorted(RIGHT))
def test_reference_answer_passes(grade_id, capsys):
    ok = mmcourse.check(grade_id, RIGHT[grade_id])
    out = capsys.readouterr().out
    assert ok is True and out.startswith(f"✓ {grade_id}"), out


@pytest.mark.parametrize("grade_id, i", [(g, i) for g in sorted(WRONG) for i in range(len(WRONG[g]))])
def test_classic_mistake_fails_with_a_hint(grade_id, i, capsys):
    assert mmcourse.check(grade_id, WRONG[grade_id][i]) is False
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {grade_id}: on "), out
    assert "expected" in out, out


@pytest.mark.parametrize("grade_id, wrong, words", [
    ("nb09-codebooks", _interleaved_codebooks, "contiguous block of columns"),
    ("nb09-encode", WRONG["nb09-encode"][0], "uint8"),
    ("nb09-adc", _adc_sqrt, "not their square roots"),
    ("nb09-merge", _merge_no_padding, "lower id"),
    ("nb09-nprobe", _nprobe_positional, "compare sets"),
    ("nb09-nprobe", _nprobe_largest, "increasing order"),
    ("nb09-filter", _post_filter_pads_with_zero, "allowed[-1]"),
])
def test_classic_mistake_gets_its_own_hint(grade_id, wrong, words, capsys):
    assert mmcourse.check(grade_id, wrong) is False
    assert words in capsys.readouterr().out


@pytest.mark.parametrize("grade_id", sorted(DELEGATING))
def test_delegating_answer_scores_zero(grade_id, capsys):
    assert mmcourse.check(grade_id, DELEGATING[grade_id]) is False
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {grade_id}: ") and "mmcourse's own" in out and "scores 0" in out, out
    assert mmcourse.check(grade_id, RIGHT[grade_id]) is True           # the package is left working


def _not_done(*args, **kwargs):
    raise NotImplementedError()


@pytest.mark.parametrize("grade_id", sorted(RIGHT))
def test_unfinished_and_broken_answers_fail_without_raising(grade_id, capsys):
    assert mmcourse.check(grade_id, _not_done) is False
    assert "not implemented" in capsys.readouterr().out
    assert mmcourse.check(grade_id, lambda *a, **k: None) is False
    assert mmcourse.check(grade_id, 42) is False
    assert mmcourse.check(grade_id, lambda *a, **k: 1 / 0) is False


def test_the_numpy_pq_reference_is_faiss_index_pq():
    """mmcourse.quantization (the checkers' reference) against faiss on the same codebooks."""
    import faiss

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3_000, 32)).astype(np.float32)
    q = rng.normal(size=(40, 32)).astype(np.float32)
    cb = quantization.train_pq(x, 8, 256, n_iter=5)
    codes = quantization.pq_encode(x, cb)
    index = quantization.faiss_index_pq(cb, x)
    np.testing.assert_array_equal(faiss.vector_to_array(index.codes).reshape(3_000, 8), codes)
    np.testing.assert_allclose(quantization.pq_decode(codes, cb), index.reconstruct_n(0, 3_000), atol=1e-6)
    d, i = quantization.adc_search(q, codes, cb, 10)
    fd, fi = index.search(q, 10)
    np.testing.assert_allclose(d, fd, rtol=1e-4, atol=1e-4)
    assert np.mean(i == fi) > 0.99
    with pytest.raises(ValueError, match="m: expected a divisor"):
        quantization.train_pq(x, 5, 16)
    with pytest.raises(ValueError, match="x: expected 32 columns"):
        quantization.pq_encode(x[:, :16], cb)
    with pytest.raises(ValueError, match="codes"):
        quantization.pq_decode(codes[:, :4], cb)
