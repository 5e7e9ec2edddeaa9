"""The solution notebooks' own answers, executed outside a kernel, for checker tests.

``answers("04_similarity_and_search")`` runs each answer cell (``solution: true``) of that solution
notebook in one namespace that holds numpy (and, where a cell needs it, what the notebook's
import cells import without a framework), and returns ``{grade_id: namespace}``. Tests use
them as "a correct answer written by hand": they never delegate to the package's twins.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def answers(stem: str) -> dict:
    nb = nbformat.read(ROOT / "solutions" / f"{stem}.ipynb", as_version=4)
    ns: dict = {"np": np, "__name__": f"solution_{stem.split('_')[0]}"}
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution") and not meta.get("grade"):
            exec(compile(cell.source, f"<{stem}:{meta['grade_id']}>", "exec"), ns)
            out[meta["grade_id"]] = ns
    return out


def answer(stem: str, grade_id: str, name: str):
    """The object ``name`` defined by the answer cell ``grade_id`` of notebook ``stem``."""
    return answers(stem)[grade_id][name]
