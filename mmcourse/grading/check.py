"""``check(grade_id, obj)``: immediate feedback for learners in visible test cells.

Each exercise registers a checker with :func:`register`. A checker receives the learner's
object (a function or a value) and raises :class:`CheckFailure` for the first failing case,
built with :func:`fail` or the comparison helpers below. ``check`` turns that into one
printed line and returns ``True`` / ``False``; it never raises for a wrong answer (an
exception inside the learner's code is reported as a failure too), but it does raise a
``ValueError`` for an unknown ``grade_id``.

**Delegation scores 0.** An exercise may name its *twins*: the package's own implementations
of the same exercise (``register(..., twins=("mmcourse.similarity:top_k",))``). While its
checker runs, each twin is swapped for a sentinel — in the package modules (aliases such as
``mmcourse.metrics.mean_average_precision`` included, matched by identity) and in the namespace
the learner's code sees (``fn.__globals__``: ``from ... import top_k as tk`` too); a class method
twin is swapped on its class. The sentinel behaves exactly like the original unless the call
comes from the learner's code (a frame of the learner's namespace between the sentinel and
``check``); then the check fails with "your answer calls mmcourse's own top_k". So a checker
(or a package function it calls) may still use the reference. Everything is restored afterwards,
even on error. An answer that *is* a twin (``top_k_search = top_k``, a ``functools.partial`` of
it or a copy sharing its code) is refused the same way.

Checkers live in ``mmcourse/grading/checks/<notebook>.py``, one module per notebook, and are
imported on first use.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
import sys
import traceback
import types
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
    twins: tuple = ()


class CheckFailure(Exception):
    """A failing case: what was tried, what was expected, what came back, and a hint."""

    def __init__(self, case: str, expected, got, hint: str = ""):
        self.case, self.expected, self.got, self.hint = case, expected, got, hint
        super().__init__(self.message())

    def message(self) -> str:
        text = f"on {self.case}: expected {_short(self.expected)}, got {_short(self.got)}"
        return text + (f". Hint: {self.hint}" if self.hint else "")


def register(grade_id: str, why: str = "", twins=()):
    """Decorator registering ``func(obj, **kwargs)`` as the checker for ``grade_id``.

    ``twins`` names the package's own implementations of the same exercise, each as
    ``"module:attribute"`` or ``"module:Class.method"`` (e.g. ``"mmcourse.similarity:top_k"``);
    an answer that calls one of them fails the check (see the module docstring).
    """
    if isinstance(twins, str):
        twins = (twins,)
    for twin in twins:
        if not isinstance(twin, str) or twin.count(":") != 1:
            raise ValueError(f"twins: expected 'module:attribute' strings, got {twin!r}")

    def deco(func):
        _REGISTRY[grade_id] = Checker(grade_id, func, why, tuple(twins))
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


def twins_of(grade_id: str) -> tuple:
    """The ``"module:attribute"`` twins registered for ``grade_id`` (empty when none)."""
    _load_all()
    return _REGISTRY[grade_id].twins if grade_id in _REGISTRY else ()


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
    guard = _DelegationGuard(checker.twins, obj)
    if guard.direct is not None:
        print(f"✗ {grade_id}: {_delegation_message(guard.direct)}")
        return False
    try:
        with guard:
            _run_checker(checker.func, obj, kwargs)
        if guard.fired:
            raise Delegated(guard.fired[0])
    except Delegated as exc:
        print(f"✗ {grade_id}: {_delegation_message(exc.twin)}")
        return False
    except CheckFailure as failure:
        if guard.fired:
            print(f"✗ {grade_id}: {_delegation_message(guard.fired[0])}")
            return False
        print(f"✗ {grade_id}: {failure.message()}")
        return False
    except NotImplementedError:
        print(f"✗ {grade_id}: not implemented yet — replace `raise NotImplementedError()` "
              f"with your solution.")
        return False
    except Exception as exc:  # the learner's code crashed on one of our cases
        if guard.fired:
            print(f"✗ {grade_id}: {_delegation_message(guard.fired[0])}")
            return False
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" (line {tb[-1].lineno})" if tb else ""
        print(f"✗ {grade_id}: your code raised {type(exc).__name__}: {exc}{where}")
        return False
    why = f" {checker.why}" if checker.why else ""
    print(f"✓ {grade_id} passed.{why}")
    return True


# ---------------------------------------------------------------- delegation guard
class Delegated(BaseException):
    """Raised by a twin's sentinel when the learner's code calls it (a BaseException, so that
    ``except Exception`` in the answer does not swallow it)."""

    def __init__(self, twin: str):
        self.twin = twin
        super().__init__(f"the answer called mmcourse's own {twin}")


def _delegation_message(twin: str) -> str:
    name = twin.split(":")[1]
    where = twin.replace(":", ".")
    return (f"your answer calls mmcourse's own {name} ({where}); write it yourself — "
            f"an answer that hands the exercise to the package scores 0.")


_FRAMEWORK_OF = {"mmcourse.torch": ("torch",), "mmcourse.keras": ("keras", "tensorflow")}


def _resolve(twin: str):
    """(owner, attribute name, original object) of a twin, or None when it is not loadable
    without importing a framework the learner's process has not imported."""
    module_name, qual = twin.split(":")
    module = sys.modules.get(module_name)
    if module is None:
        for prefix, frameworks in _FRAMEWORK_OF.items():
            if module_name == prefix or module_name.startswith(prefix + "."):
                if not any(f in sys.modules for f in frameworks):
                    return None
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            return None
    owner = module
    *path, attr = qual.split(".")
    for part in path:
        owner = getattr(owner, part, None)
        if owner is None:
            return None
    if isinstance(owner, type):
        return (owner, attr, vars(owner)[attr]) if attr in vars(owner) else None
    try:  # a module attribute; lazy ones (module ``__getattr__``) are swapped where they live
        return owner, attr, getattr(owner, attr)
    except AttributeError:
        return None


