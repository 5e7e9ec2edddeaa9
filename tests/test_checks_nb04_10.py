"""The checkers of notebooks 04-06 and 10 accept the package's reference answers and reject classic
mistakes and unfinished exercises (without raising)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mmcourse
from mmcourse.similarity import cosine_similarity, top_k
from solution_answers import answers

_SOL = {**answers("04_similarity_and_search"), **answers("05_hashing"), **answers("06_evaluation")}
_NAMES = {"nb04-cosine": "cosine_sim", "nb04-euclidean": "euclidean_batched",
          "nb04-disagree": "make_disagreement", "nb04-top-k": "top_k_search",
          "nb04-recall": "recall_vs_exact", "nb05-lsh": "lsh_hash", "nb05-pack": "pack_codes",
          "nb05-hamming": "hamming", "nb05-itq-step": "itq_iteration", "nb05-radius": "hamming_lookup",
          "nb06-recall-at-k": "recall_at_k_per_query",
          "nb06-average-precision": "average_precision_per_query",
          "nb06-ndcg": "ndcg_at_k_per_query", "nb06-reciprocal-rank": "reciprocal_rank_per_query",
          "nb06-bootstrap": "bootstrap_interval"}
#: the solution notebooks' own answers (written by hand, never delegating to the package)
RIGHT = {gid: _SOL[gid][name] for gid, name in _NAMES.items()}
_r = RIGHT


def _not_done(*args, **kwargs):
    raise NotImplementedError()


WRONG = {
    "nb04-cosine": lambda a, b: np.asarray(a) @ np.asarray(b).T,                  # not normalised
    "nb04-euclidean": lambda a, b: _r["nb04-euclidean"](a, b) ** 2,               # squared
    "nb04-disagree": lambda: (np.array([1.0, 0.0]), np.array([[1.0, 0.0], [0.0, 1.0]])),
    "nb04-top-k": lambda s, k: (np.argsort(s, axis=1)[:, :k],                     # worst k
                                np.sort(s, axis=1)[:, :k]),
    "nb04-recall": lambda a, e: float(np.mean(np.asarray(a) == np.asarray(e))),   # order-sensitive
    "nb05-lsh": lambda X, planes: (np.asarray(X) @ np.asarray(planes) > 0).astype(np.uint8),
    "nb05-pack": lambda c: np.packbits(np.asarray(c), axis=1),                    # -1 packs as 1
    "nb05-hamming": lambda a, b: (np.asarray(a)[:, None] != np.asarray(b)[None]).sum(-1),
    "nb05-itq-step": lambda V, R: _r["nb05-itq-step"](V, R).T,
    "nb05-radius": lambda q, c, r: _r["nb05-radius"](q, c, r + 1),
    "nb06-recall-at-k": lambda s, r, k: np.minimum(                               # hit rate
        1.0, _r["nb06-recall-at-k"](s, r, k) * np.maximum(np.sum(np.asarray(r) > 0, 1), 1)),
    "nb06-average-precision": lambda s, r: _r["nb06-average-precision"](            # top-3 only
        np.where(np.argsort(np.argsort(-np.asarray(s), 1), 1) < 3, s, -1e9), r),
    "nb06-ndcg": lambda s, r, k: _r["nb06-ndcg"](s, (np.asarray(r) > 0).astype(float), k),
    "nb06-reciprocal-rank": lambda s, r: _r["nb06-recall-at-k"](s, r, 1),             # P@1-ish
    "nb06-bootstrap": lambda v, groups=None, n_boot=1000, confidence=0.95, seed=0: (
        float(np.mean(v)), float(np.mean(v)), float(np.mean(v))),
}


def _cluster_means_unweighted(v, groups=None, n_boot=1000, confidence=0.95, seed=0):
    """Resamples clusters but averages the drawn clusters' MEANS (ignores cluster sizes)."""
    v = np.asarray(v, dtype=np.float64)
    if groups is None:
        return _r["nb06-bootstrap"](v, n_boot=n_boot, confidence=confidence, seed=seed)
    _, g = np.unique(np.asarray(groups), return_inverse=True)
    cluster_means = np.bincount(g.ravel(), weights=v) / np.bincount(g.ravel())
    _, low, high = _r["nb06-bootstrap"](cluster_means, n_boot=n_boot, confidence=confidence, seed=seed)
    return float(v.mean()), low, high


