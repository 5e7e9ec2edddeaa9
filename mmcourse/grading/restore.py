"""Undo tampering: rebuild a submission around the instructor's source notebook.

Every source cell with a ``grade_id`` fixes a slot. Test, locked and other read-only cells are
taken from the *source* (with their hidden tests and points), whatever the student did to them:
edited, re-tagged (``grade: false``), renamed or deleted cells do not help — a missing one is
re-inserted at its place. Answer cells (``solution: true``) keep the student's source but get the
source's metadata back; a deleted answer cell becomes the released stub. Cells the student added
stay where they were, after the graded cell they followed.
"""
from __future__ import annotations

import copy

from . import cells as C


def raw_grade_id(cell) -> str | None:
    """The cell's ``grade_id`` whatever its (possibly tampered) flags say."""
    gid = C.nbgrader_meta(cell).get("grade_id")
    return gid if isinstance(gid, str) and gid else None


def match_source(filename: str, nb, sources: dict) -> str | None:
    """Name of the source notebook a submission belongs to: same file name, else most shared ids."""
    if filename in sources:
        return filename
    sub_ids = {gid for c in nb.cells if (gid := raw_grade_id(c))}
    best, best_score = None, 0.0
    for name, src in sorted(sources.items()):
        src_ids = {gid for c in src.cells if (gid := raw_grade_id(c))}
        if not src_ids:
            continue
        score = len(sub_ids & src_ids) / len(sub_ids | src_ids)
        if score > best_score:
            best, best_score = name, score
    return best


def _is_answer(cell) -> bool:
    return bool(C.nbgrader_meta(cell).get("solution"))


def restore(submission, source, released=None):
    """Return ``(notebook to execute, notes)``: ``submission`` merged into ``source``'s slots.

    ``released`` is the student version of ``source`` (answer stubs for deleted answer cells);
    it is computed when omitted.
    """
    if released is None:
        from .release import release_notebook

        released = release_notebook(source)
    stub = {raw_grade_id(c): c for c in released.cells if raw_grade_id(c)}
    src_ids = [raw_grade_id(c) for c in source.cells if raw_grade_id(c)]
    known = set(src_ids)

    answers: dict = {}
    attached: dict = {None: []}
    anchor = None
    for cell in submission.cells:
        cell = copy.deepcopy(cell)
        gid = raw_grade_id(cell)
        if gid in known and gid not in answers:
            answers[gid], anchor = cell, gid
            attached[gid] = []
            continue
        cell.get("metadata", {}).pop("nbgrader", None)  # unknown or duplicate id: plain student cell
        attached[anchor].append(cell)

    notes: list[str] = []
    out = copy.deepcopy(source)
    out.cells = list(attached[None])
    tail = 0  # where the cells attached to the previous slot start in out.cells
    for pos, src_cell in enumerate(source.cells):
        gid = raw_grade_id(src_cell)
        if gid is None:
            continue
        at = len(out.cells)
        if gid not in answers:  # re-insert before source prose/code that follows it in the source
            later = {c.source for c in source.cells[pos + 1:] if raw_grade_id(c) is None}
            at = next((j for j in range(tail, len(out.cells)) if out.cells[j].source in later), at)
        theirs = answers.get(gid)
        if _is_answer(src_cell):
            if theirs is None or theirs.get("cell_type") != src_cell.cell_type:
                notes.append(f"answer cell {gid} was missing; graded as the empty stub")
                cell = copy.deepcopy(stub.get(gid, src_cell))
            else:
                cell = theirs
                cell["metadata"]["nbgrader"] = copy.deepcopy(src_cell.metadata["nbgrader"])
        else:
            cell = copy.deepcopy(src_cell)
            if theirs is None:
                notes.append(f"cell {gid} was deleted; re-inserted from the source")
            elif theirs.get("source") != stub.get(gid, src_cell).get("source") or \
                    C.role(theirs) != C.role(src_cell):
                notes.append(f"cell {gid} was modified; restored from the source")
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        out.cells.insert(at, cell)
        tail = len(out.cells)
        out.cells.extend(attached.get(gid, []))
    for i, cell in enumerate(out.cells):  # unique ids: student copies may repeat them
        if (out.nbformat, out.nbformat_minor) >= (4, 5):
            cell["id"] = f"graded-{i}"
        else:
            cell.pop("id", None)
    return out, notes
