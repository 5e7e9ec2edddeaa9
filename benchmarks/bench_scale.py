"""Scale: index types at 1M items, memory extrapolation, Milvus Lite, sharding, distributed embedding.

    .venv/bin/python -m benchmarks scale          (not part of make test; about 10-15 minutes)

1. **1M synthetic embeddings** (d = 128, unit rows of low intrinsic dimension plus noise, like a
   trained encoder's; seeded) and 1,000 queries from the same distribution. Ground truth: exact
   flat search. Per index type — flat, HNSW, IVF-flat, IVF-PQ + re-ranking (floats on disk),
   binary (128-bit ITQ codes, Hamming; alone and re-ranked) — build time, RAM (measured by
   serialising the index, ``Index.memory()``; and the process's RSS growth), recall@10 against
   exact and QPS. nprobe is tuned on 200 queries for a recall target and measured on the other
   800. Memory is extrapolated to 100M and 1B items as fixed + N x measured bytes per vector.
   ``MMCOURSE_BENCH_SCALE_N`` sets another size (10M needs about 20 GB and far more than 15
   minutes on 2 cores; not run by default).
2. **Sharded flat search** at 1M over 1, 2 and 4 shards: ids identical to one flat index, memory and
   latency per shard.
3. **The course's embeddings** (the 22,000 shapes images, text->image queries from the test
   captions): IVF-PQ + re-ranking memory and recall; Milvus Lite top-10 vs the faiss flat store,
   filtered recall against an exact filtered reference, answers after reopening; 8 threads x 200
   queries against one store.
4. **Distributed embedding** with Dask: 200,000 generated images embedded by 2 worker processes
   and fed to a store; throughput with 1 worker measured on 40,000.

Timings are wall clock on this machine and vary with its load (OpenMP threads wait passively so
that a shared machine does not spin). Targets: issue 17.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")   # before faiss/torch load OpenMP

import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

N_ITEMS = int(os.environ.get("MMCOURSE_BENCH_SCALE_N", 1_000_000))
DIM, N_QUERIES, K = 128, 1_000, 10
N_GENERATED, N_GENERATED_ONE_WORKER, CHUNK = 200_000, 40_000, 5_000
TARGETS = {"compression": 16.0, "recall_rerank": 0.90, "milvus_agreement": 0.99, "filtered_recall": 0.99}


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def synthetic(n: int, n_queries: int, seed: int = 0):
    """Unit vectors (n, DIM) float32: 24 latent dimensions through a random basis, 60 clusters,
    plus isotropic noise; queries from the same distribution."""
    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(24, DIM)).astype(np.float32) / np.sqrt(24)
    centres = rng.normal(size=(60, 24)).astype(np.float32)

    def draw(m):
        out = np.empty((m, DIM), dtype=np.float32)
        for s in range(0, m, 200_000):
            e = min(m, s + 200_000)
            z = centres[rng.integers(0, 60, e - s)] + 0.8 * rng.normal(size=(e - s, 24)).astype(np.float32)
            x = z @ basis + 0.08 * rng.normal(size=(e - s, DIM)).astype(np.float32)
            out[s:e] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    return draw(n), draw(n_queries)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def measure(name, build, queries, exact, tune=None, extra=None):
    """Build, (tune), search: one row of the table."""
    from mmcourse.engine import recall_vs_exact

    before = rss_mb()
    index, build_s = timed(build)
    grown = rss_mb() - before
    note = ""
    if tune is not None:
        note = tune(index)
    held_q, held_exact = queries[200:], exact[200:]
    (_, ids), search_s = timed(lambda: index.search(held_q, K))
    mem = index.memory()
    row = {"name": name, "build_s": build_s, "rss_mb": grown, "per_vector": mem["per_vector"],
           "fixed": mem["fixed"], "disk": mem["refine_disk"], "recall": recall_vs_exact(ids, held_exact),
           "qps": len(held_q) / search_s, "note": note}
    if extra:
        row.update(extra(index))
    return index, row


def part_synthetic(workdir: str, checks: list) -> dict:
    from mmcourse.engine import build_sharded_index, smallest_nprobe
    from mmcourse.index import build_index

    print(f"\n--- {N_ITEMS:,} synthetic embeddings, d={DIM}, {N_QUERIES} queries "
          f"(recall and QPS on 800 held-out queries) ---", flush=True)
    (x, q), gen_s = timed(lambda: synthetic(N_ITEMS, N_QUERIES))
    before = rss_mb()
    flat, flat_build = timed(lambda: build_index(x, "cosine", "flat"))
    flat_rss = rss_mb() - before
    (_, exact), gt_s = timed(lambda: flat.search(q, K))                # the ground truth, timed
    mem = flat.memory()
    flat_row = {"name": "flat", "build_s": flat_build, "rss_mb": flat_rss, "per_vector": mem["per_vector"],
                "fixed": mem["fixed"], "disk": 0, "recall": 1.0, "qps": N_QUERIES / gt_s,
                "note": "exact (the ground truth)"}
    print(f"generated in {gen_s:.1f} s; exact ground truth for {N_QUERIES} queries in {gt_s:.1f} s", flush=True)
    rows = [flat_row]

    # sharded flat = one flat index (ids identical, 200 queries), memory and latency per shard
    shard_rows = []
    for n_shards in (1, 2, 4):
        sharded = build_sharded_index(x, n_shards, "cosine", "flat")
        (_, ids), wall = timed(lambda: sharded.search(q[:200], K))
        shard_rows.append((n_shards, bool(np.array_equal(ids, exact[:200])), max(sharded.memory()) / 2**20,
                           float(sharded.last_latency_s.max()), wall))
        del sharded
    del flat

    def tune_nprobe(target):
        def tune(index):
            p, r = smallest_nprobe(index, q[:200], exact[:200], target, K)
            return f"nprobe={p} (tuned: {r:.3f} on 200 queries)"
        return tune

    nlist = 1024
    train = min(N_ITEMS, 65_536)
    specs = [
        ("hnsw M16", lambda: build_index(x, "cosine", "hnsw", M=16, efConstruction=32, efSearch=64), None),
        ("ivf-flat", lambda: build_index(x, "cosine", "ivf", nlist=nlist, train_size=train), tune_nprobe(0.95)),
        ("ivfpq16+rerank", lambda: build_index(x, "cosine", "ivfpq", nlist=nlist, m=16, train_size=train,
                                               refine=10, refine_path=os.path.join(workdir, "floats.npy")),
         tune_nprobe(TARGETS["recall_rerank"] + 0.02)),
    ]
    for name, build, tune in specs:
        print(f"building {name} ...", flush=True)
        index, row = measure(name, build, q, exact, tune)
        rows.append(row)
        if name.startswith("ivfpq"):
            index.set_search_params(refine=1)                # the same index without re-ranking
            _, ids = index.search(q[200:], K)
            from mmcourse.engine import recall_vs_exact
            rows.append({**row, "name": "ivfpq16 (no rerank)", "recall": recall_vs_exact(ids, exact[200:]),
                         "disk": 0, "qps": float("nan"), "note": "same index, k_factor=1"})
        del index
    rows.append(binary_row(x, q, exact, workdir))

    print(f"\n{'index':>20s} {'build s':>8s} {'RSS +MB':>8s} {'B/vector':>9s} {'x smaller':>9s} "
          f"{'recall@10':>9s} {'QPS':>8s}  notes")
    for r in rows:
        print(f"{r['name']:>20s} {r['build_s']:8.1f} {r['rss_mb']:8.0f} {r['per_vector']:9.1f} "
              f"{flat_row['per_vector'] / r['per_vector']:9.1f} {r['recall']:9.3f} {r['qps']:8.0f}  {r['note']}")
    print(f"\nmemory extrapolated from the measured bytes per vector (fixed + N x per-vector), GB of RAM:")
    print(f"{'index':>20s} {'1M':>8s} {'100M':>8s} {'1B':>8s}   floats for re-ranking on disk at 1B")
    for r in rows:
        gb = [(r["fixed"] + n * r["per_vector"]) / 1e9 for n in (10**6, 10**8, 10**9)]
        disk = f"{r['disk'] / N_ITEMS * 1e9 / 1e9:.0f} GB" if r["disk"] else "-"
        print(f"{r['name']:>20s} {gb[0]:8.2f} {gb[1]:8.1f} {gb[2]:8.0f}   {disk}")
    print(f"\nsharded flat search over {N_ITEMS:,} items:")
    print(f"{'shards':>6s} {'ids = flat':>10s} {'MB per shard':>12s} {'slowest shard s':>15s} {'total s':>8s}"
          "   (200 queries)")
    for n_shards, same, mb, slowest, wall in shard_rows:
        print(f"{n_shards:6d} {str(same):>10s} {mb:12.0f} {slowest:15.2f} {wall:8.2f}")

    rr = next(r for r in rows if r["name"] == "ivfpq16+rerank")
    smaller = flat_row["per_vector"] / rr["per_vector"]
    checks.append((f"1M synthetic: IVF-PQ + re-rank >= {TARGETS['compression']:g}x less RAM than flat",
                   smaller >= TARGETS["compression"], f"{smaller:.1f}x"))
    checks.append((f"1M synthetic: IVF-PQ + re-rank recall@10 >= {TARGETS['recall_rerank']}",
                   rr["recall"] >= TARGETS["recall_rerank"], f"{rr['recall']:.3f}"))
    checks.append(("1M sharded flat search = one flat index (ids, every query)",
                   all(s[1] for s in shard_rows), str([s[1] for s in shard_rows])))
    return {"rows": rows, "shards": shard_rows}


def binary_row(x, q, exact, workdir):
    """128-bit ITQ codes (fitted on 50k items), exhaustive Hamming search; and re-ranked."""
    from mmcourse import _refine
    from mmcourse.engine import order_best_first, recall_vs_exact
    from mmcourse.hashing import ITQ, pack_bits
    from mmcourse.index import build_binary_index

    print("building binary (ITQ 128 bits) ...", flush=True)
    before = rss_mb()
    start = time.perf_counter()
    itq = ITQ(bits=128, seed=0).fit(x[np.random.default_rng(1).choice(len(x), 50_000, replace=False)])
    codes = np.concatenate([pack_bits(itq.encode(x[s:s + 200_000])) for s in range(0, len(x), 200_000)])
    index = build_binary_index(codes)
    build_s = time.perf_counter() - start
    grown = rss_mb() - before
    held = q[200:]
    qc = pack_bits(itq.encode(held))
    start = time.perf_counter()
    _, ids = index.search(qc, K)
    qps = len(held) / (time.perf_counter() - start)
    recall = recall_vs_exact(ids, exact[200:])
    floats = _refine.store_vectors(x, os.path.join(workdir, "binary_floats.npy"))
    _, short = index.search(qc, 20 * K)
    _, reranked = _refine.rerank(held, short, floats, "cosine", K, order_best_first)
    note = f"re-ranking 200 from disk: recall {recall_vs_exact(reranked, exact[200:]):.3f}"
    return {"name": "binary ITQ-128", "build_s": build_s, "rss_mb": grown, "per_vector": codes.shape[1] + 0.0,
            "fixed": 0, "disk": 0, "recall": recall,
            "qps": qps, "note": note}


def part_course(workdir: str, checks: list) -> None:
    import mmcourse
    from mmcourse.engine import exact_filtered_search, open_store, recall_vs_exact
    from mmcourse.index import build_index
    from mmcourse.tracks import load_track

    print("\n--- the course's embeddings: 22,000 shapes images, text->image queries ---", flush=True)
    track = load_track("torch")
    model = track.load_default_model(progress=False)
    ds = mmcourse.load_dataset("shapes")
    items = track.embed_images(model, ds.images)
    test = ds.subset("test")
    first = np.array([c[0] for c in test.image_captions()])
    q = track.embed_texts(model, [test.captions[j] for j in first])
    flat = build_index(items, "cosine", "flat")
    _, exact = flat.search(q, K)
    ivfpq = build_index(items, "cosine", "ivfpq", nlist=128, nprobe=16, m=16, refine=10,
                        refine_path=os.path.join(workdir, "course_floats.npy"))
    _, ids = ivfpq.search(q, K)
    recall = recall_vs_exact(ids, exact)
    smaller = flat.memory()["per_vector"] / ivfpq.memory()["per_vector"]
    print(f"IVF-PQ (m=16, nlist=128, nprobe=16) + re-rank x10: {ivfpq.memory()['per_vector']:.1f} B/vector "
          f"({smaller:.1f}x less than flat), recall@10 {recall:.3f}")
    checks.append((f"course embeddings: IVF-PQ + re-rank >= {TARGETS['compression']:g}x less RAM",
                   smaller >= TARGETS["compression"], f"{smaller:.1f}x"))
    checks.append((f"course embeddings: IVF-PQ + re-rank recall@10 >= {TARGETS['recall_rerank']}",
                   recall >= TARGETS["recall_rerank"], f"{recall:.3f}"))

    fields = {"split": ds.split, "n_objects": np.array([len(s) for s in ds.scenes]),
              **{n.replace(" ", "_"): ds.labels[:, j].astype(bool) for j, n in enumerate(ds.label_names)
                 if n.startswith("red ")}}
    uri = os.path.join(workdir, "course.db")
    (milvus, faiss_store), load_s = timed(lambda: (open_store("milvus", uri=uri, dim=items.shape[1]),
                                                    open_store("faiss", uri=os.path.join(workdir, "fs"),
                                                               dim=items.shape[1])))
    _, add_s = timed(lambda: (milvus.add(items, fields=fields), faiss_store.add(items, fields=fields)))
    (m_s, m_i), m_time = timed(lambda: milvus.search(q, K))
    f_s, f_i = faiss_store.search(q, K)
    agree = float(np.mean([np.array_equal(a, b) for a, b in zip(m_i, f_i)]))
    print(f"Milvus Lite: {milvus.count:,} rows stored in {add_s:.1f} s (both stores); {len(q)} queries in "
          f"{m_time:.2f} s; top-10 = faiss flat store on {agree:.1%} of queries")
    checks.append((f"Milvus Lite top-10 = faiss flat top-10 on >= {TARGETS['milvus_agreement']:.0%} of queries",
                   agree >= TARGETS["milvus_agreement"], f"{agree:.3f}"))
    expr = "red_circle and n_objects <= 2"
    allowed = fields["red_circle"] & (fields["n_objects"] <= 2)
    _, want = exact_filtered_search(q @ items.T, allowed, K)
    (_, pre), pre_s = timed(lambda: milvus.search(q, K, filter=expr))
    only = bool(allowed[pre[pre >= 0]].all())
    frec = recall_vs_exact(pre, want)
    print(f"filter {expr!r} ({allowed.sum()} of {len(allowed)} match): Milvus recall@10 {frec:.3f} vs exact "
          f"filtered, {pre_s:.2f} s; only matching rows: {only}")
    checks.append((f"filtered search: only matching rows, recall@10 >= {TARGETS['filtered_recall']}",
                   only and frec >= TARGETS["filtered_recall"], f"{frec:.3f}, only matching {only}"))
    before = milvus.search(q[:200], K, filter=expr)
    milvus.close()
    milvus = open_store("milvus", uri=uri)
    after = milvus.search(q[:200], K, filter=expr)
    same = bool(np.array_equal(before[1], after[1]) and np.allclose(before[0], after[0], atol=1e-6))
    checks.append(("Milvus Lite answers identical after reopening", same, str(same)))
    milvus.close()

    queries = q[:200]
    serial = [faiss_store.search(queries[i:i + 1], K, filter=expr if i % 2 else None) for i in range(200)]
    with ThreadPoolExecutor(8) as pool:
        par, par_s = timed(lambda: list(pool.map(
            lambda i: faiss_store.search(queries[i % 200:i % 200 + 1], K, filter=expr if i % 2 else None),
            range(1600))))
    ok = all(np.array_equal(p[1], serial[j % 200][1]) for j, p in enumerate(par))
    print(f"8 threads x 200 queries on the faiss store: {par_s:.2f} s, answers = serial: {ok}")
    checks.append(("8 threads x 200 queries = serial answers (faiss store)", ok, str(ok)))
    faiss_store.close()


def part_distributed(workdir: str, checks: list) -> None:
    from mmcourse.engine import dask_client, map_chunks, open_store
    from mmcourse.scaling import chunk_specs, embed_generated_chunk, warm_up

    print("\n--- distributed embedding with Dask (LocalCluster, worker processes of 1 thread) ---", flush=True)
    rates = {}
    for workers, n in ((1, N_GENERATED_ONE_WORKER), (2, N_GENERATED)):
        store = open_store("faiss", uri=os.path.join(workdir, f"generated{workers}"), dim=DIM)
        start = time.perf_counter()
        with dask_client(n_workers=workers) as client:
            up = time.perf_counter()
            client.run(warm_up, "torch")
            warm = time.perf_counter()
            map_chunks(embed_generated_chunk, chunk_specs(n, CHUNK), client=client, keep=False,
                       progress=sys.stderr.isatty(),
                       on_result=lambda i, r: store.add(r[1], ids=r[0]), desc=f"{workers} worker(s)")
            done = time.perf_counter()
        rates[workers] = n / (done - warm)
        print(f"{workers} worker(s): {n:,} images embedded and indexed in {done - warm:.1f} s "
              f"({rates[workers]:.0f} images/s; cluster start {up - start:.1f} s, model load {warm - up:.1f} s); "
              f"store count {store.count:,}", flush=True)
        checks.append((f"{workers} worker(s): every generated image indexed", store.count == n, f"{store.count:,}"))
        store.close()
    print(f"speed-up of 2 workers over 1: {rates[2] / rates[1]:.2f}x (2 cores, shared with the scheduler "
          f"and this process; measured, not a target)")


def main() -> dict:
    checks: list = []
    workdir = tempfile.mkdtemp(prefix="bench-scale-")
    start = time.perf_counter()
    try:
        out = part_synthetic(workdir, checks)
        part_course(workdir, checks)
        part_distributed(workdir, checks)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.perf_counter() - start
    checks.append(("scale section finishes in <= 15 minutes", total <= 900, f"{total / 60:.1f} min"))
    print()
    for name, ok, value in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}  ({value})")
    return out


if __name__ == "__main__":
    main()