BOOTSTRAP_MISTAKES = {
    # the pre-cluster answer: groups accepted but ignored, captions resampled one by one
    "ignores groups": lambda v, groups=None, n_boot=1000, confidence=0.95, seed=0:
        _r["nb06-bootstrap"](v, n_boot=n_boot, confidence=confidence, seed=seed),
    "averages cluster means": _cluster_means_unweighted,
    # treats consecutive runs of ids as clusters (breaks when a group's members are not adjacent)
    "assumes contiguous groups": lambda v, groups=None, n_boot=1000, confidence=0.95, seed=0:
        _r["nb06-bootstrap"](v, groups=None if groups is None else np.cumsum(np.r_[0, np.asarray(
            groups)[1:] != np.asarray(groups)[:-1]]), n_boot=n_boot, confidence=confidence, seed=seed),
}


@pytest.mark.parametrize("mistake", sorted(BOOTSTRAP_MISTAKES))
def test_bootstrap_cluster_mistakes_fail_with_a_hint(mistake, capsys):
    assert mmcourse.check("nb06-bootstrap", BOOTSTRAP_MISTAKES[mistake]) is False
    out = capsys.readouterr().out
    assert out.startswith("✗ nb06-bootstrap: on ") and "expected" in out and "group" in out


@pytest.mark.parametrize("grade_id", sorted(RIGHT))
def test_reference_answer_passes(grade_id, capsys):
    assert mmcourse.check(grade_id, RIGHT[grade_id]), capsys.readouterr().out


@pytest.mark.parametrize("grade_id", sorted(WRONG))
def test_classic_mistake_fails_with_a_hint(grade_id, capsys):
    assert mmcourse.check(grade_id, WRONG[grade_id]) is False
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {grade_id}: on ") and "expected" in out


@pytest.mark.parametrize("grade_id", sorted(RIGHT) + ["nb10-search", "nb10-composed",
                                                       "nb10-save-load"])
def test_unfinished_exercise_fails_without_raising(grade_id, capsys):
    assert mmcourse.check(grade_id, _not_done) is False
    assert "not implemented" in capsys.readouterr().out


class _Engine:
    """A reference answer to notebook 10's SearchEngine (brute-force numpy)."""

    def __init__(self, image_embeddings, text_encoder, index=None):
        emb = np.asarray(image_embeddings, dtype=np.float32)
        self.image_embeddings = emb / np.linalg.norm(emb, axis=1, keepdims=True)
        self.text_encoder = text_encoder

    def search_vectors(self, queries, k=10):
        return top_k(cosine_similarity(queries, self.image_embeddings), k)

    def search(self, text, k=10):
        ids, scores = self.search_vectors(self.text_encoder([text]), k)
        return ids[0], scores[0]

    def search_composed(self, text, image_id, weight=0.5, k=10):
        q = (1 - weight) * self.image_embeddings[image_id] + weight * self.text_encoder([text])[0]
        ids, scores = self.search_vectors(q[None], k)
        return ids[0], scores[0]

    def save(self, folder):
        np.save(Path(folder) / "emb.npy", self.image_embeddings)

    @classmethod
    def load(cls, folder, text_encoder):
        return cls(np.load(Path(folder) / "emb.npy"), text_encoder)


class _ForgetfulEngine(_Engine):
    """Classic mistake: load() returns an engine over different (re-generated) embeddings."""

    @classmethod
    def load(cls, folder, text_encoder):
        return cls(np.random.default_rng(1).normal(size=(400, 16)), text_encoder)


class _PixelMeanEngine(_Engine):
    """Classic mistake: a composed query that ignores the text."""

    def search_composed(self, text, image_id, weight=0.5, k=10):
        ids, scores = self.search_vectors(self.image_embeddings[image_id][None], k)
        return ids[0], scores[0]


@pytest.mark.parametrize("grade_id", ["nb10-search", "nb10-composed", "nb10-save-load"])
def test_engine_milestones(grade_id, capsys):
    assert mmcourse.check(grade_id, _Engine), capsys.readouterr().out


def test_engine_mistakes_fail(capsys):
    assert mmcourse.check("nb10-save-load", _ForgetfulEngine) is False
    assert mmcourse.check("nb10-composed", _PixelMeanEngine) is False


def test_quality_milestone_checks_the_floor():
    from mmcourse.grading.checks.nb10 import R10_FLOOR

    good = {"R@1": 0.5, "R@5": 0.8, "R@10": max(R10_FLOOR, 0.9), "mAP": 0.6}
    assert mmcourse.check("nb10-quality", good)
    assert not mmcourse.check("nb10-quality", dict(good, **{"R@10": R10_FLOOR - 0.05}))
    assert not mmcourse.check("nb10-quality", {"R@10": 0.99})
    assert not mmcourse.check("nb10-quality", [0.9])
