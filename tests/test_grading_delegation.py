"""Delegation scores 0: an answer that hands an exercise to the package's own twin fails the check.

For EVERY registered twin of EVERY exercise, three delegating answers (the twin under an alias
imported into the learner's namespace, reached as a module attribute, and a ``try/except
Exception`` that tries to swallow the refusal) make ``mmcourse.check`` return False, without
raising, with a message naming the twin. Twins of the framework tracks run in a subprocess of
their own (one framework per process). Own implementations, written with numpy primitives, keep
passing (``test_checks_nb*.py``), and the package is left exactly as it was.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import mmcourse
from mmcourse.grading.check import check, known_ids, twins_of
from test_notebooks import warm_models  # noqa: F401  (a fixture: the cached models, trained once)

TWINS = [(gid, twin) for gid in known_ids() for twin in twins_of(gid)]


def _framework(twin: str) -> str:
    module = twin.split(":")[0]
    return "torch" if module.startswith("mmcourse.torch") else \
        "keras" if module.startswith("mmcourse.keras") else ""


_PROBE = textwrap.dedent('''
    import importlib, io, json, sys, contextlib
    from mmcourse.grading.check import check

    def delegates(twin):
        module, qual = twin.split(":")
        head, *rest = qual.split(".")
        access = ".".join(["_mod", head, *rest])
        tail = "".join("." + r for r in rest)
        srcs = {
            "alias": f"def answer(*a, **k):\\n    return _alias{tail}(*a, **k)",
            "module attribute": f"def answer(*a, **k):\\n    return {access}(*a, **k)",
            "swallowed": f"def answer(*a, **k):\\n    try:\\n        return {access}(*a, **k)\\n"
                         f"    except Exception:\\n        return None",
        }
        mod = importlib.import_module(module)
        for kind, src in srcs.items():
            ns = {"_mod": mod, "_alias": getattr(mod, head), "__name__": "learner"}
            exec(src, ns)
            yield kind, ns["answer"]

    results = []
    for gid, twin in json.loads(sys.argv[1]):
        for kind, fn in delegates(twin):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                try:
                    ok = check(gid, fn)
                except BaseException as exc:  # must never happen
                    ok = f"raised {type(exc).__name__}: {exc}"
            results.append([gid, twin, kind, ok, buf.getvalue()])
    print("RESULTS" + json.dumps(results))
''')


def _probe(pairs, framework=""):
    prelude = {"torch": "import torch\n", "keras": "import mmcourse.keras\n", "": ""}[framework]
    proc = subprocess.run([sys.executable, "-c", prelude + _PROBE, json.dumps(pairs)],
                          capture_output=True, text=True, timeout=900)
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULTS")]
    assert line, proc.stderr[-3000:]
    return json.loads(line[-1][len("RESULTS"):])


def _assert_all_refused(results):
    bad = [(gid, twin, kind, ok, out) for gid, twin, kind, ok, out in results
           if ok is not False or "mmcourse's own" not in out
           or twin.split(":")[1].split(".")[-1] not in out.replace("__init__", "")
           and twin.split(":")[1].split(".")[0] not in out]
    assert not bad, "\n".join(map(str, bad))


def test_every_exercise_with_a_twin_is_listed():
    assert len(TWINS) >= 40
    for gid in ("nb04-top-k", "nb05-itq-step", "nb05-pack", "nb05-hamming", "nb06-recall-at-k",
                "nb06-average-precision", "nb06-bootstrap", "nb03-info-nce", "nb03k-info-nce",
                "nb02-pad", "nb00-satisfies", "nb10-search"):
        assert twins_of(gid), gid


@pytest.mark.parametrize("gid,twin", [p for p in TWINS if not _framework(p[1])])
def test_delegating_answer_fails_the_check(gid, twin):
    _assert_all_refused(_probe_inline([(gid, twin)]))


def _probe_inline(pairs):
    ns: dict = {}
    exec(compile(_PROBE.split("results = []")[0], "<probe>", "exec"), ns)
    import contextlib
    import io
    out = []
    for gid, twin in pairs:
        for kind, fn in ns["delegates"](twin):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                ok = check(gid, fn)
            out.append([gid, twin, kind, ok, buf.getvalue()])
    return out


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_delegating_answer_fails_the_check_framework_tracks(framework):
    pytest.importorskip("torch" if framework == "torch" else "tensorflow")
    pairs = [p for p in TWINS if _framework(p[1]) == framework]
    _assert_all_refused(_probe(pairs, framework))


def test_the_package_is_restored_after_a_refused_check():
    from mmcourse import hashing, metrics, similarity
    before = (similarity.top_k, metrics.average_precision, metrics.mean_average_precision,
              hashing.RandomHyperplaneLSH.__dict__["encode"], mmcourse.similarity.cosine_similarity)
    assert check("nb04-top-k", lambda s, k: similarity.top_k(s, k)) is False
    assert check("nb06-average-precision",
                 lambda s, r: metrics.mean_average_precision(s, r, per_query=True)) is False
    assert check("nb05-lsh", lambda X, P: hashing.RandomHyperplaneLSH(4).fit(X).encode(X)) is False
    after = (similarity.top_k, metrics.average_precision, metrics.mean_average_precision,
             hashing.RandomHyperplaneLSH.__dict__["encode"], mmcourse.similarity.cosine_similarity)
    assert all(a is b for a, b in zip(before, after))
    assert not getattr(similarity.top_k, "__mmcourse_sentinel__", False)


def test_the_answer_being_the_twin_itself_is_refused(capsys):
    import functools
    import types

    from mmcourse.similarity import top_k
    copy = types.FunctionType(top_k.__code__, top_k.__globals__, "mine", top_k.__defaults__)
    for answer in (top_k, functools.partial(top_k), copy):
        assert check("nb04-top-k", answer) is False
        assert "mmcourse's own top_k" in capsys.readouterr().out


def test_own_answer_using_a_twin_of_another_exercise_passes(capsys):
    from mmcourse.similarity import cosine_similarity

    def top_k_search(scores, k):  # uses numpy primitives only; cosine is another exercise
        assert cosine_similarity is not None
        s = np.asarray(scores)
        idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
        return idx, np.take_along_axis(s, idx, axis=1)

    assert check("nb04-top-k", top_k_search), capsys.readouterr().out


def test_checkers_and_package_internals_still_use_the_reference():
    """The checker of nb06-average-precision calls the package's average_precision itself while
    it is swapped: that call is not the learner's, so it reaches the original."""
    from solution_answers import answer
    ap = answer("06_evaluation", "nb06-average-precision", "average_precision_per_query")
    assert check("nb06-average-precision", ap)


