"""mmcourse grade: one batch of good, wrong, broken and hostile submissions of the sample course.

Every failure mode must cost only the affected cells and never stop the batch.
"""
import copy
import csv
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from mmcourse.cli import main
from mmcourse.grading import grade_submissions
from mmcourse.grading.cells import read_notebook
from mmcourse.grading.release import release

SAMPLE = Path(__file__).parent / "sample_course" / "source" / "sample"
SQUARE = "def square(x):\n    return x * x"
SQUARE_ALL = "def square_all(xs):\n    return [x ** 2 for x in xs]"


def _set(nb, grade_id, source):
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    cell.source = source
    return cell


def _square_nb(student_nb, square=SQUARE, square_all=SQUARE_ALL):
    nb = copy.deepcopy(student_nb)
    _set(nb, "s01-square-solution", square)
    _set(nb, "s01-square-all-solution", square_all)
    return nb


def _drop(nb, grade_id):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") != grade_id]
    return nb


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade every submission variant once (2 parallel jobs, 5 s per cell)."""
    root = tmp_path_factory.mktemp("grading")
    released = root / "released"
    release(SAMPLE, released)
    student = read_notebook(released / "01_square.ipynb")
    mean_nb = read_notebook(released / "02_mean.ipynb")
    subs = root / "submitted"

    def put(name, nb, notebook="01_square.ipynb"):
        (subs / name).mkdir(parents=True, exist_ok=True)
        (subs / name / notebook).write_text(nbformat.writes(nb))

    put("correct", _square_nb(student))
    put("blank", student)
    put("wrong", _square_nb(student, square="def square(x):\n    return x + x"))
    put("hidden", _square_nb(student, square="def square(x):\n    return x * x if abs(x) < 10 else 0"))
    put("syntax", _square_nb(student, square="def square(x)\n    return x * x"))
    put("loop", _square_nb(student, square="while True:\n    pass\n" + SQUARE))
    put("exit", _square_nb(student, square="import os\nos._exit(1)\n" + SQUARE))
    put("sysexit", _square_nb(student, square=SQUARE + "\nimport sys\nsys.exit(0)"))
    put("membomb", _square_nb(student, square="hog = [0] * (2 * 10**9)\n" + SQUARE))
    put("warning", _square_nb(student, square=(
        "import sys, warnings\nwarnings.warn('deprecated thing', DeprecationWarning)\n"
        "warnings.warn('user warning')\nprint('noise on stderr', file=sys.stderr)\n" + SQUARE)))
    edited = _square_nb(student, square="def square(x):\n    return 0")
    _set(edited, "s01-square", "assert True")
    put("edited", edited)
    put("deleted", _drop(_square_nb(student, square="def square(x):\n    return 0"), "s01-square"))
    put("deleted_ok", _drop(_square_nb(student), "s01-square"))
    retag = _square_nb(student, square="def square(x):\n    return 0")
    cell = _set(retag, "s01-square", "print('all good')")
    cell.metadata.nbgrader["grade"] = False
    cell.metadata.nbgrader["points"] = 0
    put("retagged", retag)
    cheat = "def square_all(xs):\n    return []\n"
    put("cheat_check", _square_nb(student, square_all=cheat + (
        "import mmcourse\nimport mmcourse.grading.check as gc\n"
        "mmcourse.check = gc.check = lambda *args, **kwargs: True")))
    put("cheat_exc", _square_nb(student, square_all=cheat + (
        "get_ipython().set_custom_exc((BaseException,), lambda *args, **kwargs: None)")))
    moved = _square_nb(student)
    moved.cells.insert(0, nbformat.v4.new_code_cell("EXTRA = 1  # a cell the student added"))
    put("added_cells", moved)
    mean_ok = copy.deepcopy(mean_nb)
    _set(mean_ok, "s02-mean-solution", "def mean(xs):\n    xs = list(xs)\n    if not xs:\n"
                                       "        raise ValueError('empty')\n    return sum(xs) / len(xs)")
    put("correct", mean_ok, "02_mean.ipynb")
    (subs / "frank.ipynb").write_text(nbformat.writes(mean_ok))  # loose file, renamed
    (subs / "corrupt.ipynb").write_text('{"cells": [')
    (subs / "empty.ipynb").write_text("")
    (subs / "notes.txt").write_text("not a notebook")
    (subs / "unrelated.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("1 + 1")])))
    out = root / "out"
    result = grade_submissions([subs], source=SAMPLE, out=out, timeout=5, notebook_timeout=90,
                               memory_mb=1024, jobs=2, progress=False)
    with open(result.csv_path, newline="") as fh:
        table = {(r["student"], r["notebook"]): r for r in csv.DictReader(fh)}
    return result, table, out


def _row(table, student, notebook="01_square"):
    return table[(student, notebook)]


def _points(row):
    return row["s01-square"], row["s01-square-all"], row["total"], row["status"]


pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("grading-batch")]


def test_one_row_per_submission_and_columns(batch):
    result, table, _ = batch
    assert len(result.rows) == 23
    header = list(next(iter(table.values())).keys())
    assert header == ["student", "notebook", "s01-square", "s01-square-all", "s01-reflection",
                      "s02-mean", "total", "max", "status", "notes"]


def test_correct_submission_gets_full_marks(batch):
    _, table, _ = batch
    assert _points(_row(table, "correct")) == ("2", "1", "3", "ok")
    assert _row(table, "correct")["max"] == "3"
    assert _row(table, "correct")["s01-reflection"] == "manual"
    assert _row(table, "correct", "02_mean")["total"] == "3"


def test_blank_student_notebook_scores_zero_with_status_ok(batch):
    assert _points(_row(batch[1], "blank")) == ("0", "0", "0", "ok")


@pytest.mark.parametrize("student", ["wrong", "hidden", "syntax", "loop", "exit", "membomb",
                                     "edited", "deleted", "retagged"])
def test_failure_costs_only_the_affected_cell(batch, student):
    assert _points(_row(batch[1], student)) == ("0", "1", "1", "ok")


@pytest.mark.parametrize("student", ["warning", "sysexit", "deleted_ok", "added_cells"])
def test_harmless_variants_keep_full_marks(batch, student):
    assert _points(_row(batch[1], student)) == ("2", "1", "3", "ok")


@pytest.mark.parametrize("student", ["cheat_check", "cheat_exc"])
def test_overriding_check_or_swallowing_errors_does_not_help(batch, student):
    assert _points(_row(batch[1], student)) == ("2", "0", "2", "ok")


def test_loose_file_is_matched_by_grade_ids(batch):
    row = _row(batch[1], "frank", "02_mean")
    assert (row["s02-mean"], row["total"], row["max"], row["status"]) == ("3", "3", "3", "ok")


@pytest.mark.parametrize("student, why", [
    ("corrupt", "rejected: corrupt notebook JSON"),
    ("empty", "rejected: empty file"),
    ("notes", "rejected: not a notebook"),
    ("unrelated", "rejected: matches no source notebook")])
def test_unusable_files_get_a_row_saying_why(batch, student, why):
    rows = [r for (s, _), r in batch[1].items() if s == student]
    assert len(rows) == 1 and rows[0]["status"].startswith(why) and rows[0]["total"] == ""


def test_notes_explain_restored_and_dead_kernels(batch):
    _, table, _ = batch
    assert "cell s01-square was deleted; re-inserted" in _row(table, "deleted")["notes"]
    assert "cell s01-square was modified; restored" in _row(table, "edited")["notes"]
    assert "answer cell s01-square-solution: the kernel died" in _row(table, "exit")["notes"]
    assert "answer cell s01-square-solution: cell time limit" in _row(table, "loop")["notes"]
    assert "SyntaxError" in _row(table, "syntax")["notes"]
    assert "MemoryError" in _row(table, "membomb")["notes"]
    assert _row(table, "correct")["notes"] == ""


def test_feedback_lists_each_cell_without_hidden_test_source(batch):
    result, _, out = batch
    assert len(result.feedback_paths) == 22
    text = (out / "feedback" / "hidden.md").read_text()
    assert "| s01-square | 0 / 2 | ✗ failed | AssertionError: square(12) should be 144 |" in text
    assert "| s01-reflection | – / 1 | manual |" in text
    wrong = (out / "feedback" / "wrong.md").read_text()
    assert "on square(3): expected 9, got 6" in wrong
    assert "time limit" in (out / "feedback" / "loop.md").read_text()
    for path in result.feedback_paths:
        text = path.read_text()
        assert "square(12) == 144" not in text and "mean([5]) == 5" not in text
        assert "BEGIN HIDDEN" not in text and "square_all([]) == []" not in text
    assert "could not be graded: rejected: corrupt notebook JSON" in \
        (out / "feedback" / "corrupt.md").read_text()


def test_cli_grade_validates_arguments(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "missing"), "--source", str(SAMPLE)]) == 2
    assert "submissions: expected existing files or folders" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["grade", str(tmp_path), "--timeout", "-1"])


def test_cli_grade_writes_csv(tmp_path, capsys):
    subs = tmp_path / "subs" / "ann"
    subs.mkdir(parents=True)
    release(SAMPLE, tmp_path / "rel")
    shutil.copy(tmp_path / "rel" / "02_mean.ipynb", subs)
    rc = main(["grade", str(tmp_path / "subs"), "--source", str(SAMPLE), "--out",
               str(tmp_path / "out"), "--timeout", "10", "--jobs", "1", "--no-progress"])
    assert rc == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "grades.csv", newline="")))
    assert [(r["student"], r["notebook"], r["total"], r["max"], r["status"]) for r in rows] == \
        [("ann", "02_mean", "0", "3", "ok")]
    assert "ann" in capsys.readouterr().out
    assert json.loads((tmp_path / "rel" / "02_mean.ipynb").read_text())["cells"]
