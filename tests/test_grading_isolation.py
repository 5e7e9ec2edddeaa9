"""One wrong answer costs only its own points: a static check over every solution notebook.

Every graded test cell may use only names defined by its own answer cell (same id, or the answer cell just before it), by cells that are not
part of an exercise (setup, prose examples, ungraded code), by itself, or by builtins — never a
name defined only by another exercise's answer cell or test cell (hidden tests included). A name
that a non-exercise cell also defines is fine: it exists whatever the learner's answers do.
(Executing every notebook once per broken exercise is too slow for the suite.)
"""
from __future__ import annotations

import ast
import builtins
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))


def _bound(tree) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
    return names


def _loaded(tree) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _parse(source: str):
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


def _exercise_of(gid: str) -> str:
    return gid[:-len("-test")] if gid.endswith("-test") else gid


def foreign_names(nb) -> dict:
    """{test cell id: names it uses that only another exercise's cells define}."""
    neutral: set[str] = set(dir(builtins)) | {"get_ipython", "display", "__file__"}
    owners: dict[str, set[str]] = {}
    tests = []
    last_answer = None  # a test cell also owns the answer cell just before it (nb10's milestones)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = cell.get("metadata", {}).get("nbgrader", {})
        tree = _parse(cell.source)
        if meta.get("solution") or meta.get("grade"):
            exercise = _exercise_of(meta["grade_id"])
            for name in _bound(tree):
                owners.setdefault(name, set()).add(exercise)
            if meta.get("solution") and not meta.get("grade"):
                last_answer = exercise
            if meta.get("grade"):
                tests.append((meta["grade_id"], {exercise, last_answer}, tree))
        else:
            neutral |= _bound(tree)
    problems = {}
    for gid, mine, tree in tests:
        own = _bound(tree)
        bad = sorted(n for n in _loaded(tree) - own - neutral
                     if n in owners and not owners[n] & mine)
        if bad:
            problems[gid] = bad
    return problems


@pytest.mark.parametrize("path", SOLUTIONS, ids=lambda p: p.stem)
def test_test_cells_use_only_their_own_exercise(path):
    nb = nbformat.read(path, as_version=4)
    assert foreign_names(nb) == {}


def test_the_check_finds_a_test_cell_that_borrows_another_exercises_data():
    nb = nbformat.v4.new_notebook()
    meta = lambda gid, sol, grade: {"nbgrader": {"grade_id": gid, "solution": sol, "grade": grade,
                                                 "locked": not sol, "points": 1 if grade else 0}}
    cells = [("import numpy as np", {}),
             ("def f(x):\n    return x", meta("nb99-f", True, False)),
             ("assert f(1) == 1\n_a = np.ones(3)", meta("nb99-f-test", False, True)),
             ("def g(x):\n    return 2 * x", meta("nb99-g", True, False)),
             ("assert (g(_a) == 2).all() and f(0) == 0", meta("nb99-g-test", False, True))]
    nb.cells = [nbformat.v4.new_code_cell(src, metadata=m) for src, m in cells]
    assert foreign_names(nb) == {"nb99-g-test": ["_a", "f"]}
