"""Figure (d): shapes-dataset generation time at the default sizes, uncached, and cached load time.

    .venv/bin/python -m benchmarks bench_data      (or: python benchmarks/bench_data.py)

Uses a temporary cache folder so the numbers never depend on (or disturb) the real cache.
Also times ``relevance_matrix`` for the 5,000 test captions × 1,000 test images.
"""
from __future__ import annotations

import os
import tempfile
import time


def _timed(fn, repeats: int = 1):
    """Best wall-clock seconds over ``repeats`` runs, the CPU seconds of that run, and the result.
    CPU time is printed too: on a shared machine it is the steadier figure."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, used = time.perf_counter() - t0, time.process_time() - c0
        if wall < best:
            best, cpu = wall, used
    return best, cpu, out


def main() -> dict:
    import mmcourse
    from mmcourse.data.shapes import relevance_matrix

    old = os.environ.get("MMCOURSE_CACHE")
    with tempfile.TemporaryDirectory(prefix="mmcourse-bench-") as tmp:
        os.environ["MMCOURSE_CACHE"] = tmp
        try:
            t_gen, c_gen, ds = _timed(lambda: mmcourse.load_dataset("shapes", progress=False))
            t_load, c_load, _ = _timed(lambda: mmcourse.load_dataset("shapes", progress=False),
                                       repeats=3)
        finally:
            if old is None:
                os.environ.pop("MMCOURSE_CACHE", None)
            else:
                os.environ["MMCOURSE_CACHE"] = old
    test = ds.subset("test")
    t_rel, c_rel, rel = _timed(lambda: relevance_matrix(test.meanings, test.scenes), repeats=3)
    t_dig, c_dig, _ = _timed(lambda: mmcourse.load_dataset("digits"))
    sizes = ", ".join(f"{s}={int((ds.split == s).sum())}" for s in ("train", "val", "test"))
    print("(d) data — shapes scenes, default sizes "
          f"({sizes}; {ds.n_captions:,} captions, {ds.image_size[0]} px)")
    print(f"    generate (uncached): {t_gen:6.2f} s wall, {c_gen:6.2f} s CPU")
    print(f"    load (cached):       {t_load:6.2f} s wall, {c_load:6.2f} s CPU (best of 3)")
    print(f"    relevance_matrix {rel.shape[0]:,} x {rel.shape[1]:,}: {t_rel * 1e3:6.0f} ms wall, "
          f"{c_rel * 1e3:6.0f} ms CPU (best of 3)")
    print(f"    load digits (1,797 scans -> 32 px, first call imports scikit-learn): "
          f"{t_dig:6.2f} s wall, {c_dig:6.2f} s CPU")
    return {"generate_s": t_gen, "cached_load_s": t_load, "relevance_matrix_s": t_rel,
            "digits_s": t_dig}


if __name__ == "__main__":
    main()
