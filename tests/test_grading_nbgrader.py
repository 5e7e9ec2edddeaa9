"""nbgrader compatibility: the sample course's sources work with nbgrader's own CLI, unchanged."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLE = Path(__file__).parent / "sample_course" / "source" / "sample"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading-nbgrader")]


def _nbgrader(course: Path, *args: str) -> str:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_generate_assignment_and_autograde_give_full_marks(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(SAMPLE, course / "source" / "sample")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.CourseDirectory.course_id = 'mmcourse-sample'\n"
        "c.Exchange.root = " + repr(str(tmp_path / "exchange")) + "\n"
        "c.ExecutePreprocessor.timeout = 120\n")
    _nbgrader(course, "db", "student", "add", "alice")
    _nbgrader(course, "generate_assignment", "sample", "--force")
    released = (course / "release" / "sample" / "01_square.ipynb").read_text()
    assert "return x * x" not in released and "square(12) == 144" not in released
    for nb in ("01_square.ipynb", "02_mean.ipynb"):  # alice hands in the solutions
        target = course / "submitted" / "alice" / "sample"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE / nb, target / nb)
    (course / "submitted" / "alice" / "sample" / "timestamp.txt").write_text(
        "2026-01-01 12:00:00.000000 UTC")
    _nbgrader(course, "autograde", "sample", "--force")

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for name, auto_max in (("01_square", 3.0), ("02_mean", 3.0)):
            nb = gb.find_submission_notebook(name, "sample", "alice")
            auto = [g for g in nb.grades if g.auto_score is not None]
            assert sum(g.auto_score for g in auto) == auto_max == sum(g.max_score for g in auto)
            assert not nb.failed_tests
        manual = gb.find_submission_notebook("01_square", "sample", "alice")
        assert manual.needs_manual_grade  # the written reflection
