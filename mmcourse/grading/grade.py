"""``mmcourse grade``: autograde submissions without an nbgrader database.

For each submission: read it (a corrupt, empty or non-notebook file becomes a row saying why),
match it to its source notebook (file name, else shared grade_ids), restore the instructor's
cells (:mod:`.restore`), execute it in a fresh kernel in a temporary folder with per-cell,
per-notebook and memory limits (:mod:`.kernel`), score the test cells (:mod:`.scoring`) and write
``grades.csv`` plus ``feedback/<student>.md`` (:mod:`.feedback`). Submissions are graded in
parallel worker processes; one submission's failure never stops the batch.
"""
from __future__ import annotations

import os
import tempfile
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

from . import cells as C
from .feedback import hidden_lines, redact, write_csv, write_feedback
from .scoring import MANUAL, score_notebook


@dataclass
class GradeRow:
    """One submission's result: per-cell scores (dicts), totals, status ("ok" or why not)."""

    student: str
    filename: str
    notebook: str = ""
    scores: list = field(default_factory=list)
    total: float = 0.0
    max_points: float = 0.0
    manual_points: float = 0.0
    status: str = "ok"
    notes: list = field(default_factory=list)


@dataclass
class GradeResult:
    """All rows (sorted by student, notebook) and the files written."""

    rows: list
    csv_path: Path
    feedback_paths: list


def collect_submissions(submissions, source_names=()) -> list[tuple[str, Path]]:
    """(student, path) pairs from files and folders.

    A folder holds ``<student>/<notebook>.ipynb`` (any depth below the student folder) and/or
    loose files (student = file stem; every non-hidden loose file is included so that a stray
    non-notebook gets a row saying why). A file given directly whose name is a source notebook's
    belongs to its parent folder's student; any other file to its stem.
    """
    pairs: list[tuple[str, Path]] = []
    for item in submissions:
        path = Path(item)
        if path.is_dir():
            for child in sorted(path.iterdir()):
                if child.name.startswith("."):
                    continue
                if child.is_dir():
                    pairs += [(child.name, nb) for nb in sorted(child.rglob("*.ipynb"))
                              if ".ipynb_checkpoints" not in nb.parts]
                else:
                    pairs.append((child.stem, child))
        elif path.name in source_names:
            pairs.append((path.resolve().parent.name, path))
        else:
            pairs.append((path.stem, path))
    return pairs


def _load_sources(source) -> dict:
    source = Path(source)
    if not source.is_dir():
        raise ValueError(f"source: expected a folder of solution notebooks, got {str(source)!r}")
    sources = {p.name: C.read_notebook(p) for p in sorted(source.glob("*.ipynb"))}
    if not sources:
        raise ValueError(f"source: expected .ipynb solution notebooks in {str(source)!r}, found none")
    return sources


def grade_one(student: str, path, source, timeout: float = 60, notebook_timeout: float = 600,
              memory_mb: int | None = 4096) -> GradeRow:
    """Grade one submission file against the source folder; never raises."""
    path = Path(path)
    row = GradeRow(student, path.name)
    try:
        sources = _load_sources(source)
        try:
            nb = C.read_notebook(path)
        except C.NotebookError as exc:
            row.status = f"rejected: {exc}"
            return row
        name = _match(path.name, nb, sources)
        if name is None:
            row.status = "rejected: matches no source notebook (neither by file name nor grade_ids)"
            return row
        return _grade_matched(row, nb, name, sources[name], timeout, notebook_timeout, memory_mb)
    except Exception as exc:  # noqa: BLE001 - the batch must go on; the row says what broke
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        row.status = f"grader error: {last[:300]}"
        return row


def _match(filename, nb, sources):
    from .restore import match_source

    return match_source(filename, nb, sources)


