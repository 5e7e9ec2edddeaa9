"""Grading: learners' ``check()`` (:mod:`.check`) and the instructor's tools.

Instructor tools: :func:`mmcourse.grading.release.release` (student notebooks from solutions),
:func:`grade_submissions` (batch autograder), :func:`run_notebook` (capped, restartable
execution). They import nbformat, nbclient and nbgrader lazily, on first use.
"""
from __future__ import annotations

__all__ = ["grade_submissions", "release_notebook", "run_notebook"]


def __getattr__(name):
    if name == "grade_submissions":
        from .grade import grade_submissions

        return grade_submissions
    if name == "release_notebook":
        from .release import release_notebook

        return release_notebook
    if name == "run_notebook":
        from .kernel import run_notebook

        return run_notebook
    raise AttributeError(f"module 'mmcourse.grading' has no attribute {name!r}")
