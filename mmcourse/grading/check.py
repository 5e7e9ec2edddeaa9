"""``check(grade_id, obj)``: immediate feedback for learners in visible test cells.

Each exercise registers a checker with :func:`register`. A checker receives the learner's
object (a function or a value) and raises :class:`CheckFailure` for the first failing case,
built with :func:`fail` or the comparison helpers below. ``check`` turns that into one
printed line and returns ``True`` / ``False``; it never raises for a wrong answer (an
exception inside the learner's code is reported as a failure too), but it does raise a
``ValueError`` for an unknown ``grade_id``.

Checkers live in ``mmcourse/grading/checks/<notebook>.py``, one module per notebook, and are
imported on first use.
"""
from __future__ import annotations

import importlib
import pkgutil
import traceback
from dataclasses import dataclass
from typing import Callable

import numpy as np

_REGISTRY: dict[str, "Checker"] = {}
_LOADED = False


@dataclass
class Checker:
    grade_id: str
    func: Callable
    why: str = ""


class CheckFailure(Exception):
    """A failing case: what was tried, what was expected, what came back, and a hint."""

    def __init__(self, case: str, expected, got, hint: str = ""):
        self.case, self.expected, self.got, self.hint = case, expected, got, hint
        super().__init__(self.message())

    def message(self) -> str:
        text = f"on {self.case}: expected {_short(self.expected)}, got {_short(self.got)}"
        return text + (f". Hint: {self.hint}" if self.hint else "")


def register(grade_id: str, why: str = ""):
    """Decorator registering ``func(obj, **kwargs)`` as the checker for ``grade_id``."""

    def deco(func):
        _REGISTRY[grade_id] = Checker(grade_id, func, why)
        return func

    return deco


def _load_all() -> None:
    global _LOADED
    if _LOADED:
        return
    from . import checks

    for mod in pkgutil.iter_modules(checks.__path__):
        importlib.import_module(f"{checks.__name__}.{mod.name}")
    _LOADED = True


def known_ids() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def check(grade_id: str, obj=None, **kwargs) -> bool:
    """Check a learner's answer for exercise ``grade_id``; print one line; return True/False."""
    _load_all()
    if grade_id not in _REGISTRY:
        raise ValueError(f"grade_id: expected one of the course's exercises "
                         f"(e.g. {', '.join(sorted(_REGISTRY)[:3])}, ...), got {grade_id!r}")
    checker = _REGISTRY[grade_id]
    if obj is None:
        print(f"✗ {grade_id}: nothing to check yet — pass your function or value to check().")
        return False
    try:
        checker.func(obj, **kwargs)
    except CheckFailure as failure:
        print(f"✗ {grade_id}: {failure.message()}")
        return False
    except NotImplementedError:
        print(f"✗ {grade_id}: not implemented yet — replace `raise NotImplementedError()` "
              f"with your solution.")
        return False
    except Exception as exc:  # the learner's code crashed on one of our cases
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (line {tb[-1].lineno})" if tb else ""
        print(f"✗ {grade_id}: your code raised {type(exc).__name__}: {exc}{where}")
        return False
    why = f" {checker.why}" if checker.why else ""
    print(f"✓ {grade_id} passed.{why}")
    return True


# ---------------------------------------------------------------- comparison helpers
def fail(case: str, expected, got, hint: str = ""):
    raise CheckFailure(case, expected, got, hint)


def expect_close(got, expected, case: str, hint: str = "", rtol: float = 1e-5, atol: float = 1e-6):
    """Fail unless ``got`` has ``expected``'s shape and values (within tolerance)."""
    try:
        g = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        fail(case, f"an array like {_short(expected)}", f"{type(got).__name__} {_short(got)}", hint)
    e = np.asarray(expected, dtype=np.float64)
    if g.shape != e.shape:
        fail(case, f"shape {e.shape}", f"shape {g.shape}", hint)
    if not np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True):
        fail(case, e, g, hint)


def expect_equal(got, expected, case: str, hint: str = ""):
    if isinstance(expected, np.ndarray) or isinstance(got, np.ndarray):
        if np.shape(got) != np.shape(expected) or not np.array_equal(got, expected):
            fail(case, expected, got, hint)
    elif got != expected:
        fail(case, expected, got, hint)


def _short(x, limit: int = 160) -> str:
    if isinstance(x, np.ndarray):
        with np.printoptions(precision=4, suppress=True, threshold=12, edgeitems=3):
            text = f"{np.array2string(x, separator=', ')} (shape {x.shape})"
    else:
        text = repr(x)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
