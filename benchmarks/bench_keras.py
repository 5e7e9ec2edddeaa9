"""Keras track: training time and retrieval quality of the default dual encoders (2 threads).

    .venv/bin/python -m benchmarks bench_keras      (or: python benchmarks/bench_keras.py)

Same protocol and columns as ``bench_training.py`` (PyTorch) so the two tables sit side by side:
shapes test split (1,000 images, 5,000 captions); text→image with relevance = every image that
satisfies the caption (hit rate@1/10, mAP, NDCG@10 with graded relevance); image→text standard
protocol (hit if one of the image's own captions is in the top K); word-order probe accuracy
(the satisfied caption scores above its swapped twin). Models are trained fresh (no cache).
"""
from __future__ import annotations

import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONFIGS = (
    ("keras gru infonce (default)", dict(rnn="gru", loss="infonce")),
    ("keras bow infonce", dict(rnn="bow", loss="infonce")),
    ("keras gru + hard negatives (word_order)", dict(rnn="gru", loss="infonce", hard_negatives=True,
                                                     steps=3000)),
)


def probe_accuracy(model, test, probe) -> float:
    """Fraction of probe pairs where the satisfied caption outscores its swapped twin."""
    import numpy as np

    from mmcourse.keras import embed_images, embed_texts

    img = embed_images(model, test.images[probe["image_index"]])
    pos = (embed_texts(model, probe["positive"]) * img).sum(axis=1)
    neg = (embed_texts(model, probe["negative"]) * img).sum(axis=1)
    return float(np.mean(pos > neg))


def evaluate(model, test, probe) -> dict:
    from mmcourse.keras import embed_images, embed_texts
    from mmcourse.metrics import hit_rate_at_k, mean_average_precision, ndcg_at_k

    scores = embed_texts(model, test.captions) @ embed_images(model, test.images).T
    graded = test.text_image_relevance()
    binary = graded > 0
    i2t = test.image_text_relevance()
    return {"t2i_hit@1": hit_rate_at_k(scores, binary, k=1), "t2i_hit@10": hit_rate_at_k(scores, binary, k=10),
            "t2i_mAP": mean_average_precision(scores, binary), "t2i_NDCG@10": ndcg_at_k(scores, graded, k=10),
            "i2t_R@1": hit_rate_at_k(scores.T, i2t, k=1), "i2t_R@10": hit_rate_at_k(scores.T, i2t, k=10),
            "probe": probe_accuracy(model, test, probe)}


def main(configs=CONFIGS) -> dict:
    import mmcourse
    import mmcourse.keras as mk
    import tensorflow as tf
    from mmcourse.data.shapes import word_order_probe

    data = mmcourse.load_dataset("shapes")
    test = data.subset("test")
    probe = word_order_probe(test, n_pairs=500, seed=0)
    results = {}
    print(f"Keras track (TensorFlow {tf.__version__}), shapes test split: {test.n_images} images, "
          f"{test.n_captions} captions; 2 threads; default steps {mk.DEFAULT_STEPS}")
    head = (f"{'configuration':42s} {'train s':>8s} {'CPU s':>7s} {'steps':>6s} {'steps/s':>8s} "
            f"{'t2i hit@1':>9s} {'hit@10':>7s} {'mAP':>6s} {'NDCG@10':>8s} {'i2t R@1':>8s} "
            f"{'R@10':>6s} {'probe':>6s}")
    print(head)
    print("-" * len(head))
    for name, kw in configs:
        t0, c0 = time.perf_counter(), time.process_time()
        model, hist = mk.train_dual_encoder(data, seed=0, progress=False, eval_every=10**9, **kw)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        steps = hist["step"][-1]
        train_s = hist["seconds"][-1]  # the loop itself, without set-up and the final evaluation
        r = evaluate(model, test, probe)
        r.update(train_s=train_s, total_s=wall, cpu_s=cpu, steps=steps, steps_per_s=steps / train_s)
        results[name] = r
        print(f"{name:42s} {train_s:8.1f} {cpu:7.1f} {steps:6d} {steps / train_s:8.1f} "
              f"{r['t2i_hit@1']:9.3f} {r['t2i_hit@10']:7.3f} {r['t2i_mAP']:6.3f} {r['t2i_NDCG@10']:8.3f} "
              f"{r['i2t_R@1']:8.3f} {r['i2t_R@10']:6.3f} {r['probe']:6.3f}", flush=True)
    return results


if __name__ == "__main__":
    main()
