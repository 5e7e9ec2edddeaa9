"""Retrieval figures of a trained dual encoder, shared by the PyTorch and Keras training sections.

Both sections pass their framework's ``embed_images`` / ``embed_texts``, so the two tables are
computed by the same code. The PyTorch section also saves its figures, so that the Keras section
can check parity against the PyTorch default in the same run of ``make bench``.
"""
from __future__ import annotations

import json

#: targets of the default model (issue: models and training)
TARGETS = {"t2i_hit@10": 0.95, "t2i_mAP": 0.65, "t2i_NDCG@10": 0.78, "i2t_R@10": 0.85}
#: the Keras default's text→image mAP may trail PyTorch's by at most this, in the same time budget
PARITY_MAP_GAP = 0.05
#: the word-order probe target and its training budget in seconds
PROBE_TARGET, PROBE_BUDGET_S = 0.90, 120


def probe_accuracy(embed_images, embed_texts, model, test, probe) -> dict:
    """Fraction of probe pairs where the satisfied caption outscores its swapped twin (ties 1/2):
    over all pairs ("probe"), the colour swaps and the argument swaps."""
    import numpy as np

    img = embed_images(model, test.images[probe["image_index"]])
    pos = (embed_texts(model, probe["positive"]) * img).sum(axis=1)
    neg = (embed_texts(model, probe["negative"]) * img).sum(axis=1)
    # equal scores (bag of words: the same words give the same vector, up to float rounding) are ties: 1/2
    tie = np.isclose(pos, neg, rtol=0.0, atol=1e-6)
    acc, kinds = np.where(tie, 0.5, pos > neg), np.asarray(probe["kind"])
    return {"probe": float(acc.mean()), "probe_colour": float(acc[kinds == "colour_swap"].mean()),
            "probe_argument": float(acc[kinds == "argument_swap"].mean())}


def evaluate(embed_images, embed_texts, model, test, probe=None) -> dict:
    """Text→image hit rate@1/10, mAP (relevant = every satisfying image), NDCG@10 (graded);
    image→text R@1/10 (the image's own captions); the word-order probe when given."""
    from mmcourse.metrics import hit_rate_at_k, mean_average_precision, ndcg_at_k

    scores = embed_texts(model, test.captions) @ embed_images(model, test.images).T
    graded = test.text_image_relevance()
    binary = graded > 0
    i2t = test.image_text_relevance()
    out = {"t2i_hit@1": hit_rate_at_k(scores, binary, k=1), "t2i_hit@10": hit_rate_at_k(scores, binary, k=10),
           "t2i_mAP": mean_average_precision(scores, binary), "t2i_NDCG@10": ndcg_at_k(scores, graded, k=10),
           "i2t_R@1": hit_rate_at_k(scores.T, i2t, k=1), "i2t_R@10": hit_rate_at_k(scores.T, i2t, k=10),
           **(dict.fromkeys(("probe", "probe_colour", "probe_argument"), float("nan")) if probe is None
              else probe_accuracy(embed_images, embed_texts, model, test, probe))}
    return {k: float(v) for k, v in out.items()}


def load_test_sets(dataset: str, cache: dict):
    """``(dataset, test split, word-order probe or None)``, loaded once per process."""
    if dataset not in cache:
        import mmcourse
        from mmcourse.data.shapes import word_order_probe

        d = mmcourse.load_dataset(dataset)
        test = d.subset("test")
        probe = word_order_probe(test, n_pairs=500, seed=0) if dataset == "shapes" else None
        cache[dataset] = (d, test, probe)
    return cache[dataset]


def table_header(width: int) -> str:
    return (f"{'configuration':{width}s} {'train s':>7s} {'CPU s':>6s} {'steps':>6s} {'steps/s':>7s} "
            f"{'limit':>5s} {'t2i hit@1':>9s} {'hit@10':>6s} {'mAP':>6s} {'NDCG@10':>7s} "
            f"{'i2t R@1':>7s} {'R@10':>6s} {'probe':>6s} {'colour':>6s} {'arg.':>6s}")


def table_row(name: str, width: int, r: dict, limit: str) -> str:
    return (f"{name:{width}s} {r['train_s']:7.1f} {r['cpu_s']:6.1f} {r['steps']:6d} "
            f"{r['steps'] / r['train_s']:7.1f} {limit:>5s} {r['t2i_hit@1']:9.3f} {r['t2i_hit@10']:6.3f} "
            f"{r['t2i_mAP']:6.3f} {r['t2i_NDCG@10']:7.3f} {r['i2t_R@1']:7.3f} {r['i2t_R@10']:6.3f} "
            f"{r['probe']:6.3f} {r['probe_colour']:6.3f} {r['probe_argument']:6.3f}")


def _results_path(section: str):
    from mmcourse.data import cache_dir

    return cache_dir() / "bench" / f"{section}.json"


def save_results(section: str, results: dict) -> None:
    """Keep a section's figures (``data/cache/bench/<section>.json``) for later sections."""
    path = _results_path(section)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, sort_keys=True))


def load_results(section: str) -> dict | None:
    """The figures a section saved on this machine, or None if it has not run here."""
    try:
        return json.loads(_results_path(section).read_text())
    except (OSError, ValueError):
        return None
