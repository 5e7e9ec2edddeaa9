"""Restoring instructor cells, matching submissions, collecting files, redacting feedback (no kernels)."""
import copy
from pathlib import Path

import nbformat
import pytest

from mmcourse.grading import cells as C
from mmcourse.grading.feedback import hidden_lines, redact
from mmcourse.grading.grade import collect_submissions, grade_one
from mmcourse.grading.release import release_notebook
from mmcourse.grading.restore import match_source, restore

SAMPLE = Path(__file__).parent / "sample_course" / "source" / "sample"


@pytest.fixture(scope="module")
def source():
    return C.read_notebook(SAMPLE / "01_square.ipynb")


@pytest.fixture
def student(source):
    return release_notebook(source)


def _by_id(nb):
    return {C.nbgrader_meta(c).get("grade_id"): c for c in nb.cells if C.nbgrader_meta(c)}


def _order(nb):
    return [C.nbgrader_meta(c).get("grade_id") or c.source[:12] for c in nb.cells]


def test_roles_points_and_graded_cells(source):
    assert C.graded_cells(source) == [("s01-square", "test", 2.0), ("s01-square-all", "test", 1.0),
                                      ("s01-reflection", "manual", 1.0)]
    roles = {gid: C.role(c) for gid, c in _by_id(source).items()}
    assert roles == {"s01-setup": "locked", "s01-square-solution": "solution", "s01-square": "test",
                     "s01-square-all-solution": "solution", "s01-square-all": "test",
                     "s01-reflection": "manual"}


def test_restore_brings_back_hidden_tests_and_keeps_answers(source, student):
    _by_id(student)["s01-square-solution"].source = "def square(x):\n    return 7"
    graded, notes = restore(student, source)
    cells = _by_id(graded)
    assert "square(12) == 144" in cells["s01-square"].source
    assert cells["s01-square-solution"].source == "def square(x):\n    return 7"
    assert notes == []
    assert _order(graded) == _order(source)


def test_edited_retagged_and_deleted_test_cells_are_restored_in_place(source, student):
    cells = _by_id(student)
    cells["s01-square"].source = "assert True"
    cells["s01-square-all"].metadata.nbgrader.update(grade=False, points=0)
    cells["s01-setup"].source = "import mmcourse  # the student removed the checkers"
    student.cells = [c for c in student.cells if C.nbgrader_meta(c).get("grade_id") != "s01-reflection"]
    graded, notes = restore(student, source)
    fixed = _by_id(graded)
    for gid in ("s01-square", "s01-square-all", "s01-setup"):
        assert fixed[gid].source == _by_id(source)[gid].source
        assert fixed[gid].metadata.nbgrader == _by_id(source)[gid].metadata.nbgrader
    assert _order(graded) == _order(source)
    assert fixed["s01-reflection"].source == "YOUR ANSWER HERE"
    assert sorted(notes) == ["answer cell s01-reflection was missing; graded as the empty stub",
                             "cell s01-setup was modified; restored from the source",
                             "cell s01-square was modified; restored from the source",
                             "cell s01-square-all was modified; restored from the source"]


def test_deleted_test_cell_goes_back_after_its_answer(source, student):
    student.cells = [c for c in student.cells if C.nbgrader_meta(c).get("grade_id") != "s01-square"]
    graded, notes = restore(student, source)
    order = _order(graded)
    assert order.index("s01-square") == order.index("s01-square-solution") + 1
    assert notes == ["cell s01-square was deleted; re-inserted from the source"]


def test_student_cells_stay_after_the_cell_they_followed(source, student):
    extra = nbformat.v4.new_code_cell("helper = 1")
    pos = student.cells.index(_by_id(student)["s01-square-solution"])
    student.cells.insert(pos + 1, extra)
    fake = copy.deepcopy(_by_id(student)["s01-square"])
    fake.source = "print('a copy of a test cell')"
    student.cells.append(fake)  # a duplicate id becomes a plain cell
    graded, _ = restore(student, source)
    order = _order(graded)
    assert order[order.index("s01-square-solution") + 1] == "helper = 1"
    assert order[-1] == "print('a cop"
    assert "nbgrader" not in graded.cells[-1].metadata
    assert len({c.id for c in graded.cells}) == len(graded.cells)


