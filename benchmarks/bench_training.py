"""PyTorch track: training time and retrieval quality of the default dual encoders (2 threads).

    .venv/bin/python -m benchmarks training

Shapes test split (1,000 images, 5,000 captions). Text→image: relevant = every image that
satisfies the caption (hit rate@1/10, mAP; NDCG@10 with graded relevance). Image→text: the
standard protocol (hit if one of the image's own 5 captions is in the top K). Word-order probe:
fraction of pairs where the satisfied caption outscores its swapped twin (bag of words: 0.5 by
construction). Models are trained fresh (not from the cache) with the parameters of
``mmcourse.torch.pretrained.VARIANTS`` — the very models the notebooks load — for their full step
count, with no wall-clock stop: a clock-driven stop would make the learning-rate schedule, and so
the figures, depend on the machine's load. The targets then check the training time against the
budget (60 s default, 120 s word order, on the reference machine) in calibration units
(``benchmarks/_calibration.py``). Digits: text→image mAP (relevant = same digit).
The figures are saved (``data/cache/bench/training.json``) for the Keras section's parity check.
"""
from __future__ import annotations

import time

from . import _calibration

#: (name, dataset, training arguments, time budget in s)
CONFIGS = (
    ("gru infonce (default)", "shapes", dict(variant="default"), 60),
    ("bow infonce", "shapes", dict(variant="default", rnn="bow"), 60),
    ("gru + scene twins (word_order)", "shapes", dict(variant="word_order"), 120),
    ("digits gru infonce (default)", "digits", dict(variant="default"), 60),
)
DEFAULT_ROW, WORD_ORDER_ROW = CONFIGS[0][0], CONFIGS[2][0]


def main(configs=CONFIGS) -> dict:
    import mmcourse.torch as mt
    import torch
    from mmcourse.torch.pretrained import default_model_params

    from ._retrieval import evaluate, load_test_sets, save_results, table_header, table_row

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    results, data = {}, {}
    try:
        print(f"PyTorch track (torch {torch.__version__}, device {mt.get_device()}), 2 threads; "
              f"default steps {mt.DEFAULT_STEPS}")
        head = table_header(36)
        print(head)
        print("-" * len(head))
        for name, dataset, kw, budget in configs:
            d, test, probe = load_test_sets(dataset, data)
            kw = dict(kw)
            params = default_model_params(dataset, kw.pop("variant"), **kw)["train"]
            t0, c0 = time.perf_counter(), time.process_time()
            model, hist = mt.train_dual_encoder(d, progress=False, **params)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            steps = hist["step"][-1]
            limit = "time" if steps < params.get("steps", mt.DEFAULT_STEPS) else "steps"
            r = evaluate(mt.embed_images, mt.embed_texts, model, test, probe)
            r.update(train_s=hist["seconds"][-1], total_s=wall, cpu_s=cpu, steps=steps, budget_s=budget)
            results[name] = r
            print(table_row(name, 36, r, limit), flush=True)
    finally:
        torch.set_num_threads(threads)
    calibration_s = _calibration.measure()
    print(_calibration.line(calibration_s))
    _print_targets(dict(results, calibration_s=calibration_s))
    save_results("training", results)
    return results


def _print_targets(results) -> None:
    from ._calibration import budget_check
    from ._retrieval import PROBE_BUDGET_S, PROBE_TARGET, TARGETS

    default = results.get(DEFAULT_ROW)
    if default:
        for key, target in TARGETS.items():
            ok = "PASS" if default[key] >= target else "FAIL"
            print(f"target default {key} >= {target}: {default[key]:.3f} {ok}")
        label, ok, shown = budget_check("default training", default["train_s"], default["budget_s"],
                                        results["calibration_s"])
        print(f"target {label}: {shown} {'PASS' if ok else 'FAIL'}")
    wo = results.get(WORD_ORDER_ROW)
    if wo:
        label, in_time, shown = budget_check("word_order training", wo["train_s"], PROBE_BUDGET_S,
                                             results["calibration_s"])
        ok = "PASS" if wo["probe"] >= PROBE_TARGET and in_time else "FAIL"
        print(f"target word_order probe >= {PROBE_TARGET}: {wo['probe']:.3f}; {label}: {shown} {ok}")


if __name__ == "__main__":
    main()
