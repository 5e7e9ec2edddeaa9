"""PyTorch track: training time and retrieval quality of the default dual encoders (2 threads).

    .venv/bin/python -m benchmarks bench_training      (or: python benchmarks/bench_training.py)

Shapes test split (1,000 images, 5,000 captions). Text→image: relevant = every image that
satisfies the caption (hit rate@1/10, mAP; NDCG@10 with graded relevance). Image→text: the
standard protocol (hit if one of the image's own 5 captions is in the top K). Word-order probe:
fraction of pairs where the satisfied caption outscores its swapped twin (bag of words: 0.5 by
construction). Models are trained fresh (not from the cache) with the parameters of
``mmcourse.torch.pretrained.VARIANTS`` — the very models the notebooks load — for their full step
count, with no wall-clock stop: a clock-driven stop would make the learning-rate schedule, and so
the figures, depend on the machine's load. The targets then check the training time against the
budget (60 s default, 120 s word order). Digits: text→image mAP (relevant = same digit).
"""
from __future__ import annotations

import time

#: (name, dataset, training arguments, time budget in s)
CONFIGS = (
    ("gru infonce (default)", "shapes", dict(variant="default"), 60),
    ("bow infonce", "shapes", dict(variant="default", rnn="bow"), 60),
    ("gru + scene twins (word_order)", "shapes", dict(variant="word_order"), 120),
    ("digits gru infonce (default)", "digits", dict(variant="default"), 60),
)
TARGETS = {"t2i_hit@10": 0.95, "t2i_mAP": 0.65, "t2i_NDCG@10": 0.78, "i2t_R@10": 0.85}


def probe_accuracy(model, test, probe) -> dict:
    """Fraction of probe pairs where the satisfied caption outscores its swapped twin (ties 1/2):
    over all pairs ("probe"), the colour swaps and the argument swaps."""
    import numpy as np

    from mmcourse.torch import embed_images, embed_texts

    img = embed_images(model, test.images[probe["image_index"]])
    pos = (embed_texts(model, probe["positive"]) * img).sum(axis=1)
    neg = (embed_texts(model, probe["negative"]) * img).sum(axis=1)
    # equal scores (bag of words: the same words give the same vector, up to float rounding) are ties: 1/2
    tie = np.isclose(pos, neg, rtol=0.0, atol=1e-6)
    acc, kinds = np.where(tie, 0.5, pos > neg), np.asarray(probe["kind"])
    return {"probe": float(acc.mean()), "probe_colour": float(acc[kinds == "colour_swap"].mean()),
            "probe_argument": float(acc[kinds == "argument_swap"].mean())}


def evaluate(model, test, probe=None) -> dict:
    from mmcourse.metrics import hit_rate_at_k, mean_average_precision, ndcg_at_k
    from mmcourse.torch import embed_images, embed_texts

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
    import mmcourse
    import mmcourse.torch as mt
    import torch
    from mmcourse.data.shapes import word_order_probe
    from mmcourse.torch.pretrained import default_model_params

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    results = {}
    try:
        data = {}
        print(f"PyTorch track (torch {torch.__version__}, device {mt.get_device()}), 2 threads; "
              f"default steps {mt.DEFAULT_STEPS}")
        head = (f"{'configuration':36s} {'train s':>7s} {'CPU s':>6s} {'steps':>6s} {'steps/s':>7s} "
                f"{'limit':>5s} {'t2i hit@1':>9s} {'hit@10':>6s} {'mAP':>6s} {'NDCG@10':>7s} "
                f"{'i2t R@1':>7s} {'R@10':>6s} {'probe':>6s} {'colour':>6s} {'arg.':>6s}")
        print(head)
        print("-" * len(head))
        for name, dataset, kw, budget in configs:
            if dataset not in data:
                d = mmcourse.load_dataset(dataset)
                test = d.subset("test")
                probe = word_order_probe(test, n_pairs=500, seed=0) if dataset == "shapes" else None
                data[dataset] = (d, test, probe)
            d, test, probe = data[dataset]
            kw = dict(kw)
            params = default_model_params(dataset, kw.pop("variant"), **kw)["train"]
            t0, c0 = time.perf_counter(), time.process_time()
            model, hist = mt.train_dual_encoder(d, progress=False, **params)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            steps, train_s = hist["step"][-1], hist["seconds"][-1]
            limit = "time" if steps < params.get("steps", mt.DEFAULT_STEPS) else "steps"
            r = evaluate(model, test, probe)
            r.update(train_s=train_s, total_s=wall, cpu_s=cpu, steps=steps, steps_per_s=steps / train_s,
                     budget_s=budget)
            results[name] = r
            print(f"{name:36s} {train_s:7.1f} {cpu:6.1f} {steps:6d} {steps / train_s:7.1f} {limit:>5s} "
                  f"{r['t2i_hit@1']:9.3f} {r['t2i_hit@10']:6.3f} {r['t2i_mAP']:6.3f} "
                  f"{r['t2i_NDCG@10']:7.3f} {r['i2t_R@1']:7.3f} {r['i2t_R@10']:6.3f} {r['probe']:6.3f} "
                  f"{r['probe_colour']:6.3f} {r['probe_argument']:6.3f}",
                  flush=True)
    finally:
        torch.set_num_threads(threads)
    _print_targets(results)
    return results


def _print_targets(results) -> None:
    default = results.get("gru infonce (default)")
    if default:
        for key, target in TARGETS.items():
            ok = "PASS" if default[key] >= target else "FAIL"
            print(f"target default {key} >= {target}: {default[key]:.3f} {ok}")
        ok = "PASS" if default["train_s"] <= default["budget_s"] else "FAIL"
        print(f"target default training <= {default['budget_s']} s: {default['train_s']:.1f} s {ok}")
    wo = results.get("gru + scene twins (word_order)")
    if wo:
        ok = "PASS" if wo["probe"] >= 0.90 and wo["train_s"] <= wo["budget_s"] else "FAIL"
        print(f"target word_order probe >= 0.90 within {wo['budget_s']} s: {wo['probe']:.3f} in "
              f"{wo['train_s']:.1f} s {ok}")


if __name__ == "__main__":
    main()
