"""The ``mmcourse`` command line: ``release``, ``grade`` and ``run`` (see ``mmcourse -h``)."""
from __future__ import annotations

import argparse
import sys


def _positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return value
    return parse


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mmcourse", description="mmcourse instructor tools")
    sub = parser.add_subparsers(dest="command", required=True)

    rel = sub.add_parser("release", help="build student notebooks/ from solutions/ (exit 1 on "
                                          "any problem, e.g. an extra student notebook)")
    rel.add_argument("--check", action="store_true",
                     help="write nothing; exit 1 naming each notebook out of date, missing or extra")
    rel.add_argument("--source", default="solutions", help="solution notebooks (default: solutions)")
    rel.add_argument("--dest", default="notebooks", help="student notebooks (default: notebooks)")

    gr = sub.add_parser("grade", help="autograde submissions into grades.csv and feedback files "
                                      "(exit 1 when a row has a grader error)")
    gr.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                    help="notebooks, DIR/<student>/<notebook>.ipynb folders, or both")
    gr.add_argument("--source", default="solutions", help="solution notebooks (default: solutions)")
    gr.add_argument("--out", default="grades", help="output folder (default: grades)")
    gr.add_argument("--timeout", type=_positive(float), default=60, help="seconds per cell (60)")
    gr.add_argument("--notebook-timeout", type=_positive(float), default=600,
                    help="wall-clock seconds per submission (600)")
    gr.add_argument("--memory", type=_positive(int), default=4096, help="MB per kernel (4096)")
    gr.add_argument("--jobs", type=_positive(int), default=None,
                    help="submissions graded in parallel (default: number of CPU cores)")
    gr.add_argument("--no-progress", action="store_true", help="no progress bar")

    run = sub.add_parser("run", help="execute solution notebooks headless; print times and scores")
    run.add_argument("notebooks", nargs="*", metavar="NOTEBOOK",
                     help="notebooks to run (default: solutions/*.ipynb)")
    run.add_argument("--source", default="solutions", help="folder used when no NOTEBOOK is given")
    run.add_argument("--timeout", type=_positive(float), default=300, help="seconds per cell (300)")
    run.add_argument("--no-warmup", action="store_true", help="skip the default-model warm-up")
    run.add_argument("--retrain", action="store_true",
                     help="first retrain every cached model the course loads, from scratch, and "
                          "ship them in data/models/ (with MANIFEST.json)")
    run.add_argument("--models-only", action="store_true",
                     help="with --retrain: stop after shipping the models (run no notebook)")
    return parser


def _release(args) -> int:
    from .grading.release import release

    report = release(args.source, args.dest, check=args.check)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    sys.stderr.flush()
    if args.check:
        print("release check: " + ("notebooks are up to date" if report.ok else
                                   f"{len(report.problems)} problem(s)"))
        return 0 if report.ok else 1
    for path in report.stripped:
        print(f"stripped outputs from {path}")
    for path in report.written:
        print(f"wrote {path}")
    print(f"release: {len(report.written)} notebook(s) written, others up to date"
          + (f"; {len(report.problems)} problem(s) reported above" if report.problems else ""))
    return 0 if report.ok else 1


def _grade(args) -> int:
    from .grading.grade import grade_submissions

    result = grade_submissions(args.submissions, source=args.source, out=args.out,
                               timeout=args.timeout, notebook_timeout=args.notebook_timeout,
                               memory_mb=args.memory, jobs=args.jobs,
                               progress=not args.no_progress)
    for row in result.rows:
        print(f"{row.student:<20} {row.notebook:<32} {row.total:g}/{row.max_points:g}  {row.status}")
    print(f"wrote {result.csv_path} and {len(result.feedback_paths)} feedback file(s)")
    broken = [r for r in result.rows if r.status.startswith("grader error")]
    if broken:  # the grader failed (not the student): the gradebook is incomplete
        print(f"mmcourse grade: {len(broken)} submission(s) hit a grader error: "
              + ", ".join(f"{r.student}/{r.filename}" for r in broken), file=sys.stderr)
        return 1
    return 0


def _run(args) -> int:
    from pathlib import Path

    from .grading.runner import format_table, run_one, tracks_needed, warm_up

    paths = [Path(p) for p in args.notebooks] or sorted(Path(args.source).glob("*.ipynb"))
    if not paths:
        print(f"run: no notebooks found in {args.source}/", file=sys.stderr)
        return 1
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        print(f"run: no such notebook: {', '.join(missing)}", file=sys.stderr)
        return 1
    rows = []
    if args.models_only and not args.retrain:
        print("run: --models-only goes with --retrain", file=sys.stderr)
        return 1
    if args.retrain:
        from ._shipping import retrain

        manifest = retrain(tracks_needed(paths) if args.notebooks else ("torch", "keras"))
        print(f"shipped {len(manifest)} models in data/models/ (MANIFEST.json)", flush=True)
        if args.models_only:
            return 0
    if not args.no_warmup:
        for track in tracks_needed(paths):
            row = warm_up(track)
            if row is not None:
                rows.append(row)
                print(f"{row.name}: {row.seconds:.1f} s", flush=True)
    for path in paths:
        row = run_one(path, cell_timeout=args.timeout)
        rows.append(row)
        print(f"{row.name}: {row.seconds:.1f} s, {row.passed}/{row.total} test cells", flush=True)
    print(format_table(rows))
    return 0 if all(r.ok for r in rows) else 1


def main(argv=None) -> int:
    """Entry point of the ``mmcourse`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return {"release": _release, "grade": _grade, "run": _run}[args.command](args)
    except ValueError as exc:
        print(f"mmcourse {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
