"""Video: clip generation, the three video towers trained side by side, text↔video retrieval and probes.

    .venv/bin/python -m benchmarks video

Moving-shapes clips (``load_dataset("moving_shapes")``: 4,000 / 250 / 500 clips of 8 frames at
32 px, 4 captions each). Each tower (meanP, temporal conv, 3-D CNN) is trained fresh with its
``VIDEO_PARAMS`` (not read from the cache), then saved to the cache for the notebook. Text→video
on the 500 test clips × 2,000 captions: relevant = every clip that satisfies the caption (exact;
hit rate@1/10, mAP; NDCG@10 graded); video→text R@10; the reversal and direction probes scored
with ``mmcourse.video.pairwise_accuracy`` (ties ½). Also the cold generation time and peak memory
of the clips (in a fresh subprocess, cache off). Targets: issue 16 ("Targets"); timings are wall
clock and depend on the machine's load.
"""
from __future__ import annotations

import subprocess
import sys
import time

from . import _calibration

TARGETS = {"hit@10": 0.95, "mAP": 0.65, "NDCG@10": 0.78, "reversal": 0.95, "direction": 0.90}
TRAIN_BUDGET_S, GENERATE_BUDGET_S, PEAK_MB = 90.0, 30.0, 2048

_COLD = """
import resource, time
from mmcourse.data.video import load_moving_shapes
t = time.perf_counter()
ds = load_moving_shapes(cache=False, progress=False)
print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def cold_generation() -> tuple[float, float]:
    """(seconds, peak resident MB) of generating the default clips without the cache."""
    out = subprocess.run([sys.executable, "-c", _COLD], capture_output=True, text=True, check=True)
    seconds, peak = out.stdout.split()[-2:]
    return float(seconds), float(peak)


def evaluate(model, test) -> dict:
    """Text→video and video→text retrieval and both probes of ``model`` on the test split."""
    import numpy as np

    from mmcourse import video
    from mmcourse.data.video import direction_probe, reversal_probe
    from mmcourse.metrics import evaluate_retrieval, recall_at_k
    from mmcourse.torch import embed

    clips = test.get("video")
    t = time.perf_counter()
    V = embed(model, "video", clips)
    embed_s = time.perf_counter() - t
    Vr = embed(model, "video", clips[:, ::-1])
    T = embed(model, "text", test.captions)
    R = test.relevance("text", "video")
    S = T @ V.T
    r = evaluate_retrieval(S, R, ks=(1, 10))
    rev, dirp = reversal_probe(test), direction_probe(test)
    c, k = rev["caption_index"], rev["clip_index"]
    P, N = embed(model, "text", dirp["positive"]), embed(model, "text", dirp["negative"])
    Vd = V[dirp["clip_index"]]
    return {"hit@1": r["R@1"], "hit@10": r["R@10"], "mAP": r["mAP"], "NDCG@10": r["NDCG@10"],
            "v2t R@10": float(recall_at_k(S.T, R.T > 0, 10)),
            "reversal": video.pairwise_accuracy((T[c] * V[k]).sum(1), (T[c] * Vr[k]).sum(1)),
            "direction": video.pairwise_accuracy((P * Vd).sum(1), (N * Vd).sum(1)),
            "embed_ms_per_clip": 1000 * embed_s / len(clips)}


def main() -> dict:
    import torch

    import mmcourse
    from mmcourse.torch import count_parameters
    from mmcourse.torch import video as TV

    threads = torch.get_num_threads()
    out, checks = {}, []
    try:
        out["generate_s"], out["peak_mb"] = cold_generation()
        t = time.perf_counter()
        ds = mmcourse.load_dataset("moving_shapes", progress=False)
        out["load_s"] = time.perf_counter() - t
        test = ds.subset("test")
        torch.set_num_threads(2)
        rows = {}
        for kind in TV.KINDS:
            model, hist = TV.train_video_model(ds, progress=False, **TV.VIDEO_PARAMS[kind])
            try:
                TV.save_video_model(model, TV.video_model_path(kind))
            except OSError as exc:  # a read-only cache only costs the notebook a retrain
                print(f"(video model {kind} not cached: {exc})")
            rows[kind] = dict(evaluate(model, test), train_s=hist["train_seconds"],
                              parameters=count_parameters(model.video_encoder))
        out["rows"] = rows
        print(f"clips: {ds.n_images} ({', '.join(f'{s}={int((ds.split == s).sum())}' for s in ('train', 'val', 'test'))}), "
              f"{ds.get('video').shape[1:]} each; torch {torch.__version__}, 2 threads; "
              f"params per kind {TV.VIDEO_PARAMS['meanp']}")
        print(f"cold generation {out['generate_s']:.1f} s, peak {out['peak_mb']:.0f} MB; "
              f"cached load {out['load_s']:.2f} s")
        cols = ["hit@1", "hit@10", "mAP", "NDCG@10", "v2t R@10", "reversal", "direction",
                "train_s", "embed_ms_per_clip", "parameters"]
        print(f"{'tower':<10}" + "".join(f"{c:>12}" for c in cols))
        for kind, row in rows.items():
            print(f"{kind:<10}" + "".join(f"{row[c]:>12,}" if c == "parameters" else f"{row[c]:>12.3f}"
                                          for c in cols))
        best = rows[TV.BEST_KIND]
        checks += [(f"{TV.BEST_KIND} {k} >= {v}", best[k] >= v, f"{best[k]:.3f}") for k, v in TARGETS.items()]
        checks.append(("meanp reversal probe == 0.5 exactly", rows["meanp"]["reversal"] == 0.5,
                       f"{rows['meanp']['reversal']!r}"))
        checks.append((f"{TV.BEST_KIND} is the best tower by mAP",
                       max(rows, key=lambda k: rows[k]["mAP"]) == TV.BEST_KIND,
                       max(rows, key=lambda k: rows[k]["mAP"])))
        calibration_s = _calibration.measure()
        print(_calibration.line(calibration_s))
        checks.append(_calibration.budget_check(f"{TV.BEST_KIND} training", best["train_s"], TRAIN_BUDGET_S,
                                                calibration_s))
        checks.append((f"cold generation <= {GENERATE_BUDGET_S:g} s",
                       out["generate_s"] <= GENERATE_BUDGET_S, f"{out['generate_s']:.1f} s"))
        checks.append((f"peak memory of generation <= {PEAK_MB} MB", out["peak_mb"] <= PEAK_MB,
                       f"{out['peak_mb']:.0f} MB"))
        print()
        for name, ok, value in checks:
            print(f"{'PASS' if ok else 'FAIL'}  {name}  ({value})")
    finally:
        torch.set_num_threads(threads)
    return out


if __name__ == "__main__":
    main()
