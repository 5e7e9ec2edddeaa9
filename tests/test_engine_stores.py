"""mmcourse.engine.open_store: both back-ends against numpy brute force, filters, persistence,
delete / upsert, stable ids, bad input, concurrency, and Milvus Lite against the faiss store.

The faiss back-end runs everywhere; Milvus Lite tests are marked slow (an embedded server per
database, pure Python search)."""
from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from mmcourse.engine import exact_filtered_search, open_store
from mmcourse.similarity import top_k

BACKENDS = [pytest.param("faiss", id="faiss"), pytest.param("milvus", id="milvus", marks=pytest.mark.slow)]


def _uri(backend, tmp_path, name="db"):
    return str(tmp_path / (f"{name}.db" if backend == "milvus" else name))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 16)).astype(np.float32)
    q = rng.normal(size=(25, 16)).astype(np.float32)
    fields = {"n_objects": rng.integers(1, 4, 600), "split": np.where(rng.random(600) < 0.5, "train", "test"),
              "red": rng.random(600) < 0.3, "x": rng.random(600)}
    return x, q, fields


def _unit(a):
    return a / np.linalg.norm(a, axis=1, keepdims=True)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_search_matches_brute_force(backend, metric, data, tmp_path):
    x, q, fields = data
    store = open_store(backend, uri=_uri(backend, tmp_path), dim=16, metric=metric)
    ids = store.add(x, fields=fields)
    assert ids.dtype == np.int64 and ids.tolist() == list(range(600)) and store.count == 600
    scores, got = store.search(q, k=10)
    ref = {"cosine": _unit(q) @ _unit(x).T, "ip": q @ x.T,
           "l2": -np.linalg.norm(q[:, None] - x[None], axis=-1)}[metric]
    want, want_s = top_k(ref, 10)
    assert got.shape == scores.shape == (25, 10) and got.dtype == np.int64 and scores.dtype == np.float32
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(scores, want_s, rtol=1e-4, atol=1e-4)     # higher is better everywhere
    store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_filtered_search_is_exact_among_matching_rows(backend, data, tmp_path):
    x, q, fields = data
    store = open_store(backend, uri=_uri(backend, tmp_path), dim=16)
    store.add(x, fields=fields)
    for expr, mask in [("n_objects <= 2 and red", (fields["n_objects"] <= 2) & fields["red"]),
                       ("split == 'test' or x > 0.9", (fields["split"] == "test") | (fields["x"] > 0.9)),
                       ("n_objects in [3] and not red", (fields["n_objects"] == 3) & ~fields["red"]),
                       ("id < 5", np.arange(600) < 5)]:
        scores, got = store.search(q, k=10, filter=expr)
        assert mask[got[got >= 0]].all(), expr                        # only matching rows
        _, want = exact_filtered_search(_unit(q) @ _unit(x).T, mask, 10)
        np.testing.assert_array_equal(got, want, err_msg=expr)
    _, none = store.search(q, k=3, filter="n_objects > 5")
    assert (none == -1).all()
    store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_reopen_gives_the_same_answers_and_ids(backend, data, tmp_path):
    x, q, fields = data
    uri = _uri(backend, tmp_path)
    store = open_store(backend, uri=uri, dim=16)
    store.add(x[:300], ids=np.arange(1000, 1300), fields={k: v[:300] for k, v in fields.items()})
    store.add(x[300:], fields={k: v[300:] for k, v in fields.items()})  # numbered after the largest id
    store.delete([1000, 1001])
    before = store.search(q, 10, filter="split == 'train'")
    store.close()
    again = open_store(backend, uri=uri)                              # no dim: reopen
    assert (again.dim, again.metric, again.count) == (16, "cosine", 598)
    assert again.fields == {"id": "int", "n_objects": "int", "split": "str", "red": "bool", "x": "float"}
    after = again.search(q, 10, filter="split == 'train'")
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_allclose(before[0], after[0], atol=1e-6)
    assert set(again.search(x[300:302], 1)[1][:, 0].tolist()) == {1300, 1301}
    again.close()


