"""Run the course benchmarks: ``python -m benchmarks [section ...]`` (``make bench``).

Each section is a module ``benchmarks/bench_<section>.py`` with a ``main()``. Sections run one
after another in a fixed order (core, data, training, keras, grading, widgets, then any other
module alphabetically), each in its own subprocess: torch and TensorFlow never share a process,
and no section's thread settings or imports leak into the next one's timings. Output streams
through as it is produced. With no argument every section runs. Exit status: 0 when every
section's ``main()`` returned normally, else 1.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ORDER = ("core", "data", "training", "keras", "grading", "widgets")


def available() -> list[str]:
    """Section names (``bench_<name>.py`` files here), in run order."""
    found = sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    return [s for s in ORDER if s in found] + [s for s in found if s not in ORDER]


def resolve(names: list[str]) -> list[str]:
    """The sections to run, in run order; accepts ``core`` and ``bench_core`` spellings."""
    sections = available()
    if not names:
        return sections
    wanted = {n[len("bench_"):] if n.startswith("bench_") else n for n in names}
    unknown = sorted(wanted - set(sections))
    if unknown:
        raise ValueError(f"section: expected one of {sections}, got {unknown}")
    return [s for s in sections if s in wanted]


def run_section(name: str) -> int:
    """Run ``benchmarks.bench_<name>.main()`` in a fresh interpreter; its exit status."""
    title = f" benchmark: {name} "
    print(f"\n{title:=^78}", flush=True)
    start = time.perf_counter()
    code = f"import benchmarks.bench_{name} as m; m.main()"
    rc = subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode
    status = "ok" if rc == 0 else f"FAILED (exit status {rc})"
    print(f"--- {name}: {status} in {time.perf_counter() - start:.1f} s", flush=True)
    return rc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", help=f"sections to run (default: all of {available()})")
    args = parser.parse_args(argv)
    try:
        sections = resolve(args.sections)
    except ValueError as exc:
        parser.error(str(exc))
    failed = [s for s in sections if run_section(s) != 0]
    if failed:
        print(f"\nfailed sections: {failed}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