def _callable_of(raw):
    """The plain function behind a (static/class) method or a function."""
    return raw.__func__ if isinstance(raw, (staticmethod, classmethod)) else raw


def _learner_namespaces(obj) -> list[dict]:
    """Global namespaces of the learner's answer: its functions', its methods', __main__'s."""
    found: list[dict] = []

    def add(fn):
        g = getattr(fn, "__globals__", None)
        if isinstance(g, dict) and not any(g is f for f in found) and \
                not str(g.get("__name__", "")).startswith("mmcourse"):
            found.append(g)

    seen: set[int] = set()

    def visit(x, depth=0):
        if id(x) in seen or depth > 3:
            return
        seen.add(id(x))
        if isinstance(x, functools.partial):
            visit(x.func, depth + 1)
        elif isinstance(x, types.MethodType):
            visit(x.__func__, depth + 1)
        elif isinstance(x, types.FunctionType):
            add(x)
        elif isinstance(x, type):
            for klass in x.__mro__:
                if klass.__module__.split(".")[0] in ("builtins", "mmcourse", "keras", "torch",
                                                        "tensorflow", "numpy"):
                    continue
                for value in vars(klass).values():
                    visit(_callable_of(value), depth + 1)
                    if isinstance(value, property):
                        for f in (value.fget, value.fset):
                            if f is not None:
                                visit(f, depth + 1)
        elif callable(x) and not isinstance(x, types.BuiltinFunctionType):
            visit(type(x), depth + 1)

    visit(obj)
    main = sys.modules.get("__main__")
    if main is not None:
        add(types.SimpleNamespace(__globals__=vars(main)))
    return found


class _DelegationGuard:
    """Context manager swapping an exercise's twins for sentinels (see the module docstring)."""

    def __init__(self, twins, obj):
        self.fired: list[str] = []
        self.direct: str | None = None
        self._swaps: list = []
        self._twins = []
        for twin in twins:
            resolved = _resolve(twin)
            if resolved is not None:
                self._twins.append((twin, *resolved))
        if not self._twins:
            return
        self._namespaces = _learner_namespaces(obj)
        target = obj.func if isinstance(obj, functools.partial) else obj
        target = getattr(target, "__func__", target)
        for twin, _owner, _attr, raw in self._twins:
            orig = _callable_of(raw)
            code = getattr(orig, "__code__", None)
            if target is orig or (code is not None and getattr(target, "__code__", None) is code):
                self.direct = twin
                break

    def _sentinel(self, twin: str, orig):
        guard = self

        @functools.wraps(orig)
        def sentinel(*args, **kwargs):
            if guard._called_by_learner():
                guard.fired.append(twin)
                raise Delegated(twin)
            return orig(*args, **kwargs)

        sentinel.__mmcourse_sentinel__ = True
        return sentinel

    def _called_by_learner(self) -> bool:
        frame = sys._getframe(2)
        while frame is not None and frame.f_code is not _GUARD_STOP:
            if any(frame.f_globals is ns for ns in self._namespaces):
                return True
            frame = frame.f_back
        return False

    def __enter__(self):
        try:
            for twin, owner, attr, raw in self._twins:
                orig = _callable_of(raw)
                sentinel = self._sentinel(twin, orig)
                if isinstance(owner, type):  # a method: swap it on its class only
                    wrapped = type(raw)(sentinel) if isinstance(raw, (staticmethod, classmethod)) \
                        else sentinel
                    self._swaps.append((owner, attr, raw, wrapped))
                    setattr(owner, attr, wrapped)
                    continue
                spaces = [vars(m) for name, m in list(sys.modules.items())
                          if m is not None and (name == "mmcourse" or name.startswith("mmcourse."))]
                spaces += self._namespaces
                for ns in spaces:
                    for key, value in list(ns.items()):
                        if value is orig:
                            self._swaps.append((ns, key, orig, sentinel))
                            ns[key] = sentinel
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        for where, key, orig, sentinel in reversed(self._swaps):
            if isinstance(where, dict):
                if where.get(key) is sentinel:
                    where[key] = orig
            elif vars(where).get(key) is sentinel:
                setattr(where, key, orig)
        self._swaps.clear()
        return False


def _run_checker(func, obj, kwargs):
    return func(obj, **kwargs)


_GUARD_STOP = _run_checker.__code__


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