def test_faiss_store_survives_without_close(data, tmp_path):
    """Every write is durable when it returns (segment files); close() only compacts."""
    x, q, fields = data
    uri = str(tmp_path / "s")
    code = ("import numpy as np, sys; from mmcourse.engine import open_store; "
            "s = open_store('faiss', uri=sys.argv[1], dim=16); "
            "s.add(np.load(sys.argv[2])); s.delete([3]); s.upsert(-np.load(sys.argv[2])[:1], ids=[0])")
    np.save(tmp_path / "x.npy", x)
    subprocess.run([sys.executable, "-c", code, uri, str(tmp_path / "x.npy")], check=True, timeout=120)
    store = open_store("faiss", uri=uri)
    assert store.count == 599
    assert store.search(-x[:1], 1)[1][0, 0] == 0 and 3 not in store.search(x[3:4], 5)[1]
    store.close()
    assert store.closed and len(list((tmp_path / "s" / "items").glob("snapshot-*.npz"))) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_delete_and_upsert(backend, data, tmp_path):
    x, q, fields = data
    store = open_store(backend, uri=_uri(backend, tmp_path), dim=16)
    store.add(x[:100], fields={k: v[:100] for k, v in fields.items()})
    assert store.delete([5, 6, 5000]) == 2 and store.count == 98
    assert not np.isin(store.search(x[5:7], 10)[1], [5, 6]).any()
    assert store.delete([]) == 0
    one = {k: v[:1] for k, v in fields.items()}
    store.upsert(-x[10:11], ids=[7], fields=one)                      # replace row 7
    assert store.count == 98 and store.search(-x[10:11], 1)[1][0, 0] == 7
    store.upsert(x[5:6], ids=[5], fields=one)                         # insert a deleted id again
    assert store.count == 99 and store.search(x[5:6], 1)[1][0, 0] == 5
    with pytest.raises(ValueError, match="ids: expected ids not yet stored"):
        store.add(x[:1], ids=[7], fields=one)
    store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_input_gets_clear_errors(backend, data, tmp_path):
    x, q, fields = data
    uri = _uri(backend, tmp_path)
    store = open_store(backend, uri=uri, dim=16)
    store.add(x[:50], fields={k: v[:50] for k, v in fields.items()})
    cases = [
        (lambda: store.search(q[:, :8], 5), "queries: expected 16 columns"),
        (lambda: store.add(x[:2, :8], fields={k: v[:2] for k, v in fields.items()}), "vectors: expected 16"),
        (lambda: store.search(q, 5, filter="n_objects <="), "filter"),
        (lambda: store.search(q, 5, filter="no_such_field == 1"), "filter"),
        (lambda: store.search(q, 0), "k"),
        (lambda: store.add(x[:2], fields={"n_objects": [1, 2]}), "fields"),
        (lambda: store.add(x[:2], fields={k: v[:3] for k, v in fields.items()}), "fields"),
        (lambda: store.add(x[:2], ids=[1, 1], fields={k: v[:2] for k, v in fields.items()}), "ids: expected unique"),
        (lambda: store.add(x[:2], ids=[-1, 2], fields={k: v[:2] for k, v in fields.items()}), "ids: expected non-negative"),
        (lambda: store.upsert(x[:1], ids=None, fields={k: v[:1] for k, v in fields.items()}), "ids"),
        (lambda: store.search(np.full((1, 16), np.nan), 3), "queries"),
        (lambda: open_store(backend, uri=uri, collection="unknown"), "collection: expected an existing collection"),
        (lambda: open_store(backend, uri=uri, dim=8), "dim: expected 16"),
        (lambda: open_store(backend, uri=uri, metric="l2"), "metric"),
        (lambda: open_store("chroma", uri=uri, dim=16), "backend"),
        (lambda: open_store(backend, uri=None, dim=16), "uri"),
        (lambda: open_store(backend, uri=uri, dim=16, collection="bad name"), "collection"),
    ]
    for call, match in cases:
        with pytest.raises(ValueError, match=match):
            call()
    store.close()
    with pytest.raises(ValueError, match="store: expected an open store"):
        store.search(q, 3)


