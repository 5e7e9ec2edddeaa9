"""Code the grader runs (silently) in the kernel right before each test cell.

It undoes the cheap ways a submission could make tests pass without a correct answer:

* ``mmcourse.check = lambda *a: True`` or a replaced/overridden checker: the check module and
  the ``mmcourse.grading.checks.*`` modules that define the checkers the test cell calls are
  reloaded, so those checkers are the course's own again (the module of each id is looked up
  in the grader's own process, not in the kernel the submission controls);
* a custom IPython exception handler that swallows errors is removed (the kernel's execute reply
  is also consulted, see :mod:`.kernel`).

In-process grading cannot stop a determined attacker (nor can nbgrader); this closes the obvious
holes, and the instructor's test source is always restored from ``solutions/``.
"""

import re

_CHECK_CALL = re.compile(r"check\(\s*[\"']([^\"']+)[\"']")

_TEMPLATE = r'''
def _mmcourse_harden(modules):
    import importlib
    import sys

    get_ipython().custom_exceptions = ()
    mm = sys.modules.get("mmcourse")
    if mm is not None:
        mm.__dict__.pop("check", None)
    mod = sys.modules.get("mmcourse.grading.check")
    if mod is None:
        return
    keep = dict(getattr(mod, "_REGISTRY", {}))
    failure = getattr(mod, "CheckFailure", None)
    mod = importlib.reload(mod)
    if isinstance(failure, type) and issubclass(failure, Exception):
        mod.CheckFailure = failure  # notebook-defined checkers raise the class they imported
    for name in modules:
        if name in sys.modules:
            importlib.reload(sys.modules[name])
    mod._load_all()
    for key, value in keep.items():
        mod._REGISTRY.setdefault(key, value)


_mmcourse_harden(%r)
del _mmcourse_harden
'''


def harden_code(test_source: str) -> str:
    """The code to run before a test cell whose source is ``test_source``."""
    from .check import _REGISTRY, _load_all

    _load_all()
    modules = sorted({_REGISTRY[gid].func.__module__ for gid in _CHECK_CALL.findall(test_source)
                      if gid in _REGISTRY})
    return _TEMPLATE % (modules,)
