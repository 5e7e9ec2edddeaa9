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
                                                       "nb10-save-load", "nb10-spoken",
                                                       "nb10-rerank", "nb10-compact"])
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


def test_quality_milestone_checks_the_design_and_its_recall(capsys):
    from mmcourse.grading.checks.nb10 import MEMORY_BUDGET, evaluate_design

    assert mmcourse.check("nb10-quality", {"method": "cmh", "bits": 8 * MEMORY_BUDGET, "shortlist": 50})
    for bad, word in [({"method": "cmh", "bits": 16 * MEMORY_BUDGET, "shortlist": 50}, "budget"),
                      ({"method": "pq", "bits": 64, "shortlist": 50}, "method"),
                      ({"method": "lsh", "bits": 60, "shortlist": 50}, "multiple of 8"),
                      ({"method": "lsh", "bits": 64}, "shortlist"), ([64], "dict")]:
        assert mmcourse.check("nb10-quality", bad) is False
        assert word in capsys.readouterr().out
    # on data where the codes alone lose recall, re-ranking a shortlist wins it back
    rng = np.random.default_rng(5)
    centres = _unit(rng.normal(size=(40, 32)))
    labels = rng.integers(0, 40, size=600)
    images = _unit(centres[labels] + 0.35 * rng.normal(size=(600, 32)))
    texts = _unit(centres[labels[:300]] + 0.35 * rng.normal(size=(300, 32)))
    relevance = (labels[:300, None] == labels[None, :]).astype(float)
    data = dict(train_images=images[300:], train_texts=_unit(centres[labels[300:]]
                                                              + 0.35 * rng.normal(size=(300, 32))),
                images=images, texts=texts, relevance=relevance)
    alone = evaluate_design({"method": "lsh", "bits": 8, "shortlist": 0}, **data)
    reranked = evaluate_design({"method": "lsh", "bits": 8, "shortlist": 600}, **data)
    assert alone["R@10"] < reranked["R@10"] == pytest.approx(reranked["float R@10"])
    assert alone["bytes_per_item"] == reranked["bytes_per_item"] == 1
    assert mmcourse.check("nb10-quality", {"method": "lsh", "bits": 8, "shortlist": 600}, data=data)
    assert mmcourse.check("nb10-quality", {"method": "lsh", "bits": 8, "shortlist": 0}, data=data) is False
    assert "floor" in capsys.readouterr().out


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _rerank(queries, shortlist_ids, item_vectors, k=10):
    """A reference answer to milestone 5, written with numpy (reads only the shortlisted rows)."""
    q = _unit(np.asarray(queries, dtype=np.float32))
    out_ids, out_scores = [], []
    for row, cand in zip(q, np.asarray(shortlist_ids)):
        s = _unit(item_vectors[cand]) @ row
        best = np.argsort(-s, kind="stable")[:k]
        out_ids.append(cand[best])
        out_scores.append(s[best])
    return np.stack(out_ids), np.stack(out_scores)


def _rerank_unnormalised(queries, shortlist_ids, item_vectors, k=10):
    """Classic mistake: dot products, not cosines."""
    ids, scores = [], []
    for q, cand in zip(queries, shortlist_ids):
        s = item_vectors[cand] @ q
        ids.append(cand[np.argsort(-s)[:k]])
        scores.append(np.sort(s)[::-1][:k])
    return np.stack(ids), np.stack(scores)


def _rerank_reads_everything(queries, shortlist_ids, item_vectors, k=10):
    """Classic mistake: loads the whole collection to score the shortlist."""
    everything = item_vectors[np.arange(len(item_vectors))]
    return _rerank(queries, shortlist_ids, everything, k)


class _Compact:
    """A reference answer to milestone 6 (numpy Hamming distances, stable order)."""

    def __init__(self, image_codes, image_vectors, query_codes_fn, shortlist=100, rerank_fn=None):
        self.image_codes, self.image_vectors = np.asarray(image_codes, np.uint8), image_vectors
        self.query_codes_fn, self.shortlist = query_codes_fn, shortlist
        self.rerank_fn = rerank_fn or _rerank

    @property
    def bytes_per_item(self):
        return self.image_codes.shape[1]

    def search_vectors(self, queries, k=10):
        q = self.query_codes_fn(np.asarray(queries, np.float32))
        dist = np.unpackbits(q[:, None, :] ^ self.image_codes[None], axis=2).sum(axis=2)
        cand = np.argsort(dist, axis=1, kind="stable")[:, :max(self.shortlist, k)]
        return self.rerank_fn(queries, cand, self.image_vectors, k)


class _CompactNoRerank(_Compact):
    """Classic mistake: Hamming order only, with cosine scores attached."""

    def search_vectors(self, queries, k=10):
        q = self.query_codes_fn(np.asarray(queries, np.float32))
        dist = np.unpackbits(q[:, None, :] ^ self.image_codes[None], axis=2).sum(axis=2)
        ids = np.argsort(dist, axis=1, kind="stable")[:, :k]
        return ids, np.einsum("md,mkd->mk", _unit(queries), _unit(self.image_vectors[ids]))


class _SpokenEngine(_Engine):
    def __init__(self, image_embeddings, text_encoder, index=None, audio_encoder=None):
        super().__init__(image_embeddings, text_encoder)
        self.audio_encoder = audio_encoder

    def search_audio(self, waveform, k=10):
        if self.audio_encoder is None:
            raise ValueError("audio_encoder: none given")
        ids, scores = self.search_vectors(self.audio_encoder([waveform]), k)
        return ids[0], scores[0]


class _SpokenEngineSilent(_SpokenEngine):
    """Classic mistake: without an audio encoder, returns nothing instead of saying why."""

    def search_audio(self, waveform, k=10):
        if self.audio_encoder is None:
            return np.zeros(k, int), np.zeros(k)
        return super().search_audio(waveform, k)


def test_capstone_milestones_accept_reference_answers(capsys):
    assert mmcourse.check("nb10-rerank", _rerank), capsys.readouterr().out
    assert mmcourse.check("nb10-compact", _Compact), capsys.readouterr().out
    assert mmcourse.check("nb10-spoken", _SpokenEngine), capsys.readouterr().out


@pytest.mark.parametrize("grade_id,answer,word", [
    ("nb10-rerank", _rerank_unnormalised, "cosine"),
    ("nb10-rerank", _rerank_reads_everything, "disk"),
    ("nb10-compact", _CompactNoRerank, "sorted"),
    ("nb10-spoken", _SpokenEngineSilent, "audio_encoder")])
def test_capstone_mistakes_fail_with_a_hint(grade_id, answer, word, capsys):
    assert mmcourse.check(grade_id, answer) is False
    assert word in capsys.readouterr().out


def test_compact_check_uses_the_reference_rerank():
    """A broken rerank (milestone 5) costs only its own points, not the compact engine's."""
    class Engine(_Compact):
        def __init__(self, *a, rerank_fn=None, **k):
            super().__init__(*a, rerank_fn=rerank_fn or _rerank_unnormalised, **k)

    assert mmcourse.check("nb10-compact", Engine)


def test_disk_vectors_refuse_whole_reads_and_count_rows():
    from mmcourse.grading.checks.nb10 import DiskVectors

    disk = DiskVectors(np.eye(5, dtype=np.float32))
    assert disk[np.array([1, 3])].shape == (2, 5) and disk.rows_read == 2
    for read in (lambda: np.asarray(disk), lambda: disk[:], lambda: disk[np.array([0.5])]):
        with pytest.raises(TypeError):
            read()
