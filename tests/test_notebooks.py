"""Every course notebook: the solution earns full marks — each test cell with every other exercise
before it broken (``mmcourse.grading.isolation``), so one wrong answer costs only its own points —
its prose states only figures it printed, and the student version scores 0 without grader error.

Parametrized over whatever ``solutions/*.ipynb`` exist when the suite runs. Each notebook's tests
share an xdist group, so ``pytest -n 2 --dist loadgroup`` splits notebooks across the workers, and
a solution notebook is executed once per run: the full-marks test and the prose-numbers test
(``tests/test_prose_numbers.py``) read the same execution.
"""
import tempfile
from pathlib import Path

import pytest

from mmcourse.grading.cells import read_notebook
from mmcourse.grading.grade import grade_one
from mmcourse.grading.isolation import breaking_hook
from mmcourse.grading.kernel import run_notebook
from mmcourse.grading.release import release, release_notebook
from mmcourse.grading.runner import RunRow, score_run, tracks_needed, warm_up
from test_prose_numbers import ALLOW, prose_problems

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = sorted((ROOT / "solutions").glob("*.ipynb"))
CELL_TIMEOUT = 600
NOTEBOOK_TIMEOUT = 1800


@pytest.fixture(scope="session")
def warm_models():
    """Train the cached default models once, before any notebook, outside the cell time limits.

    On a fresh machine the first notebook would otherwise train them inside a cell. With two
    xdist workers the models' file lock lets one worker train while the other waits.
    """
    for track in tracks_needed(SOLUTIONS):
        row = warm_up(track, timeout=1800)
        assert row is None or not row.failures, f"{row.name}: {row.failures}"


_EXECUTED: dict = {}


def execute(path: Path):
    """Run the solution notebook ``path`` once (in a temp dir) and keep its executed copy and,
    per test cell, the exercises that were broken while it ran."""
    if path not in _EXECUTED:
        nb = read_notebook(path)
        hook, broken_for = breaking_hook(nb, release_notebook(nb))
        with tempfile.TemporaryDirectory(prefix="mmcourse-run-") as tmp:
            result = run_notebook(nb, tmp, cell_timeout=CELL_TIMEOUT, notebook_timeout=NOTEBOOK_TIMEOUT,
                                  before_cell=hook)
        _EXECUTED[path] = (result, broken_for)
    return _EXECUTED[path]


def score(path: Path, result) -> RunRow:
    """The ``mmcourse run`` row of an execution."""
    return score_run(path.stem, result)


def _params():
    return [pytest.param(p, id=p.stem, marks=[pytest.mark.slow, pytest.mark.xdist_group(f"nb-{p.stem}")])
            for p in SOLUTIONS]


def test_release_check_passes_on_the_repository():
    if not SOLUTIONS:
        pytest.skip("no solution notebooks yet")
    report = release(ROOT / "solutions", ROOT / "notebooks", check=True)
    assert report.ok, "run `mmcourse release`:\n" + "\n".join(report.problems)


def test_student_notebooks_never_name_the_reference_answers():
    """The package's ``*_reference`` twins are the answers: a student notebook never imports them."""
    students = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if not students:
        pytest.skip("no student notebooks yet")
    named = [p.name for p in students if "_reference" in p.read_text(encoding="utf-8")]
    assert not named, f"student notebooks naming a *_reference answer: {named}"


@pytest.mark.parametrize("path", _params())
def test_solution_scores_full_marks_with_the_other_exercises_broken(path, warm_models):
    result, broken_for = execute(path)
    row = score(path, result)
    assert row.total > 0, f"{path.name} has no autograded test cells"
    broken = {i: ex for i, ex in broken_for.items() if ex and not result.outcomes[i].ok}
    assert row.ok, (f"{path.name}: {row.passed}/{row.total} test cells passed\n" + "\n".join(row.failures)
                    + "".join(f"\n(cell {i} ran with these exercises broken: {ex})" for i, ex in broken.items()))


@pytest.mark.parametrize("path", _params())
def test_solution_prose_states_only_printed_figures(path, warm_models):
    problems = prose_problems(execute(path)[0].nb, ALLOW.get(path.stem, ()))
    assert not problems, (f"{path.name}: print these figures in a cell above, rephrase them, or (for a "
                          "definition) add them to ALLOW in tests/test_prose_numbers.py:\n"
                          + "\n".join(problems))


@pytest.mark.parametrize("path", _params())
def test_student_notebook_scores_zero_without_grader_error(path, warm_models):
    student = ROOT / "notebooks" / path.name
    assert student.is_file(), f"{student} is missing: run `mmcourse release`"
    row = grade_one("student", student, ROOT / "solutions", timeout=CELL_TIMEOUT,
                    notebook_timeout=NOTEBOOK_TIMEOUT, memory_mb=8192)
    assert row.status == "ok", row.status
    assert row.notebook == path.stem
    assert row.max_points > 0
    assert row.total == 0, [s for s in row.scores if s["points"] > 0]
