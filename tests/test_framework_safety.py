"""Importing TensorFlow and PyTorch into one process, in either order, must not crash.

With the course's CUDA build of torch, loading ``triton`` after TensorFlow segfaults (see
``mmcourse/_frameworks.py``). Each case runs in a fresh subprocess and ends with a real training
step of the package in each framework. Tests that need torch skip when it is not installed.
"""
import importlib.metadata
import importlib.util
import os
import signal
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.skipif(
    importlib.util.find_spec("tensorflow") is None, reason="TensorFlow not installed")]
needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")

KERAS_STEP = """
import mmcourse.keras as mk
_m, _h = mk.train_dual_encoder(DATA, steps=2, batch_size=8, progress=False, eval_images=8)
assert len(_h["loss"]) == 2
print("keras step ok", flush=True)
"""
TORCH_STEP = """
import mmcourse.torch as mt
_m, _h = mt.train_dual_encoder(DATA, steps=2, batch_size=8, progress=False, eval_images=8)
assert len(_h["loss"]) == 2
print("torch step ok", flush=True)
"""
DATA = """
from mmcourse.data import make_shapes
DATA = make_shapes(40, seed=3, split_sizes=(24, 8, 8), cache=False)
"""


def run(code: str, tmp_path, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MMCOURSE_CACHE=str(tmp_path / "cache"),
               CUDA_VISIBLE_DEVICES="", PYTHONFAULTHANDLER="")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=str(tmp_path))


def _assert_ok(proc):
    assert proc.returncode == 0, (f"exit code {proc.returncode}\nstdout:\n{proc.stdout[-2000:]}\n"
                                  f"stderr:\n{proc.stderr[-3000:]}")


@needs_torch
def test_raw_crash_reproduction(tmp_path):
    """The bug the package guards against: triton loaded after TensorFlow kills the process."""
    # ask the installed distributions, not the import system: in this process mmcourse's own
    # guard may already hide triton (it does once TensorFlow is loaded)
    try:
        importlib.metadata.distribution("triton")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("triton is not installed, so the TensorFlow-then-triton crash cannot happen")
    proc = run("import tensorflow\nimport triton\nprint('survived', flush=True)\n", tmp_path)
    if proc.returncode == 0:
        pytest.skip("TensorFlow followed by triton no longer crashes with these versions; "
                    "the guard in mmcourse/_frameworks.py is then harmless")
    assert proc.returncode == -signal.SIGSEGV, proc.stderr[-2000:]


@needs_torch
def test_keras_then_torch(tmp_path):
    proc = run(DATA + "import mmcourse.keras\nimport mmcourse.torch\n" + KERAS_STEP + TORCH_STEP,
               tmp_path)
    _assert_ok(proc)
    assert "keras step ok" in proc.stdout and "torch step ok" in proc.stdout


@needs_torch
def test_torch_then_keras(tmp_path):
    proc = run(DATA + "import mmcourse.torch\nimport mmcourse.keras\n" + TORCH_STEP + KERAS_STEP
               + TORCH_STEP, tmp_path)
    _assert_ok(proc)
    assert proc.stdout.count("torch step ok") == 2


@needs_torch
def test_plain_tensorflow_first_then_mmcourse_torch(tmp_path):
    """A learner who imported TensorFlow directly: torch then runs with triton blocked."""
    code = ("import tensorflow\n" + DATA + "import mmcourse.torch\nimport mmcourse._frameworks as f\n"
            "print('state', f.TRITON_STATE)\n" + TORCH_STEP + KERAS_STEP)
    proc = run(code, tmp_path)
    _assert_ok(proc)
    assert "state blocked" in proc.stdout


@needs_torch
def test_mmcourse_torch_then_plain_tensorflow(tmp_path):
    """mmcourse.torch preloads triton, so a later plain ``import tensorflow`` is harmless."""
    code = DATA + "import mmcourse.torch\nimport tensorflow\n" + TORCH_STEP + KERAS_STEP
    _assert_ok(run(code, tmp_path))


def test_keras_never_imports_torch(tmp_path):
    code = """
    import sys
    import mmcourse
    assert "torch" not in sys.modules and "tensorflow" not in sys.modules, "import mmcourse is heavy"
    import mmcourse.keras
    assert "torch" not in sys.modules, "mmcourse.keras imported torch"
    import mmcourse.grading.check
    print("clean", flush=True)
    """
    proc = run(code, tmp_path)
    _assert_ok(proc)
    assert "clean" in proc.stdout
