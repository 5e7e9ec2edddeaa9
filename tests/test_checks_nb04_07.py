"""The checkers of notebooks 04-07 accept the package's reference answers and reject classic
mistakes and unfinished exercises (without raising)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mmcourse
from mmcourse import metrics
from mmcourse.hashing import hamming_distance, itq_step, pack_bits
from mmcourse.similarity import cosine_similarity, euclidean_distance, top_k


def _not_done(*args, **kwargs):
    raise NotImplementedError()


def _recall_vs_exact(approx, exact):
    k = exact.shape[1]
    return float(np.mean([len(set(a[a >= 0].tolist()) & set(e.tolist())) / k
                          for a, e in zip(np.asarray(approx), np.asarray(exact))]))


def _radius(q, codes, r):
    return np.flatnonzero(hamming_distance(np.asarray(q).reshape(1, -1), codes)[0] <= r)


def _boot(values, n_boot=1000, confidence=0.95, seed=0):
    return metrics.bootstrap_ci(values, n_boot=n_boot, confidence=confidence, seed=seed)


RIGHT = {
    "nb04-cosine": cosine_similarity,
    "nb04-euclidean": euclidean_distance,
    "nb04-disagree": lambda: (np.array([1.0, 0.0]), np.array([[0.5, 0.0], [3.0, 3.0]])),
    "nb04-top-k": top_k,
    "nb04-recall": _recall_vs_exact,
    "nb05-lsh": lambda X, planes: (np.asarray(X) @ np.asarray(planes) >= 0).astype(np.uint8),
    "nb05-pack": pack_bits,
    "nb05-hamming": hamming_distance,
    "nb05-itq-step": itq_step,
    "nb05-radius": _radius,
    "nb06-recall-at-k": lambda s, r, k: metrics.recall_at_k(s, r, k=k, per_query=True),
    "nb06-average-precision": lambda s, r: metrics.average_precision(s, r, per_query=True),
    "nb06-ndcg": lambda s, r, k: metrics.ndcg_at_k(s, r, k=k, per_query=True),
    "nb06-reciprocal-rank": lambda s, r: metrics.mean_reciprocal_rank(s, r, per_query=True),
    "nb06-bootstrap": _boot,
}

WRONG = {
    "nb04-cosine": lambda a, b: np.asarray(a) @ np.asarray(b).T,                  # not normalised
    "nb04-euclidean": lambda a, b: euclidean_distance(a, b) ** 2,                 # squared
    "nb04-disagree": lambda: (np.array([1.0, 0.0]), np.array([[1.0, 0.0], [0.0, 1.0]])),
    "nb04-top-k": lambda s, k: (np.argsort(s, axis=1)[:, :k],                     # worst k
                                np.sort(s, axis=1)[:, :k]),
    "nb04-recall": lambda a, e: float(np.mean(np.asarray(a) == np.asarray(e))),   # order-sensitive
    "nb05-lsh": lambda X, planes: (np.asarray(X) @ np.asarray(planes) > 0).astype(np.uint8),
    "nb05-pack": lambda c: np.packbits(np.asarray(c), axis=1),                    # -1 packs as 1
    "nb05-hamming": lambda a, b: (np.asarray(a)[:, None] != np.asarray(b)[None]).sum(-1),
    "nb05-itq-step": lambda V, R: itq_step(V, R).T,
    "nb05-radius": lambda q, c, r: _radius(q, c, r + 1),
    "nb06-recall-at-k": lambda s, r, k: metrics.hit_rate_at_k(s, r, k=k, per_query=True),
    "nb06-average-precision": lambda s, r: metrics.average_precision(s, r, k=3, per_query=True),
    "nb06-ndcg": lambda s, r, k: metrics.ndcg_at_k(s, np.asarray(r) > 0, k=k, per_query=True),
    "nb06-reciprocal-rank": lambda s, r: metrics.precision_at_k(s, r, k=1, per_query=True),
    "nb06-bootstrap": lambda v, n_boot=1000, confidence=0.95, seed=0: (
        float(np.mean(v)), float(np.mean(v)), float(np.mean(v))),
}


@pytest.mark.parametrize("grade_id", sorted(RIGHT))
def test_reference_answer_passes(grade_id, capsys):
    assert mmcourse.check(grade_id, RIGHT[grade_id]), capsys.readouterr().out


@pytest.mark.parametrize("grade_id", sorted(WRONG))
def test_classic_mistake_fails_with_a_hint(grade_id, capsys):
    assert mmcourse.check(grade_id, WRONG[grade_id]) is False
    out = capsys.readouterr().out
    assert out.startswith(f"✗ {grade_id}: on ") and "expected" in out


@pytest.mark.parametrize("grade_id", sorted(RIGHT) + ["nb07-search", "nb07-composed",
                                                       "nb07-save-load"])
def test_unfinished_exercise_fails_without_raising(grade_id, capsys):
    assert mmcourse.check(grade_id, _not_done) is False
    assert "not implemented" in capsys.readouterr().out


class _Engine:
    """A reference answer to notebook 07's SearchEngine (brute-force numpy)."""

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


@pytest.mark.parametrize("grade_id", ["nb07-search", "nb07-composed", "nb07-save-load"])
def test_engine_milestones(grade_id, capsys):
    assert mmcourse.check(grade_id, _Engine), capsys.readouterr().out


def test_engine_mistakes_fail(capsys):
    assert mmcourse.check("nb07-save-load", _ForgetfulEngine) is False
    assert mmcourse.check("nb07-composed", _PixelMeanEngine) is False


def test_quality_milestone_checks_the_floor():
    from mmcourse.grading.checks.nb07 import R10_FLOOR

    good = {"R@1": 0.5, "R@5": 0.8, "R@10": max(R10_FLOOR, 0.9), "mAP": 0.6}
    assert mmcourse.check("nb07-quality", good)
    assert not mmcourse.check("nb07-quality", dict(good, **{"R@10": R10_FLOOR - 0.05}))
    assert not mmcourse.check("nb07-quality", {"R@10": 0.99})
    assert not mmcourse.check("nb07-quality", [0.9])