def _grade_matched(row, nb, name, src, timeout, notebook_timeout, memory_mb) -> GradeRow:
    from .kernel import run_notebook
    from .restore import restore

    row.notebook = Path(name).stem
    graded, notes = restore(nb, src)
    with tempfile.TemporaryDirectory(prefix="mmcourse-grade-") as tmp:
        result = run_notebook(graded, tmp, cell_timeout=timeout,
                              notebook_timeout=notebook_timeout, memory_mb=memory_mb,
                              before_cell=_harden)
    secret = hidden_lines(src)
    by_id = {C.grade_id(c): c for c in result.nb.cells if C.grade_id(c)}
    for s in score_notebook(result.nb, result.outcomes):
        message = s.message
        if s.outcome != "passed" and s.grade_id in by_id:
            printed = [ln for ln in _stdout(by_id[s.grade_id]).splitlines() if ln.startswith("✗")]
            message = "; ".join(filter(None, [message, *printed[-2:]]))
        row.scores.append({"grade_id": s.grade_id, "outcome": s.outcome, "points": s.points,
                           "max_points": s.max_points, "message": redact(message, secret)})
    auto = [s for s in row.scores if s["outcome"] != MANUAL]
    row.total = sum(s["points"] for s in auto)
    row.max_points = sum(s["max_points"] for s in auto)
    row.manual_points = sum(s["max_points"] for s in row.scores if s["outcome"] == MANUAL)
    for i, (cell, outcome) in enumerate(zip(result.nb.cells, result.outcomes)):
        if outcome is not None and not outcome.ok and C.role(cell) != "test":
            gid = C.grade_id(cell)
            notes.append(f"{'answer cell ' + gid if gid else f'cell {i + 1}'}: {outcome.summary()}")
    row.notes = [redact(n, secret) for n in notes]
    return row


def _harden(cell) -> str | None:
    from .harden import harden_code

    return harden_code(cell.source) if C.role(cell) == "test" else None


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")


def _grade_one_dict(args) -> dict:
    return asdict(grade_one(*args))


def grade_submissions(submissions, source="solutions", out="grades", timeout: float = 60,
                      notebook_timeout: float = 600, memory_mb: int | None = 4096,
                      jobs: int | None = None, progress: bool = True) -> GradeResult:
    """Grade every submission; write ``out/grades.csv`` and ``out/feedback/<student>.md``.

    ``submissions`` are files and/or folders (see :func:`collect_submissions`); ``timeout`` is
    seconds per cell, ``notebook_timeout`` wall seconds per submission, ``memory_mb`` the cap
    on each kernel's memory, ``jobs`` the number of parallel workers (default: CPU cores).
    """
    if isinstance(submissions, (str, os.PathLike)):
        submissions = [submissions]
    if not submissions:
        raise ValueError("submissions: expected at least one file or folder, got none")
    missing = [str(s) for s in submissions if not Path(s).exists()]
    if missing:
        raise ValueError(f"submissions: expected existing files or folders, got missing {missing}")
    for name, value in (("timeout", timeout), ("notebook_timeout", notebook_timeout)):
        if not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"{name}: expected a positive number of seconds, got {value!r}")
    if memory_mb is not None and (not isinstance(memory_mb, int) or memory_mb < 64):
        raise ValueError(f"memory_mb: expected an integer >= 64 (MB) or None, got {memory_mb!r}")
    sources = _load_sources(source)
    pairs = collect_submissions(submissions, set(sources))
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(pairs) or 1))
    tasks = [(student, str(path), str(source), timeout, notebook_timeout, memory_mb)
             for student, path in pairs]
    rows = [GradeRow(**d) for d in _run_all(tasks, jobs, progress)]
    rows.sort(key=lambda r: (r.student, r.notebook or r.filename, r.filename))
    return _write_outputs(rows, sources, Path(out))


def _run_all(tasks, jobs, progress) -> list[dict]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(tasks), desc="grading", unit="nb", disable=not progress)
    results: list[dict] = []
    try:
        if jobs == 1:
            for task in tasks:
                results.append(_grade_one_dict(task))
                bar.update()
            return results
        with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_grade_one_dict, task): task for task in tasks}
            for fut in as_completed(futures):
                try:
                    results.append(fut.result())
                except Exception as exc:  # noqa: BLE001 - a crashed worker costs one row
                    student, path = futures[fut][:2]
                    results.append(asdict(GradeRow(student, Path(path).name,
                                                   status=f"grader error: worker crashed ({exc})")))
                bar.update()
        return results
    finally:
        bar.close()


def _write_outputs(rows, sources, out: Path) -> GradeResult:
    grade_ids = [gid for nb in sources.values() for gid, _, _ in C.graded_cells(nb)]
    csv_path = write_csv(out / "grades.csv", rows, grade_ids)
    paths = []
    for student in sorted({r.student for r in rows}):
        mine = [r for r in rows if r.student == student]
        paths.append(write_feedback(out / "feedback" / f"{_safe(student)}.md", student, mine))
    return GradeResult(rows, csv_path, paths)


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "student"
