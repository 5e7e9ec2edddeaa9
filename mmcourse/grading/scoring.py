"""Score an executed notebook: each test cell all-or-nothing, manual cells listed as "manual".

A test cell passes when it ran to the end without an error; anything it printed (including a
library warning on stderr) does not matter. Points always come from the *source* notebook's
metadata, which the grader restores before execution.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import cells as C
from .kernel import SKIPPED

PASSED, FAILED, MANUAL = "passed", "failed", "manual"


@dataclass
class CellScore:
    """One graded cell: its grade_id, outcome ("passed"/"failed"/"manual"), points and why."""

    grade_id: str
    outcome: str
    points: float
    max_points: float
    message: str = ""


def score_notebook(nb, outcomes) -> list[CellScore]:
    """Scores of every test/manual cell of an executed notebook, in notebook order."""
    scores = []
    for cell, outcome in zip(nb.cells, outcomes):
        kind, gid = C.role(cell), C.grade_id(cell)
        if kind not in ("test", "manual") or not gid:
            continue
        max_pts = C.points(cell)
        if kind == "manual":
            scores.append(CellScore(gid, MANUAL, 0.0, max_pts, "graded by hand"))
        elif outcome is not None and outcome.ok:
            scores.append(CellScore(gid, PASSED, max_pts, max_pts))
        else:
            why = outcome.summary() if outcome is not None else "not run"
            if outcome is not None and outcome.status == SKIPPED:
                why = outcome.summary()
            scores.append(CellScore(gid, FAILED, 0.0, max_pts, why))
    return scores


def totals(scores) -> tuple[float, float]:
    """(auto points earned, maximum points including manual cells)."""
    return sum(s.points for s in scores), sum(s.max_points for s in scores)
