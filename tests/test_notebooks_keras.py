"""A Keras learner can finish the course: notebooks 04, 05, 06 and the capstone (10) run on the Keras track.

The notebooks after 03 pick their framework with one switch, ``FRAMEWORK`` (read from
``$MMCOURSE_FRAMEWORK``, default "torch"); ``tests/test_notebooks.py`` executes them with torch.
Here each runs with ``MMCOURSE_FRAMEWORK=keras`` and must earn full marks, import TensorFlow and
never torch, and state in its prose only figures that this run printed. Scoring and the prose check
are the helpers of ``tests/test_notebooks.py`` and ``tests/test_prose_numbers.py``.
"""
import importlib.util
import tempfile

import nbformat
import pytest

from mmcourse.grading.cells import read_notebook
from mmcourse.grading.kernel import kernel_env, run_notebook
from mmcourse.grading.runner import warm_up
from mmcourse.tracks import ENV_VAR
from test_notebooks import CELL_TIMEOUT, NOTEBOOK_TIMEOUT, ROOT, score
from test_prose_numbers import ALLOW, prose_problems

NOTEBOOKS = ("04_similarity_and_search", "05_hashing", "06_evaluation", "10_capstone_search_engine")
#: appended to the executed copy: the switch reached the kernel, and one framework only was loaded
FRAMEWORK_PROBE = ("import sys\n"
                   "assert FRAMEWORK == 'keras' and track.name == 'keras', (FRAMEWORK, track)\n"
                   "assert 'tensorflow' in sys.modules, 'the Keras track did not load TensorFlow'\n"
                   "assert 'torch' not in sys.modules, 'a notebook on the Keras track imported torch'\n")

_EXECUTED: dict = {}


@pytest.fixture(scope="module")
def keras_models():
    """Train the cached Keras default models once, outside the cell time limits."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("tensorflow is not installed")
    row = warm_up("keras", timeout=1800)
    assert row is None or not row.failures, f"{row.name}: {row.failures}"


def execute_with_keras(name: str):
    """Run solution notebook ``name`` once with ``MMCOURSE_FRAMEWORK=keras`` (plus the probe cell)."""
    if name not in _EXECUTED:
        nb = read_notebook(ROOT / "solutions" / f"{name}.ipynb")
        nb.cells.append(nbformat.v4.new_code_cell(FRAMEWORK_PROBE))
        with tempfile.TemporaryDirectory(prefix="mmcourse-keras-") as tmp:
            _EXECUTED[name] = run_notebook(nb, tmp, cell_timeout=CELL_TIMEOUT,
                                           notebook_timeout=NOTEBOOK_TIMEOUT,
                                           env=kernel_env({ENV_VAR: "keras"}))
    return _EXECUTED[name]


def _params():
    return [pytest.param(n, id=n, marks=[pytest.mark.slow, pytest.mark.xdist_group(f"nbk-{n}")])
            for n in NOTEBOOKS]


@pytest.mark.parametrize("name", _params())
def test_solution_scores_full_marks_with_keras(name, keras_models):
    row = score(ROOT / "solutions" / f"{name}.ipynb", execute_with_keras(name))
    assert row.total > 0, f"{name} has no autograded test cells"
    assert row.ok, (f"{name} with {ENV_VAR}=keras: {row.passed}/{row.total} test cells passed\n"
                    + "\n".join(row.failures))
    assert row.points == row.max_points > 0, (row.points, row.max_points)


@pytest.mark.parametrize("name", _params())
def test_solution_prose_holds_with_keras(name, keras_models):
    problems = prose_problems(execute_with_keras(name).nb, ALLOW.get(name, ()))
    assert not problems, (f"{name} with {ENV_VAR}=keras: the prose states figures this run did not "
                          "print (a claim true for torch only?):\n" + "\n".join(problems))
