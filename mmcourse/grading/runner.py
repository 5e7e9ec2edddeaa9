"""``mmcourse run``: execute solution notebooks headless and tabulate time and test results.

Each notebook runs from a temporary copy in a temporary working directory, so ``solutions/``
never receives outputs. Before the notebooks, the default models are trained/cached in a
subprocess ("warm-up" row) so notebook timings measure the notebooks, not first-time training.
"""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .cells import read_notebook
from .kernel import run_notebook
from .._model_cache import COURSE_MODELS
from .scoring import FAILED, PASSED, score_notebook, totals

# The cached models the notebooks load (``mmcourse._model_cache.COURSE_MODELS``), per track.
WARMUPS = {track: f"import mmcourse.{track} as m; " + "; ".join(
               f"m.load_default_model(variant={v!r}, progress=False"
               + "".join(f", {k}={val!r}" for k, val in overrides.items()) + ")"
               for v, overrides in models)
           for track, models in COURSE_MODELS.items()}


@dataclass
class RunRow:
    """One line of the ``mmcourse run`` table."""

    name: str
    seconds: float
    passed: int
    total: int
    points: float
    max_points: float
    failures: list

    @property
    def ok(self) -> bool:
        return self.passed == self.total and not self.failures


def tracks_needed(paths) -> list[str]:
    """Framework tracks whose default model the notebooks use: Keras for ``NNk_*``; for the others
    the framework ``$MMCOURSE_FRAMEWORK`` picks (``mmcourse.tracks``; torch when unset)."""
    import os

    neutral = os.environ.get("MMCOURSE_FRAMEWORK", "torch").strip().lower() or "torch"
    keras = [bool(re.match(r"\d+k_", Path(p).name)) for p in paths]
    needed = {"keras"} if any(keras) else set()
    if not all(keras):
        needed.add(neutral if neutral in WARMUPS else "torch")
    return [t for t in ("torch", "keras") if t in needed]


def warm_up(track: str, timeout: float = 1200) -> RunRow | None:
    """Build the default-model cache of ``track`` ("torch"/"keras") in a subprocess, timed."""
    if importlib.util.find_spec(track) is None or importlib.util.find_spec(f"mmcourse.{track}") is None:
        return None
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-c", WARMUPS[track]], capture_output=True,
                              text=True, timeout=timeout)
        failures = [] if proc.returncode == 0 else [
            f"exit {proc.returncode}: {(proc.stderr.strip().splitlines() or [''])[-1][:200]}"]
    except subprocess.TimeoutExpired:
        failures = [f"timed out after {timeout:.0f} s"]
    return RunRow(f"warm-up ({track})", time.monotonic() - start, 0, 0, 0.0, 0.0, failures)


def run_one(path, cell_timeout: float = 300, notebook_timeout: float | None = None,
            memory_mb: int | None = None) -> RunRow:
    """Execute one notebook from a temp copy; count its test cells that pass."""
    path = Path(path)
    nb = read_notebook(path)
    with tempfile.TemporaryDirectory(prefix="mmcourse-run-") as tmp:
        result = run_notebook(nb, tmp, cell_timeout=cell_timeout,
                              notebook_timeout=notebook_timeout, memory_mb=memory_mb)
    return score_run(path.stem, result)


def score_run(name: str, result) -> RunRow:
    """The table row of an executed notebook (``run_notebook``'s result): its test cells that
    passed, their points, and every failure, test cell or not."""
    scores = score_notebook(result.nb, result.outcomes)
    tests = [s for s in scores if s.outcome in (PASSED, FAILED)]
    got, best = totals(tests)
    failures = [f"{s.grade_id}: {s.message}" for s in tests if s.outcome == FAILED]
    test_cells = {id(c) for c in result.nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    failures += [f"cell {i} (not a test cell): {o.summary()}"
                 for i, (c, o) in enumerate(zip(result.nb.cells, result.outcomes))
                 if o is not None and not o.ok and id(c) not in test_cells]
    passed = sum(s.outcome == PASSED for s in tests)
    return RunRow(name, result.seconds, passed, len(tests), got, best, failures)


def format_table(rows) -> str:
    """A plain-text table: notebook, seconds, tests passed/total, points."""
    lines = [f"{'notebook':<36} {'seconds':>8} {'tests':>7} {'points':>11}"]
    for r in rows:
        tests = f"{r.passed}/{r.total}" if r.total else "-"
        pts = f"{r.points:g}/{r.max_points:g}" if r.total else "-"
        flag = "" if r.ok else "  FAILED"
        lines.append(f"{r.name:<36} {r.seconds:>8.1f} {tests:>7} {pts:>11}{flag}")
        lines.extend(f"    {f}" for f in r.failures)
    total_s = sum(r.seconds for r in rows)
    lines.append(f"{'total':<36} {total_s:>8.1f}")
    return "\n".join(lines)