def test_new_fields_need_names_and_kinds(tmp_path):
    store = open_store("faiss", uri=str(tmp_path / "f"), dim=2)
    for fields, match in [({"id": [1]}, "fields"), ({"and": [1]}, "fields"), ({"a b": [1]}, "fields"),
                          ({"c": [None]}, "fields"), ({"c": [1.0 + 2j]}, "fields"), ({"c": [float("nan")]}, "finite")]:
        with pytest.raises(ValueError, match=match):
            store.add(np.ones((1, 2)), fields=fields)
    with pytest.raises(ValueError, match="uri: expected a Milvus Lite file name ending in '.db'"):
        open_store("milvus", uri=str(tmp_path / "x.txt"), dim=2)
    store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_eight_threads_get_the_serial_answers(backend, data, tmp_path):
    x, _, fields = data
    store = open_store(backend, uri=_uri(backend, tmp_path), dim=16)
    store.add(x, fields=fields)
    queries = np.random.default_rng(5).normal(size=(200, 16)).astype(np.float32)
    filters = [None, "red", "n_objects >= 2 and split == 'test'"]

    def one(i):
        return store.search(queries[i % 200:i % 200 + 1], 10, filter=filters[i % 3])

    serial = [one(i) for i in range(200)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        parallel = list(pool.map(one, [i for _ in range(8) for i in range(200)]))
    for j, (s, i) in enumerate(parallel):
        np.testing.assert_array_equal(i, serial[j % 200][1])
        np.testing.assert_array_equal(s, serial[j % 200][0])
    store.close()


def test_faiss_store_reads_while_another_thread_writes(data, tmp_path):
    x, q, fields = data
    store = open_store("faiss", uri=str(tmp_path / "rw"), dim=16)
    store.add(x[:300], fields={k: v[:300] for k, v in fields.items()})
    want = store.search(q, 5, filter="id < 300")

    def reader(_):
        return store.search(q, 5, filter="id < 300")

    def writer():
        for start in range(300, 600, 50):
            store.add(x[start:start + 50], fields={k: v[start:start + 50] for k, v in fields.items()})

    with ThreadPoolExecutor(max_workers=4) as pool:
        w = pool.submit(writer)
        results = list(pool.map(reader, range(60)))
        w.result()
    for s, i in results:
        np.testing.assert_array_equal(i, want[1])
    assert store.count == 600
    store.close()


@pytest.mark.slow
def test_milvus_lite_agrees_with_the_faiss_store(tmp_path):
    """The target: Milvus Lite cosine top-10 = faiss flat top-10 on >= 99 % of queries (ties aside),
    filtered too, on 3,000 embedding-like vectors."""
    rng = np.random.default_rng(9)
    basis = rng.normal(size=(12, 64))
    x = (rng.normal(size=(3_000, 12)) @ basis + 0.3 * rng.normal(size=(3_000, 64))).astype(np.float32)
    q = (rng.normal(size=(200, 12)) @ basis).astype(np.float32)
    fields = {"group": rng.integers(0, 10, 3_000)}
    stores = [open_store(b, uri=_uri(b, tmp_path, "agree"), dim=64) for b in ("faiss", "milvus")]
    for s in stores:
        s.add(x, fields=fields)
    for expr in (None, "group in [1, 2]"):
        (fs, fi), (ms, mi) = (s.search(q, 10, filter=expr) for s in stores)
        same = np.mean([np.array_equal(a, b) for a, b in zip(fi, mi)])
        assert same >= 0.99, (expr, same)
        np.testing.assert_allclose(fs, ms, atol=1e-5)
    for s in stores:
        s.close()


def test_importing_the_engine_loads_no_heavy_library():
    code = ("import sys, mmcourse, mmcourse.engine, mmcourse.quantization, mmcourse.scaling; "
            "heavy = [m for m in ('faiss', 'pymilvus', 'dask', 'distributed', 'torch', 'tensorflow') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"
