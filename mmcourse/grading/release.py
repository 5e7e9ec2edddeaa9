"""``mmcourse release``: student notebooks from nbgrader-format solution notebooks.

Runs nbgrader's own preprocessors (the ``generate_assignment`` pipeline minus the header/footer
and database steps) on each ``solutions/*.ipynb`` and writes ``notebooks/<same name>``. Output is
deterministic (same input → byte-identical file), so ``--check`` simply compares bytes.
Solutions are committed without outputs: ``release`` strips them, ``--check`` fails on them.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path

from .cells import dumps, has_outputs, read_notebook


def _pipeline():
    """nbgrader's generate_assignment preprocessors, in nbgrader's order (no DB, no header)."""
    from nbgrader.preprocessors import (CheckCellMetadata, ClearHiddenTests, ClearMarkScheme,
                                        ClearOutput, ClearSolutions, ComputeChecksums, LockCells)

    return [LockCells(), ClearSolutions(), ClearOutput(), CheckCellMetadata(), ComputeChecksums(),
            ClearHiddenTests(), ClearMarkScheme(), ComputeChecksums(), CheckCellMetadata()]


def strip_outputs(nb):
    """A copy of ``nb`` without outputs, execution counts or run-time cell metadata."""
    from nbgrader.preprocessors import ClearOutput

    nb = copy.deepcopy(nb)
    _ensure_cell_ids(nb)
    nb, _ = ClearOutput().preprocess(nb, {})
    return nb


def release_notebook(nb):
    """The student version of a solution notebook (a new object; ``nb`` is not modified)."""
    nb = copy.deepcopy(nb)
    _ensure_cell_ids(nb)
    resources: dict = {}
    for pre in _pipeline():
        nb, resources = pre.preprocess(nb, resources)
    return nb


def _ensure_cell_ids(nb) -> None:
    """Give id-less cells a stable id (from grade_id or position) so output is deterministic."""
    if (nb.nbformat, nb.nbformat_minor) < (4, 5):
        return
    seen: set[str] = set()
    for i, cell in enumerate(nb.cells):
        cid = cell.get("id")
        if not cid or cid in seen:
            base = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell-{i}"
            cid = re.sub(r"[^a-zA-Z0-9_-]", "-", str(base))[:64] or f"cell-{i}"
            while cid in seen:
                cid = f"{cid[:58]}-{i}"
            cell["id"] = cid
        seen.add(cid)


@dataclass
class ReleaseReport:
    """What ``release`` did (or, with ``check=True``, what is out of date)."""

    written: list[Path] = field(default_factory=list)
    stripped: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def release(source="solutions", dest="notebooks", check: bool = False) -> ReleaseReport:
    """Build ``dest/*.ipynb`` from ``source/*.ipynb``; with ``check`` only report differences.

    With ``check=True`` nothing is written; ``report.problems`` names each student notebook that is
    out of date, missing or extra, and each solution notebook that carries outputs.
    """
    source, dest = Path(source), Path(dest)
    if not source.is_dir():
        raise ValueError(f"source: expected a folder of solution notebooks, got {str(source)!r}")
    if dest.exists() and not dest.is_dir():
        raise ValueError(f"dest: expected a folder for student notebooks, got file {str(dest)!r}")
    report = ReleaseReport()
    sources = sorted(p for p in source.glob("*.ipynb") if p.is_file())
    for path in sources:
        nb = read_notebook(path)
        clean = dumps(strip_outputs(nb))
        if clean.encode() != path.read_bytes():
            if check:
                why = "has outputs" if has_outputs(nb) else "is not in canonical form"
                report.problems.append(f"{path}: solution notebook {why} "
                                       f"(run `mmcourse release` to strip it)")
            else:
                path.write_text(clean, encoding="utf-8")
                report.stripped.append(path)
        target = dest / path.name
        text = dumps(release_notebook(nb))
        if target.is_file() and target.read_bytes() == text.encode():
            continue
        if check:
            state = "out of date" if target.exists() else "missing"
            report.problems.append(f"{target}: student notebook {state} (source {path})")
        else:
            dest.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            report.written.append(target)
    names = {p.name for p in sources}
    for extra in sorted(dest.glob("*.ipynb")) if dest.is_dir() else []:
        if extra.name not in names:
            report.problems.append(f"{extra}: extra student notebook with no source in {source}/")
    return report
