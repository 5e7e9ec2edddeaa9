"""Per-student feedback (markdown) and the CSV gradebook.

Feedback lists each graded cell's outcome and a one-line error summary. It never contains hidden
test source: only error names/messages and the cell's printed check line are quoted, and any line
that also appears inside a ``### BEGIN HIDDEN TESTS`` region of the source is removed.
"""
from __future__ import annotations

import csv
from pathlib import Path

from .scoring import FAILED, MANUAL, PASSED


def hidden_lines(nb) -> set[str]:
    """The stripped, non-trivial lines of every hidden-test region of a source notebook."""
    lines: set[str] = set()
    for cell in nb.cells:
        inside = False
        for line in cell.get("source", "").split("\n"):
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 3:
                lines.add(line.strip())
    return lines


def redact(text: str, secret_lines: set[str]) -> str:
    """``text`` without hidden-test lines, or fragments of them, with one-line summaries kept short."""
    kept = []
    for line in str(text).split("\n"):
        if line.strip() and not any(s in line for s in secret_lines):
            kept.append(line.rstrip())
    return " ".join(" ".join(kept).split())[:400]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def write_feedback(path, student: str, rows) -> Path:
    """Write ``path`` (markdown): one section per notebook of ``student``'s graded rows."""
    lines = [f"# Feedback for {student}", ""]
    for row in rows:
        lines.append(f"## {row.notebook or row.filename}")
        lines.append("")
        if row.status != "ok":
            lines += [f"This submission could not be graded: {row.status}.", ""]
            continue
        extra = f" (+ up to {row.manual_points:g} graded by hand)" if row.manual_points else ""
        lines += [f"Automatic score: **{row.total:g} / {row.max_points:g}**{extra}", "",
                  "| cell | points | outcome | details |", "|---|---|---|---|"]
        for s in row.scores:
            mark = {PASSED: "✓ passed", FAILED: "✗ failed", MANUAL: "manual"}[s["outcome"]]
            pts = f"– / {s['max_points']:g}" if s["outcome"] == MANUAL else \
                f"{s['points']:g} / {s['max_points']:g}"
            lines.append(f"| {s['grade_id']} | {pts} | {mark} | {_cell(s['message'])} |")
        if row.notes:
            lines += ["", "Notes:"] + [f"- {_cell(n)}" for n in row.notes]
        lines.append("")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_csv(path, rows, grade_ids) -> Path:
    """``grades.csv``: student, notebook, one column per grade_id, total, max, status, notes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student", "notebook", *grade_ids, "total", "max", "status", "notes"])
        for row in rows:
            by_id = {s["grade_id"]: ("manual" if s["outcome"] == MANUAL else f"{s['points']:g}")
                     for s in row.scores}
            graded = row.status == "ok"
            writer.writerow([row.student, row.notebook or row.filename,
                             *[by_id.get(g, "") for g in grade_ids],
                             f"{row.total:g}" if graded else "",
                             f"{row.max_points:g}" if graded else "",
                             row.status, "; ".join(row.notes)])
    return path