def test_match_source_by_name_then_by_grade_ids(source, student):
    mean = C.read_notebook(SAMPLE / "02_mean.ipynb")
    sources = {"01_square.ipynb": source, "02_mean.ipynb": mean}
    assert match_source("02_mean.ipynb", student, sources) == "02_mean.ipynb"  # name wins
    assert match_source("alice.ipynb", student, sources) == "01_square.ipynb"
    assert match_source("x.ipynb", nbformat.v4.new_notebook(), sources) is None


def test_collect_submissions_layouts(tmp_path):
    (tmp_path / "subs" / "alice" / "ps1").mkdir(parents=True)
    (tmp_path / "subs" / "alice" / "ps1" / "01_square.ipynb").write_text("{}")
    (tmp_path / "subs" / "alice" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "subs" / "alice" / ".ipynb_checkpoints" / "01_square-checkpoint.ipynb").write_text("{}")
    (tmp_path / "subs" / "alice" / "data.csv").write_text("1,2")
    (tmp_path / "subs" / "bob.ipynb").write_text("{}")
    (tmp_path / "subs" / "readme.txt").write_text("x")
    (tmp_path / "subs" / ".hidden").write_text("x")
    (tmp_path / "carol").mkdir()
    (tmp_path / "carol" / "01_square.ipynb").write_text("{}")
    pairs = collect_submissions([tmp_path / "subs", tmp_path / "carol" / "01_square.ipynb",
                                 tmp_path / "subs" / "bob.ipynb"], {"01_square.ipynb"})
    assert [(s, p.name) for s, p in pairs] == [
        ("alice", "01_square.ipynb"), ("bob", "bob.ipynb"), ("readme", "readme.txt"),
        ("carol", "01_square.ipynb"), ("bob", "bob.ipynb")]


@pytest.mark.parametrize("content, why", [
    (b"", "empty file"), (b"   \n", "empty file"), (b'{"cells": [', "corrupt notebook JSON"),
    (b"\xff\xfe\x00", "not UTF-8 text"), (b"[1, 2]", "not a Jupyter notebook"),
    (b'{"cells": [{"cell_type": "nonsense"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
     "invalid notebook structure")])
def test_unreadable_files_are_rejected_with_a_reason(tmp_path, content, why):
    path = tmp_path / "x.ipynb"
    path.write_bytes(content)
    with pytest.raises(C.NotebookError, match=why):
        C.read_notebook(path)
    row = grade_one("x", path, SAMPLE)
    assert row.status.startswith(f"rejected: {why}") and row.scores == []


def test_grade_one_reports_a_bad_source_instead_of_raising(tmp_path):
    nb_path = tmp_path / "a.ipynb"
    nb_path.write_text(nbformat.writes(nbformat.v4.new_notebook()))
    row = grade_one("a", nb_path, tmp_path / "no-source")
    assert row.status.startswith("grader error: ValueError: source: expected a folder")


def test_redact_removes_hidden_test_lines(source):
    secret = hidden_lines(source)
    assert 'assert square(12) == 144, "square(12) should be 144"' in secret
    text = ("AssertionError: square(12) should be 144\n"
            "----> 2 assert square(12) == 144, \"square(12) should be 144\"")
    assert redact(text, secret) == "AssertionError: square(12) should be 144"


def test_harden_code_reloads_the_modules_of_the_checked_ids():
    from mmcourse.grading import check as chk
    from mmcourse.grading.harden import harden_code

    course_ids = [gid for gid in chk.known_ids()
                  if chk._REGISTRY[gid].func.__module__.startswith("mmcourse.grading.checks.")]
    if not course_ids:
        pytest.skip("no course checkers registered yet")
    gid = course_ids[0]
    module = chk._REGISTRY[gid].func.__module__
    code = harden_code(f'assert mmcourse.check("{gid}", answer)\nassert mmcourse.check("nope", 1)')
    assert code.rstrip().endswith(f"_mmcourse_harden([{module!r}])\ndel _mmcourse_harden")
    compile(code, "<harden>", "exec")
