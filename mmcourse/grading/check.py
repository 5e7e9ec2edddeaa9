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
        _fail_plain(case, f"an array like {_short(expected)}",
                    f"{type(got).__name__} {_short(got)}", hint)
    e = np.asarray(expected, dtype=np.float64)
    if g.shape != e.shape:
        _fail_plain(case, f"shape {e.shape}", f"shape {g.shape}", hint)
    if not np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True):
        fail(case, e, g, hint)


def expect_equal(got, expected, case: str, hint: str = ""):
    """Fail unless ``got == expected`` (arrays: same shape and elements)."""
    if isinstance(expected, np.ndarray) or isinstance(got, np.ndarray):
        if np.shape(got) != np.shape(expected) or not np.array_equal(got, expected):
            fail(case, expected, got, hint)
    elif got != expected:
        fail(case, expected, got, hint)


def expect_raises(call: Callable, case: str, exception=ValueError, match: str | None = None,
                  hint: str = ""):
    """Fail unless ``call()`` raises ``exception`` (with ``match`` in its message, if given).

    Example: ``expect_raises(lambda: recall(scores, rel, k=0), "k=0")``.
    """
    name = getattr(exception, "__name__", str(exception))
    try:
        value = call()
    except exception as exc:
        if match is not None and match.lower() not in str(exc).lower():
            _fail_plain(case, f"{name} mentioning {match!r}", f"{name}: {exc}", hint)
        return
    except Exception as exc:  # noqa: BLE001 - report which exception came instead
        _fail_plain(case, f"{name}", f"{type(exc).__name__}: {exc}", hint)
    _fail_plain(case, f"{name}", f"no error (returned {_short(value, 60)})", hint)


def expect_ranking(got, scores, case: str, k: int | None = None, hint: str = "",
                   atol: float = 1e-9):
    """Fail unless ``got`` (item indices, best first) is a correct top-k ranking of ``scores``.

    Tie-tolerant: any order among items with equal scores is accepted, also at the top-k
    boundary. ``got`` is (k,) for one query or (n_queries, k); ``scores`` is (n_items,) or
    (n_queries, n_items), higher is better; ``k`` defaults to ``got``'s last dimension.
    """
    s = np.asarray(scores, dtype=np.float64)
    try:
        g = np.asarray(got)
    except (TypeError, ValueError):
        _fail_plain(case, "an array of item indices", type(got).__name__, hint)
    if g.dtype.kind not in "iu":
        if g.dtype.kind == "f" and g.size and np.all(np.isfinite(g)) and np.all(g == np.round(g)):
            g = g.astype(np.int64)
        else:
            _fail_plain(case, "integer item indices", _short(g), hint)
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise ValueError(f"k: expected an integer >= 1 or None, got {k!r}")
    single = s.ndim == 1
    s2, g2 = (s[None], g[None] if g.ndim == 1 else g) if single else (s, g)
    k = g2.shape[-1] if k is None else k
    if g2.ndim != 2 or g2.shape != (s2.shape[0], min(k, s2.shape[1])):
        want = (min(k, s2.shape[1]),) if single else (s2.shape[0], min(k, s2.shape[1]))
        _fail_plain(case, f"indices of shape {want}", f"shape {g.shape}", hint)
    for q, (row, sc) in enumerate(zip(g2, s2)):
        where = "" if single else f"query {q}: "
        if row.min() < 0 or row.max() >= sc.size:
            _fail_plain(case, f"{where}indices in [0, {sc.size - 1}]", _idx(row), hint)
        if len(set(row.tolist())) != row.size:
            _fail_plain(case, f"{where}each item at most once", _idx(row), hint)
        ranked = sc[row]
        for i in range(row.size - 1):
            if ranked[i] + atol < ranked[i + 1]:
                _fail_plain(case, f"{where}item {row[i + 1]} (score {_short(ranked[i + 1])}) "
                            f"ranked above item {row[i]} (score {_short(ranked[i])})",
                            f"the order {_idx(row)}", hint)
        rest = np.delete(sc, row)
        if rest.size and rest.max() > ranked.min() + atol:
            missing = int(np.delete(np.arange(sc.size), row)[np.argmax(rest)])
            _fail_plain(case, f"{where}item {missing} (score {_short(rest.max())}) in the top "
                        f"{row.size}", f"the top {row.size} {_idx(row)} without it", hint)


class _Plain(str):
    """A description printed as is (not quoted) in failure messages."""


def _idx(row) -> "_Plain":
    items = row.tolist()
    return _Plain(str(items) if len(items) <= 12 else str(items[:10])[:-1] + ", ...]")


def _short(x, limit: int = 160) -> str:
    if isinstance(x, _Plain):
        return str(x) if len(x) <= 2 * limit else x[: 2 * limit - 3] + "..."
    if isinstance(x, np.generic) or (isinstance(x, np.ndarray) and x.ndim == 0):
        x = x.item()
    if isinstance(x, float):
        text = f"{x:.6g}"
        text = text if any(ch in text for ch in ".enia") else text + ".0"
    elif isinstance(x, np.ndarray):
        with np.printoptions(precision=4, suppress=True, threshold=12, edgeitems=3):
            text = f"{np.array2string(x, separator=', ')} (shape {x.shape})"
    else:
        text = repr(x)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _fail_plain(case: str, expected: str, got: str, hint: str = ""):
    """:func:`fail` with descriptions (not values): printed without quotes."""
    fail(case, _Plain(expected), _Plain(got), hint)
