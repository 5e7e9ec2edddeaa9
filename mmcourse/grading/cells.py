"""nbgrader cell metadata helpers and safe notebook I/O.

A cell's role comes from its ``metadata.nbgrader`` dict (nbgrader schema v3):

=============  ==========================================  ==========================
role           metadata                                    graded as
=============  ==========================================  ==========================
``"test"``     ``grade: true, solution: false``            autograded, all-or-nothing
``"manual"``   ``grade: true, solution: true`` or ``task``  by hand (0 auto points)
``"solution"`` ``grade: false, solution: true``            not graded (student code)
``"locked"``   ``locked: true`` only                       not graded (read-only)
``None``       no nbgrader metadata                        not graded
=============  ==========================================  ==========================
"""
from __future__ import annotations

import json
from pathlib import Path

import nbformat

ROLES = ("test", "manual", "solution", "locked")


def nbgrader_meta(cell) -> dict:
    """The cell's ``metadata.nbgrader`` dict ({} when absent or malformed)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def role(cell) -> str | None:
    """The cell's grading role: "test", "manual", "solution", "locked" or None."""
    meta = nbgrader_meta(cell)
    if not meta:
        return None
    grade, solution = bool(meta.get("grade")), bool(meta.get("solution"))
    if meta.get("task"):
        return "manual"
    if grade and solution:
        return "manual"
    if grade:
        return "test" if cell.get("cell_type") == "code" else "manual"
    if solution:
        return "solution"
    if meta.get("locked"):
        return "locked"
    return None


def grade_id(cell) -> str | None:
    """The cell's ``grade_id`` when it has a grading role, else None."""
    gid = nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid and role(cell) else None


def points(cell) -> float:
    """Maximum points of a graded cell (0 for ungraded cells)."""
    if role(cell) not in ("test", "manual"):
        return 0.0
    try:
        return float(nbgrader_meta(cell).get("points", 0) or 0)
    except (TypeError, ValueError):
        return 0.0


def graded_cells(nb) -> list[tuple[str, str, float]]:
    """(grade_id, role, points) of every test or manual cell, in notebook order."""
    return [(grade_id(c), role(c), points(c)) for c in nb.cells
            if role(c) in ("test", "manual") and grade_id(c)]


def ids(nb) -> set[str]:
    """The set of grade_ids in a notebook (all roles)."""
    return {gid for c in nb.cells if (gid := grade_id(c))}


class NotebookError(ValueError):
    """A file that is not a readable Jupyter notebook; the message says why."""


def read_notebook(path) -> nbformat.NotebookNode:
    """Read and validate a notebook (v4); raise :class:`NotebookError` saying why it is unusable."""
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"not a file: {path}")
    if path.suffix != ".ipynb":
        raise NotebookError(f"not a notebook (expected a .ipynb file, got {path.name!r})")
    raw = path.read_bytes()
    if not raw.strip():
        raise NotebookError("empty file (0 bytes of notebook JSON)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise NotebookError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(f"corrupt notebook JSON ({exc.msg} at line {exc.lineno}, "
                            f"column {exc.colno})") from None
    if not isinstance(data, dict) or "cells" not in data or not isinstance(data["cells"], list):
        raise NotebookError("not a Jupyter notebook (JSON without a 'cells' list)")
    try:
        nb = nbformat.reads(json.dumps(data), as_version=4)
        nbformat.validate(nb)
    except Exception as exc:  # nbformat raises several types for invalid documents
        raise NotebookError(f"invalid notebook structure ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:200]})") from None
    return nb


def dumps(nb) -> str:
    """Deterministic notebook JSON (sorted keys, 1-space indent, trailing newline)."""
    text = nbformat.writes(nb, version=4)
    return text if text.endswith("\n") else text + "\n"


def has_outputs(nb) -> bool:
    """True when any code cell carries outputs or an execution count."""
    return any(c.cell_type == "code" and (c.get("outputs") or c.get("execution_count") is not None)
               for c in nb.cells)
