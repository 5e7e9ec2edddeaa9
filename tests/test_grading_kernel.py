"""The capped, restartable kernel runner behind grade and run."""
import os
import sys

import nbformat
import pytest

from mmcourse.grading.kernel import DEAD, ERROR, MEMORY, OK, SKIPPED, TIMEOUT, kernel_env, run_notebook

pytestmark = pytest.mark.xdist_group("grading-kernel")


def _nb(*sources):
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])


def _statuses(result):
    return [o.status if o else None for o in result.outcomes]


def test_cwd_is_the_given_folder_and_mmcourse_is_importable(tmp_path):
    nb = _nb("import os, mmcourse\nprint(os.getcwd())\nprint(os.environ.get('MPLBACKEND'))",
             "import sys; print(sys.executable)")
    result = run_notebook(nb, tmp_path, cell_timeout=30, memory_mb=None)
    assert _statuses(result) == [OK, OK]
    cwd, backend = result.outcomes[0].stdout.split("\n")[:2]
    assert cwd == str(tmp_path) and backend.lower() == "agg"
    assert result.outcomes[1].stdout.strip() == sys.executable


def test_kernel_env_puts_the_package_on_the_path():
    env = kernel_env({"EXTRA": "1"})
    root = os.path.dirname(os.path.dirname(os.path.abspath(__import__("mmcourse").__file__)))
    assert env["PYTHONPATH"].split(os.pathsep)[0] == root and env["EXTRA"] == "1"


@pytest.mark.slow
def test_errors_hangs_and_deaths_cost_one_cell_each_and_state_is_replayed(tmp_path):
    nb = _nb("x = 41",
             "x += 1",
             "1 / 0",
             "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass",
             "print('after ignoring interrupts', x)",
             "import os\nos._exit(3)",
             "print('after exit', x)",
             "def f(:\n    pass",
             "import sys\nsys.exit(2)",
             "print('end', x)")
    result = run_notebook(nb, tmp_path, cell_timeout=3, memory_mb=2048)
    assert _statuses(result) == [OK, OK, ERROR, TIMEOUT, OK, DEAD, OK, ERROR, ERROR, OK]
    assert result.outcomes[2].summary() == "ZeroDivisionError: division by zero"
    assert result.outcomes[3].restarted  # the interrupt was ignored: killed and restarted
    assert result.outcomes[4].stdout == "after ignoring interrupts 42\n"  # replayed x = 41; x += 1
    assert result.outcomes[6].stdout == "after exit 42\n"
    assert result.outcomes[7].ename == "SyntaxError"
    assert result.outcomes[9].stdout == "end 42\n"
    assert nb.cells[4].outputs[0]["text"] == "after ignoring interrupts 42\n"  # outputs land in nb


@pytest.mark.slow
def test_memory_cap_inside_the_kernel_and_on_the_process_tree(tmp_path):
    child = ("import subprocess, sys\n"
             "code = 'import time; b = b\"x\" * (300 * 2**20); time.sleep(60)'\n"
             "procs = [subprocess.Popen([sys.executable, '-c', code]) for _ in range(3)]\n"
             "[p.wait() for p in procs]")
    nb = _nb("y = 1", "big = [0] * (10**9)", "print('alive', y)", child, "print('restarted', y)")
    result = run_notebook(nb, tmp_path, cell_timeout=60, memory_mb=512)
    assert _statuses(result) == [OK, ERROR, OK, MEMORY, OK]
    assert result.outcomes[1].ename == "MemoryError"
    assert "memory limit exceeded" in result.outcomes[3].summary()
    assert result.outcomes[4].stdout == "restarted 1\n"


@pytest.mark.slow
def test_notebook_time_limit_skips_the_rest(tmp_path):
    nb = _nb("import time\ntime.sleep(30)", "print('never')")
    result = run_notebook(nb, tmp_path, cell_timeout=60, notebook_timeout=3, memory_mb=None)
    assert _statuses(result) == [TIMEOUT, SKIPPED]
    assert "notebook time limit" in result.outcomes[0].summary()
    assert result.outcomes[1].summary() == "not run: notebook time limit reached"
