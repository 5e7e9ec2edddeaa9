"""Make importing PyTorch and TensorFlow into one process safe, in either order.

With the CUDA build of torch used by this course, loading ``triton`` (torch loads it lazily
for optimizers, ``torch.compile`` and torchvision) *after* TensorFlow segfaults the process:
both ship native libraries that clash when triton's are loaded second. Loading triton
*before* TensorFlow is fine (measured: ``import triton; import tensorflow`` followed by a
training step in each framework runs cleanly). Hence two rules:

* ``prepare_tensorflow_import()`` (first statement of ``mmcourse.keras``): if TensorFlow is
  not loaded yet and triton is installed, import triton first (about 0.2 s, and it does not
  import torch), so a later ``import torch`` gets a working triton.
* ``prepare_torch_import()`` (first statement of ``mmcourse.torch``): if TensorFlow is already
  loaded and triton is not, block triton (``sys.modules["triton"] = None``) so torch treats it
  as unavailable (fine on CPU: optimizers fall back to their eager code; ``torch.compile``
  uses its C++ backend). If TensorFlow is not loaded, import triton now, so that a later plain
  ``import tensorflow`` by the learner cannot trigger the crash either.

``tests/test_framework_safety.py`` reproduces the raw crash and checks both orders.
"""
from __future__ import annotations

import importlib.util
import os
import sys

#: What the last ``prepare_*`` call did with triton: "not installed", "preloaded",
#: "already loaded", "blocked" (TensorFlow came first) or "" (not called yet).
TRITON_STATE = ""


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ start-up chatter unless the user chose a level already."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _triton_installed() -> bool:
    if "triton" in sys.modules:
        return sys.modules["triton"] is not None
    try:
        return importlib.util.find_spec("triton") is not None
    except (ImportError, ValueError):
        return False


def _preload_triton() -> str:
    """Import triton while TensorFlow is absent; a broken triton is simply left unloaded."""
    if sys.modules.get("triton") is not None:
        return "already loaded"
    if "triton" in sys.modules:  # blocked earlier
        return "blocked"
    if not _triton_installed():
        return "not installed"
    try:
        import triton  # noqa: F401
    except Exception:  # a triton that cannot load is one torch cannot use either
        sys.modules["triton"] = None
        return "blocked"
    return "preloaded"


def prepare_tensorflow_import() -> str:
    """Call before ``import tensorflow``: preload triton when it is still safe. Returns the state."""
    global TRITON_STATE
    quiet_tensorflow()
    if "tensorflow" in sys.modules:
        # Too late to preload; prepare_torch_import() will block triton if torch comes later.
        TRITON_STATE = "already loaded" if sys.modules.get("triton") is not None else (
            "blocked" if "triton" in sys.modules else "not loaded")
    else:
        TRITON_STATE = _preload_triton()
    return TRITON_STATE


def prepare_torch_import() -> str:
    """Call before ``import torch``: block triton after TensorFlow, else preload it. Returns the state."""
    global TRITON_STATE
    if "tensorflow" in sys.modules:
        if sys.modules.get("triton") is not None:
            TRITON_STATE = "already loaded"
        else:
            sys.modules["triton"] = None  # importing it now would segfault; torch copes without
            TRITON_STATE = "blocked"
    else:
        TRITON_STATE = _preload_triton()
    return TRITON_STATE
