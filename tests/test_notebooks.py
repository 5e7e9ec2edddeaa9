"""Every course notebook: the solution earns full marks, the student version 0 without grader error.

Parametrized over whatever ``solutions/*.ipynb`` exist when the suite runs. Each notebook's tests
share an xdist group, so ``pytest -n 2 --dist loadgroup`` splits notebooks across the workers.
"""
from pathlib import Path

import pytest

from mmcourse.grading.grade import grade_one
from mmcourse.grading.release import release
from mmcourse.grading.runner import run_one, tracks_needed, warm_up

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


def _params():
    return [pytest.param(p, id=p.stem, marks=[pytest.mark.slow, pytest.mark.xdist_group(f"nb-{p.stem}")])
            for p in SOLUTIONS]


def test_release_check_passes_on_the_repository():
    if not SOLUTIONS:
        pytest.skip("no solution notebooks yet")
    report = release(ROOT / "solutions", ROOT / "notebooks", check=True)
    assert report.ok, "run `mmcourse release`:\n" + "\n".join(report.problems)


@pytest.mark.parametrize("path", _params())
def test_solution_scores_full_marks(path, warm_models):
    row = run_one(path, cell_timeout=CELL_TIMEOUT, notebook_timeout=NOTEBOOK_TIMEOUT)
    assert row.total > 0, f"{path.name} has no autograded test cells"
    assert row.ok, f"{path.name}: {row.passed}/{row.total} test cells passed\n" + "\n".join(row.failures)


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
