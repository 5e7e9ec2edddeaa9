"""One wrong answer costs only its own points (``mmcourse.grading.isolation``).

The static check runs over every solution notebook here; the dynamic one (every test cell run with
every other exercise before it broken) runs on hand-made notebooks here and on every solution
notebook in ``tests/test_notebooks.py``, whose single execution of each solution uses it.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat
import pytest

from mmcourse.grading.isolation import breaking_hook, cell_names, exercises, foreign_reads
from mmcourse.grading.kernel import run_notebook
from mmcourse.grading.release import release_notebook
from mmcourse.grading.scoring import PASSED, score_notebook

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def _meta(gid, solution, grade):
    return {"nbgrader": {"schema_version": 3, "grade_id": gid, "solution": solution, "grade": grade,
                         "locked": not solution, "points": 1 if grade else 0, "task": False}}


def _notebook(cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src, metadata=_meta(*m) if m else {}) for src, m in cells]
    return nb


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_test_cells_read_only_their_own_exercise(path):
    nb = nbformat.read(path, as_version=4)
    assert exercises(nb), f"{path.name} has no exercises"
    assert foreign_reads(nb) == {}


def test_cell_names_follow_execution_order_and_scopes():
    src = ("import numpy as np\n_x = np.ones(3)\nfor _i in range(2):\n    _r = f(_i)\n    g(_r)\n"
           "with open(p) as fh:\n    _t = fh.read()\ny = y + 1\n"
           "def h(a):\n    local = a + outer\n    return local\n"
           "[k * scale for k in range(3)]\n%matplotlib inline\n")
    bound, reads = cell_names(src)
    assert {"np", "_x", "_i", "_r", "fh", "_t", "y", "h"} <= bound
    assert reads == {"f", "g", "p", "y", "outer", "scale"}  # never _r, a, local, k, range
    assert cell_names("def broken(:\n") == (set(), set())


def test_static_check_finds_a_test_cell_that_borrows_another_exercises_data():
    nb = _notebook([("import numpy as np", None),
                    ("def f(x):\n    return x", ("nb99-f", True, False)),
                    ("assert f(1) == 1\n_a = np.ones(3)", ("nb99-f-test", False, True)),
                    ("def g(x):\n    return 2 * x", ("nb99-g", True, False)),
                    ("assert (g(_a) == 2).all() and f(0) == 0", ("nb99-g-test", False, True))])
    assert foreign_reads(nb) == {"nb99-g-test": {"_a": ["nb99-f"], "f": ["nb99-f"]}}


def test_static_check_follows_values_through_ordinary_cells():
    nb = _notebook([("def f(x):\n    return x + 1", ("nb99-f", True, False)),
                    ("assert f(1) == 2", ("nb99-f-test", False, True)),
                    ("z = f(41)\nw = 3", None),                      # z depends on f, w does not
                    ("def g(x):\n    return x", ("nb99-g", True, False)),
                    ("assert g(w) == 3", ("nb99-g-test", False, True)),
                    ("assert g(z) == 42", ("nb99-g-2-test", False, True)),
                    ("z = 42", None),                                 # a fresh value: no longer f's
                    ("assert g(z) == 42", ("nb99-g-3-test", False, True))])
    assert foreign_reads(nb) == {"nb99-g-2-test": {"z": ["nb99-f"]}}


def test_an_answer_may_use_anything_and_its_test_depends_on_itself_only():
    nb = _notebook([("def f(x):\n    return x", ("nb99-f", True, False)),
                    ("assert f(1) == 1", ("nb99-f-test", False, True)),
                    ("def g(x):\n    return f(x) * 2", ("nb99-g", True, False)),  # the learner's choice
                    ("assert g(1) == 2", ("nb99-g-test", False, True))])
    assert foreign_reads(nb) == {}


def _run_breaking(nb):
    hook, broken_for = breaking_hook(nb, release_notebook(nb))
    with tempfile.TemporaryDirectory() as tmp:
        result = run_notebook(nb, tmp, cell_timeout=60, before_cell=hook, memory_mb=None)
    outcome = {s.grade_id: s.outcome for s in score_notebook(result.nb, result.outcomes)}
    failed = [i for i, o in enumerate(result.outcomes) if o is not None and not o.ok]
    return outcome, broken_for, failed


SOL = "    ### BEGIN SOLUTION\n    return {}\n    ### END SOLUTION"


@pytest.mark.slow
def test_each_test_cell_runs_with_the_other_exercises_broken():
    nb = _notebook([("import numpy as np", None),
                    ("def f(x):\n" + SOL.format("x + 1"), ("nb99-f", True, False)),
                    ("assert f(1) == 2\n_a = np.ones(2)", ("nb99-f-test", False, True)),
                    ("z = f(41)", None),                                              # intact f here
                    ("def g(x):\n" + SOL.format("2 * x"), ("nb99-g", True, False)),
                    ("assert g(2) == 4", ("nb99-g-test", False, True)),              # its own only
                    ("assert g(_a).sum() == 4", ("nb99-g-borrow-test", False, True)),  # f's test data
                    ("assert g(z) == 84", ("nb99-g-flow-test", False, True)),        # f via z: static
                    ("w = g(f(1))", None),                                            # intact again
                    ("def h(x):\n" + SOL.format("f(x)"), ("nb99-h", True, False)),
                    ("assert h(0) == 1", ("nb99-h-test", False, True))])             # f inside h
    outcome, broken_for, failed = _run_breaking(nb)
    assert outcome == {"nb99-f-test": PASSED, "nb99-g-test": PASSED, "nb99-g-borrow-test": "failed",
                       "nb99-g-flow-test": PASSED, "nb99-h-test": "failed"}
    assert failed == [6, 10]                      # ordinary cells always see the intact answers
    assert broken_for[2] == [] and broken_for[5] == ["nb99-f"] and broken_for[10] == ["nb99-f", "nb99-g"]
    assert foreign_reads(nb) == {"nb99-g-borrow-test": {"_a": ["nb99-f"]},
                                 "nb99-g-flow-test": {"z": ["nb99-f"]}}


@pytest.mark.slow
def test_breaking_restores_names_an_answer_rebinds_and_brings_the_answers_back():
    nb = _notebook([("scores = [1, 2]\nlimit = 5", None),
                    ("limit = 10\ndef f():\n" + SOL.format("limit"), ("nb99-f", True, False)),
                    ("assert f() == 10\nscores = None", ("nb99-f-test", False, True)),
                    ("def g(s):\n" + SOL.format("sum(s)"), ("nb99-g", True, False)),
                    ("assert g(scores) == 3 and limit == 10", ("nb99-g-test", False, True)),
                    ("assert f() == 10 and scores is None", None)])
    # the student's f-cell still sets limit = 10 (outside the solution region); scores is restored
    # for g's test, and everything is intact again afterwards
    outcome, _, failed = _run_breaking(nb)
    assert outcome == {"nb99-f-test": PASSED, "nb99-g-test": PASSED} and failed == []


@pytest.mark.slow
def test_a_name_a_later_cell_rebinds_is_not_broken_with_the_earlier_exercise():
    # f's test imports `helper`; g's answer imports it again and uses it: breaking f must leave
    # g's own `helper` alone (notebook 03: info_nce's test and train_joint_space's answer both
    # import info_nce_loss), and a later ordinary rebinding of f's `total` is kept too
    nb = _notebook([("def f(x):\n" + SOL.format("x + 1"), ("nb99-f", True, False)),
                    ("from math import sqrt as helper\nassert f(1) == 2\ntotal = f(1)", ("nb99-f-test", False, True)),
                    ("total = 7", None),
                    ("from math import sqrt as helper\ndef g(x):\n" + SOL.format("helper(x) + total"),
                     ("nb99-g", True, False)),
                    ("assert g(4) == 9 and total == 7", ("nb99-g-test", False, True)),
                    ("assert helper(9) == 3 and total == 7", None)])
    outcome, broken_for, failed = _run_breaking(nb)
    assert broken_for[4] == ["nb99-f"]
    assert outcome == {"nb99-f-test": PASSED, "nb99-g-test": PASSED} and failed == []
