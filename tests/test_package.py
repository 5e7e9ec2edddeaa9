"""The installed package: framework-free imports, version, lazy names, CLI entry points."""
from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import mmcourse

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORK_FREE = ("data", "text", "similarity", "index", "hashing", "metrics", "fusion", "search",
                  "widgets", "plots", "grading")


def _python(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180)


@pytest.mark.parametrize("module", ("mmcourse",) + tuple(f"mmcourse.{m}" for m in FRAMEWORK_FREE))
def test_framework_free_modules_load_neither_torch_nor_tensorflow(module, tmp_path):
    code = (f"import sys, json, importlib; importlib.import_module({module!r}); "
            "print(json.dumps(sorted(m for m in ('torch', 'tensorflow', 'keras') if m in sys.modules)))")
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [], f"{module} imported a framework"


def test_version_matches_pyproject():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert mmcourse.__version__ == meta["project"]["version"]


def test_lazy_public_names_resolve():
    from mmcourse.data import load_dataset
    from mmcourse.grading.check import check

    assert mmcourse.check is check and mmcourse.load_dataset is load_dataset
    assert callable(mmcourse.CaptionDataset)
    with pytest.raises(AttributeError, match="no_such_name"):
        mmcourse.no_such_name  # noqa: B018


def test_python_dash_m_help(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mmcourse", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage" in result.stdout.lower()


def test_console_script_help(tmp_path):
    script = Path(sys.executable).parent / "mmcourse"
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    result = subprocess.run([str(script), "--help"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage" in result.stdout.lower()


def test_benchmark_sections_resolve_in_fixed_order():
    code = ("import benchmarks.__main__ as b, json; "
            "print(json.dumps([b.available(), b.resolve(['widgets', 'bench_core']), b.resolve([])]))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    available, named, every = json.loads(result.stdout)
    found = sorted(p.stem[len("bench_"):] for p in (ROOT / "benchmarks").glob("bench_*.py"))
    assert sorted(available) == found and every == available
    order = [s for s in ("core", "data", "training", "keras", "grading", "widgets") if s in found]
    assert available[:len(order)] == order
    assert named == [s for s in available if s in ("core", "widgets")]


def test_benchmark_unknown_section_lists_the_available_ones():
    result = subprocess.run([sys.executable, "-m", "benchmarks", "no_such_section"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no_such_section" in result.stderr and "expected one of" in result.stderr
    assert "'core'" in result.stderr


@pytest.mark.parametrize("path", sorted((ROOT / "benchmarks").glob("bench_*.py")), ids=lambda p: p.stem)
def test_every_benchmark_module_has_a_main(path):
    code = f"import benchmarks.{path.stem} as m; assert callable(m.main)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
