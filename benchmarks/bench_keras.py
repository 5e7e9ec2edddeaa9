"""Keras track: training time and retrieval quality of the default dual encoders (2 threads).

    .venv/bin/python -m benchmarks bench_keras      (or: python benchmarks/bench_keras.py)

Same protocol, configurations, time guards and columns as ``bench_training.py`` (PyTorch), so the
two tables sit side by side. Shapes test split (1,000 images, 5,000 captions). Text→image:
relevant = every image that satisfies the caption (hit rate@1/10, mAP; NDCG@10 with graded
relevance). Image→text: the standard protocol (hit if one of the image's own 5 captions is in the
top K). Word-order probe: fraction of pairs where the satisfied caption outscores its swapped twin.
Models are trained fresh (not from the cache) with the parameters of
``mmcourse.keras.pretrained.VARIANTS``, under the PyTorch track's time budgets as wall-clock guards
(the parity target compares the two tracks in the same time); the "limit" column says whether
steps or the guard stopped training. Rows stopped by the clock follow a time-driven learning-rate
schedule, so they vary a little with the machine's load; the "no time guard" row is the cached
default model itself (deterministic), and shows the quality per step. Run it in its own process:
TensorFlow's thread limit (2) only applies before TensorFlow's first operation.
"""
from __future__ import annotations

import os
import time

#: (name, dataset, training arguments, time guard in s or None) — the configurations of bench_training
CONFIGS = (
    ("keras gru infonce (default)", "shapes", dict(variant="default"), 60),
    ("keras gru infonce (default, no time guard)", "shapes", dict(variant="default"), None),
    ("keras bow infonce", "shapes", dict(variant="default", rnn="bow"), 60),
    ("keras gru + scene twins (word_order)", "shapes", dict(variant="word_order"), 120),
    ("keras digits gru infonce (default)", "digits", dict(variant="default"), 60),
)
TARGETS = {"t2i_hit@10": 0.95, "t2i_mAP": 0.65, "t2i_NDCG@10": 0.78, "i2t_R@10": 0.85}


def probe_accuracy(model, test, probe) -> dict:
    """Fraction of probe pairs where the satisfied caption outscores its swapped twin (ties 1/2):
    over all pairs ("probe"), the colour swaps and the argument swaps."""
    import numpy as np

    from mmcourse.keras import embed_images, embed_texts

    img = embed_images(model, test.images[probe["image_index"]])
    pos = (embed_texts(model, probe["positive"]) * img).sum(axis=1)
    neg = (embed_texts(model, probe["negative"]) * img).sum(axis=1)
    # equal scores (bag of words: the same words give the same vector, up to float rounding) are ties: 1/2
    tie = np.isclose(pos, neg, rtol=0.0, atol=1e-6)
    acc, kinds = np.where(tie, 0.5, pos > neg), np.asarray(probe["kind"])
    return {"probe": float(acc.mean()), "probe_colour": float(acc[kinds == "colour_swap"].mean()),
            "probe_argument": float(acc[kinds == "argument_swap"].mean())}


def evaluate(model, test, probe=None) -> dict:
    from mmcourse.keras import embed_images, embed_texts
    from mmcourse.metrics import hit_rate_at_k, mean_average_precision, ndcg_at_k

    scores = embed_texts(model, test.captions) @ embed_images(model, test.images).T
    graded = test.text_image_relevance()
    binary = graded > 0
    i2t = test.image_text_relevance()
    out = {"t2i_hit@1": hit_rate_at_k(scores, binary, k=1), "t2i_hit@10": hit_rate_at_k(scores, binary, k=10),
           "t2i_mAP": mean_average_precision(scores, binary), "t2i_NDCG@10": ndcg_at_k(scores, graded, k=10),
           "i2t_R@1": hit_rate_at_k(scores.T, i2t, k=1), "i2t_R@10": hit_rate_at_k(scores.T, i2t, k=10),
           **(dict.fromkeys(("probe", "probe_colour", "probe_argument"), float("nan")) if probe is None
              else probe_accuracy(model, test, probe))}
    return {k: float(v) for k, v in out.items()}


def main(configs=CONFIGS) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import mmcourse
    import mmcourse.keras as mk
    import tensorflow as tf
    from mmcourse.data.shapes import word_order_probe
    from mmcourse.keras._runtime import limit_threads
    from mmcourse.keras.pretrained import default_model_params

    limited = limit_threads(2)
    results, data = {}, {}
    print(f"Keras track (TensorFlow {tf.__version__}, Keras {__import__('keras').__version__}, CPU), "
          f"{'2 threads' if limited else 'threads already fixed by an earlier TensorFlow op'}; "
          f"default steps {mk.DEFAULT_STEPS}")
    head = (f"{'configuration':42s} {'train s':>7s} {'CPU s':>6s} {'steps':>6s} {'steps/s':>7s} "
            f"{'limit':>5s} {'t2i hit@1':>9s} {'hit@10':>6s} {'mAP':>6s} {'NDCG@10':>7s} "
            f"{'i2t R@1':>7s} {'R@10':>6s} {'probe':>6s} {'colour':>6s} {'arg.':>6s}")
    print(head)
    print("-" * len(head))
    for name, dataset, kw, guard in configs:
        if dataset not in data:
            d = mmcourse.load_dataset(dataset)
            test = d.subset("test")
            probe = word_order_probe(test, n_pairs=500, seed=0) if dataset == "shapes" else None
            data[dataset] = (d, test, probe)
        d, test, probe = data[dataset]
        kw = dict(kw)
        params = default_model_params(dataset, kw.pop("variant"), **kw)["train"]
        t0, c0 = time.perf_counter(), time.process_time()
        model, hist = mk.train_dual_encoder(d, progress=False, time_budget=guard, **params)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        steps, train_s = hist["step"][-1], hist["seconds"][-1]
        limit = "time" if steps < params.get("steps", mk.DEFAULT_STEPS) else "steps"
        r = evaluate(model, test, probe)
        r.update(train_s=train_s, total_s=wall, cpu_s=cpu, steps=steps, steps_per_s=steps / train_s)
        results[name] = r
        print(f"{name:42s} {train_s:7.1f} {cpu:6.1f} {steps:6d} {steps / train_s:7.1f} {limit:>5s} "
              f"{r['t2i_hit@1']:9.3f} {r['t2i_hit@10']:6.3f} {r['t2i_mAP']:6.3f} "
              f"{r['t2i_NDCG@10']:7.3f} {r['i2t_R@1']:7.3f} {r['i2t_R@10']:6.3f} {r['probe']:6.3f} "
              f"{r['probe_colour']:6.3f} {r['probe_argument']:6.3f}",
              flush=True)
    _print_targets(results)
    return results


def _print_targets(results) -> None:
    default = results.get("keras gru infonce (default)")
    if default:
        for key, target in TARGETS.items():
            ok = "PASS" if default[key] >= target else "FAIL"
            print(f"target (PyTorch's) default {key} >= {target}: {default[key]:.3f} {ok}")
        print(f"(default trained {default['train_s']:.1f} s; budget 60 s; parity target: t2i mAP within "
              f"0.05 of bench_training's default row)")
    wo = results.get("keras gru + scene twins (word_order)")
    if wo:
        ok = "PASS" if wo["probe"] >= 0.90 and wo["train_s"] <= 120 else "FAIL"
        print(f"target word_order probe >= 0.90 within 120 s: {wo['probe']:.3f} in {wo['train_s']:.1f} s {ok}")


if __name__ == "__main__":
    main()
