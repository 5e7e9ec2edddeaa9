"""mmcourse release: nbgrader preprocessors, determinism, --check, stripped solutions."""
import json
import shutil
from pathlib import Path

import nbformat
import pytest

from mmcourse.cli import main
from mmcourse.grading.cells import read_notebook
from mmcourse.grading.release import release, release_notebook

SAMPLE = Path(__file__).parent / "sample_course" / "source" / "sample"


@pytest.fixture
def course(tmp_path):
    src = tmp_path / "solutions"
    shutil.copytree(SAMPLE, src)
    return src, tmp_path / "notebooks"


def _all_source(path) -> str:
    return "\n".join(c["source"] if isinstance(c["source"], str) else "".join(c["source"])
                     for c in json.loads(Path(path).read_text())["cells"])


def test_release_writes_student_notebooks_without_solutions_or_hidden_tests(course):
    src, dest = course
    report = release(src, dest)
    assert report.ok and sorted(p.name for p in report.written) == ["01_square.ipynb", "02_mean.ipynb"]
    text = _all_source(dest / "01_square.ipynb") + _all_source(dest / "02_mean.ipynb")
    for secret in ("return x * x", "square(12) == 144", "BEGIN HIDDEN TESTS", "BEGIN SOLUTION",
                   "sum(xs) / len(xs)", "mean([5]) == 5", "same sign is non-negative"):
        assert secret not in text
    assert "raise NotImplementedError()" in text and "YOUR ANSWER HERE" in text
    assert 'assert mmcourse.check("s01-square", square)' in text  # visible test kept


def test_released_cells_are_locked_and_checksummed(course):
    src, dest = course
    release(src, dest)
    nb = read_notebook(dest / "01_square.ipynb")
    by_id = {c.metadata.nbgrader.grade_id: c for c in nb.cells if "nbgrader" in c.metadata}
    assert by_id["s01-square"].metadata.editable is False
    assert by_id["s01-square"].metadata.deletable is False
    assert by_id["s01-setup"].metadata.editable is False
    assert by_id["s01-square-solution"].metadata.deletable is False
    assert "editable" not in by_id["s01-square-solution"].metadata
    assert all("checksum" in c.metadata.nbgrader for c in by_id.values())
    assert by_id["s01-square"].metadata.nbgrader.points == 2


def test_release_is_deterministic_and_check_passes_after_release(course, capsys):
    src, dest = course
    release(src, dest)
    first = {p.name: p.read_bytes() for p in dest.glob("*.ipynb")}
    second = release(src, dest)
    assert second.written == [] and second.ok
    assert {p.name: p.read_bytes() for p in dest.glob("*.ipynb")} == first
    assert release_notebook(read_notebook(src / "02_mean.ipynb")) == \
        release_notebook(read_notebook(src / "02_mean.ipynb"))
    assert main(["release", "--check", "--source", str(src), "--dest", str(dest)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_check_names_out_of_date_missing_and_extra_notebooks(course, capsys):
    src, dest = course
    release(src, dest)
    nb = read_notebook(src / "02_mean.ipynb")
    nb.cells[0].source += "\nMore prose."
    (src / "02_mean.ipynb").write_text(nbformat.writes(nb) + "\n")
    (dest / "01_square.ipynb").unlink()
    (dest / "99_stray.ipynb").write_text((dest / "02_mean.ipynb").read_text())
    snapshot = {p.name: p.read_bytes() for p in dest.glob("*.ipynb")}
    report = release(src, dest, check=True)
    text = "\n".join(report.problems)
    assert "01_square.ipynb: student notebook missing" in text
    assert "02_mean.ipynb: student notebook out of date" in text
    assert "99_stray.ipynb: extra student notebook" in text
    assert {p.name: p.read_bytes() for p in dest.glob("*.ipynb")} == snapshot  # nothing written
    assert main(["release", "--check", "--source", str(src), "--dest", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "01_square.ipynb" in err and "02_mean.ipynb" in err and "99_stray.ipynb" in err


def test_solution_with_outputs_fails_check_and_release_strips_it(course):
    src, dest = course
    release(src, dest)
    nb = read_notebook(src / "01_square.ipynb")
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.execution_count = 3
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hi\n")]
    (src / "01_square.ipynb").write_text(nbformat.writes(nb))
    report = release(src, dest, check=True)
    assert any("01_square.ipynb: solution notebook has outputs" in p for p in report.problems)
    fixed = release(src, dest)
    assert [p.name for p in fixed.stripped] == ["01_square.ipynb"]
    clean = read_notebook(src / "01_square.ipynb")
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in clean.cells if c.cell_type == "code")
    assert release(src, dest, check=True).ok


def test_release_rejects_bad_folders(tmp_path, capsys):
    with pytest.raises(ValueError, match="source: expected a folder of solution notebooks"):
        release(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "file").write_text("x")
    (tmp_path / "src").mkdir()
    with pytest.raises(ValueError, match="dest: expected a folder"):
        release(tmp_path / "src", tmp_path / "file")
    assert main(["release", "--source", str(tmp_path / "nope")]) == 2
    assert "source: expected a folder" in capsys.readouterr().err

