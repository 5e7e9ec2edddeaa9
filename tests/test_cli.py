"""The mmcourse command line: argument handling and `mmcourse run`."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmcourse.cli import build_parser, main
from mmcourse.grading import runner
from mmcourse.grading.release import release

SAMPLE = Path(__file__).parent / "sample_course" / "source" / "sample"


def test_python_dash_m_shows_the_three_commands():
    out = subprocess.run([sys.executable, "-m", "mmcourse", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for command in ("release", "grade", "run"):
        assert command in out


def test_parser_defaults_and_validation():
    args = build_parser().parse_args(["grade", "subs"])
    assert (args.source, args.out, args.timeout, args.notebook_timeout, args.memory) == \
        ("solutions", "grades", 60, 600, 4096)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["grade", "subs", "--memory", "0"])
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--timeout", "soon"])
    with pytest.raises(SystemExit):
        build_parser().parse_args([])


@pytest.mark.slow
def test_run_prints_a_table_and_never_writes_into_solutions(tmp_path, capsys):
    src = tmp_path / "solutions"
    shutil.copytree(SAMPLE, src)
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    assert main(["run", "--source", str(src), "--no-warmup", "--timeout", "30"]) == 0
    out = capsys.readouterr().out
    assert "01_square" in out and "02_mean" in out
    line = [ln for ln in out.splitlines() if ln.startswith("01_square ")][-1]
    assert line.split()[2:] == ["2/2", "3/3"]
    assert {p.name: p.read_bytes() for p in src.iterdir()} == before
    assert sorted(p.name for p in src.iterdir()) == ["01_square.ipynb", "02_mean.ipynb"]


@pytest.mark.slow
def test_run_exits_non_zero_when_a_test_cell_fails(tmp_path, capsys):
    release(SAMPLE, tmp_path / "student")
    assert main(["run", str(tmp_path / "student" / "02_mean.ipynb"), "--no-warmup",
                 "--timeout", "30"]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "s02-mean: NotImplementedError" in out


def test_run_reports_missing_notebooks(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.ipynb"), "--no-warmup"]) == 1
    assert "no such notebook" in capsys.readouterr().err
    assert main(["run", "--source", str(tmp_path), "--no-warmup"]) == 1
    assert "no notebooks found" in capsys.readouterr().err


def test_warm_up_is_skipped_when_a_track_is_not_installed(monkeypatch):
    monkeypatch.setattr(runner.importlib.util, "find_spec", lambda name: None)
    assert runner.warm_up("torch") is None


def test_format_table_marks_failures():
    rows = [runner.RunRow("warm-up (torch)", 12.0, 0, 0, 0, 0, []),
            runner.RunRow("03_x", 5.5, 1, 2, 1, 3, ["nb03-y: AssertionError"])]
    text = runner.format_table(rows)
    assert "warm-up (torch)" in text and "1/2" in text and "FAILED" in text
    assert text.splitlines()[-1].split() == ["total", "17.5"]


def test_tracks_needed_follows_notebook_names():
    assert runner.tracks_needed(["solutions/01_cnn.ipynb"]) == ["torch"]
    assert runner.tracks_needed(["solutions/01k_cnn.ipynb"]) == ["keras"]
    assert runner.tracks_needed(["a/02_x.ipynb", "a/02k_x.ipynb"]) == ["torch", "keras"]


def _fake_grading(monkeypatch, statuses):
    from mmcourse.grading import grade as G

    def fake(submissions, **kwargs):
        rows = [G.GradeRow(f"s{i}", "01_square.ipynb", "01_square", total=1.0, max_points=2.0,
                           status=status) for i, status in enumerate(statuses)]
        return G.GradeResult(rows, Path("grades/grades.csv"), [])

    monkeypatch.setattr(G, "grade_submissions", fake)


def test_grade_exits_zero_when_students_fail_but_the_grader_does_not(monkeypatch, capsys):
    _fake_grading(monkeypatch, ["ok", "ok", "rejected: not a notebook (empty file)"])
    assert main(["grade", "subs", "--no-progress"]) == 0
    assert "grader error" not in capsys.readouterr().err


def test_grade_exits_non_zero_on_a_grader_error(monkeypatch, capsys):
    _fake_grading(monkeypatch, ["ok", "grader error: KeyError: 'cells'"])
    assert main(["grade", "subs", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "1 submission(s) hit a grader error" in err and "s1/01_square.ipynb" in err


def test_release_exits_non_zero_when_it_reports_problems(tmp_path, capsys):
    dest = tmp_path / "student"
    assert main(["release", "--source", str(SAMPLE), "--dest", str(dest)]) == 0
    assert main(["release", "--source", str(SAMPLE), "--dest", str(dest), "--check"]) == 0
    shutil.copy(dest / "01_square.ipynb", dest / "99_orphan.ipynb")
    capsys.readouterr()
    assert main(["release", "--source", str(SAMPLE), "--dest", str(dest)]) == 1
    captured = capsys.readouterr()
    assert "99_orphan.ipynb: extra student notebook" in captured.err
    assert "1 problem(s)" in captured.out
    assert main(["release", "--source", str(SAMPLE), "--dest", str(dest), "--check"]) == 1