#: notebook 04's answer cells, answered by handing each exercise to the package's own twin
_DELEGATING_04 = {
    "nb04-cosine": "import mmcourse.similarity\n\ndef cosine_sim(a, b):\n"
                   "    return mmcourse.similarity.cosine_similarity(a, b)",
    "nb04-euclidean": "from mmcourse.similarity import euclidean_distance as _d\n\n"
                      "def euclidean_batched(a, b):\n    return _d(a, b)",
    "nb04-top-k": "from mmcourse import similarity\n\ndef top_k_search(scores, k):\n"
                  "    try:\n        return similarity.top_k(scores, k)\n"
                  "    except Exception:\n        return None",
}


@pytest.mark.slow
@pytest.mark.xdist_group("nb-04_similarity_and_search")
def test_mmcourse_grade_gives_a_delegating_submission_zero(tmp_path, warm_models):
    """End to end: `mmcourse grade` of notebook 04 with three exercises delegated to their twins
    scores 0 on exactly those test cells, with the reason in the feedback, and no grader error."""
    import nbformat

    from mmcourse.grading.grade import grade_one
    from test_notebooks import CELL_TIMEOUT, NOTEBOOK_TIMEOUT, ROOT

    nb = nbformat.read(ROOT / "notebooks" / "04_similarity_and_search.ipynb", as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in _DELEGATING_04:
            cell.source = _DELEGATING_04[gid]
    path = tmp_path / "04_similarity_and_search.ipynb"
    nbformat.write(nb, path)
    row = grade_one("delegator", path, ROOT / "solutions", timeout=CELL_TIMEOUT,
                    notebook_timeout=NOTEBOOK_TIMEOUT, memory_mb=8192)
    assert row.status == "ok", row.status
    scores = {s["grade_id"]: s for s in row.scores}
    for gid in _DELEGATING_04:
        cell = scores[f"{gid}-test"]
        assert cell["points"] == 0 and cell["max_points"] > 0, cell
    assert row.total == 0, [s for s in row.scores if s["points"] > 0]
