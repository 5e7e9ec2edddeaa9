"""Grading throughput: submissions graded per minute by ``mmcourse grade``.

Grades N copies of a correct submission (the solution itself) of one notebook: the course's
``solutions/00_welcome_and_data.ipynb`` when present, else the sample course's ``01_square``
(kernel start-up dominated). Environment: ``MMCOURSE_BENCH_NOTEBOOK`` (another notebook),
``MMCOURSE_BENCH_SUBMISSIONS`` (default 6), ``MMCOURSE_BENCH_JOBS`` (default: CPU cores).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "tests" / "sample_course" / "source" / "sample" / "01_square.ipynb"
COURSE = ROOT / "solutions" / "00_welcome_and_data.ipynb"


def main() -> dict:
    from mmcourse.grading import grade_submissions

    notebook = Path(os.environ.get("MMCOURSE_BENCH_NOTEBOOK",
                                   COURSE if COURSE.is_file() else SAMPLE))
    n = int(os.environ.get("MMCOURSE_BENCH_SUBMISSIONS", "6"))
    jobs = int(os.environ.get("MMCOURSE_BENCH_JOBS", str(os.cpu_count() or 1)))
    with tempfile.TemporaryDirectory(prefix="mmcourse-bench-grading-") as tmp:
        tmp = Path(tmp)
        for i in range(n):  # the solution notebook is a correct submission (full marks)
            (tmp / "subs" / f"student{i:03d}").mkdir(parents=True)
            shutil.copy(notebook, tmp / "subs" / f"student{i:03d}" / notebook.name)
        start = time.perf_counter()
        result = grade_submissions([tmp / "subs"], source=notebook.parent, out=tmp / "out",
                                   timeout=300, jobs=jobs, progress=False)
        seconds = time.perf_counter() - start
    full = sum(r.status == "ok" and r.total == r.max_points for r in result.rows)
    rate = 60.0 * n / seconds
    print(f"(g) grading — {n} submissions of {notebook.name}, {jobs} jobs")
    print(f"    {seconds:6.1f} s in all, {rate:6.1f} submissions/minute, {full}/{n} full marks")
    return {"notebook": notebook.name, "submissions": n, "jobs": jobs, "seconds": seconds,
            "per_minute": rate, "full_marks": full}


if __name__ == "__main__":
    main()
