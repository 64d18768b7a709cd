"""Compare runs from MLflow: the summary table (printed and summary.csv) and convergence.png.

    python scripts/compare.py                          # the latest sweep in the project's store
    python scripts/compare.py --parent RUN_ID          # one sweep: its child runs
    python scripts/compare.py --experiment sparsegrad  # every run of an experiment (less sweep parents)
    python scripts/compare.py --runs ID1 ID2 ID3       # any runs
    python scripts/compare.py --uri http://HOST:5000 --out cmp/ --threshold 0.05

The same comparison a sweep stores on its parent run at its end (see
sparsegrad/experiment/compare.py for the columns); `--attach` stores it on the
parent run again, e.g. after the sweep's own comparison failed.
`--uri` defaults to $SPARSEGRAD_TRACKING_URI, else sqlite:///<project root>/mlflow.db.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from sparsegrad.experiment.compare import compare, report_sweep
from sparsegrad.experiment.tracking import Tracker, default_tracking_uri, missing_store


def _finite(text: str) -> float:
    """A finite number (argparse reports anything else in one line)."""
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text} is not a finite number")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--parent", metavar="RUN_ID", help="a sweep's parent run: compare its jobs")
    which.add_argument("--experiment", metavar="NAME", help="every run of this experiment (sweep parents left out)")
    which.add_argument("--runs", nargs="+", metavar="RUN_ID", help="these runs")
    which.add_argument("--latest", action="store_true",
                       help="the most recent sweep (the default); with --in, in that experiment only")
    parser.add_argument("--in", dest="within", metavar="NAME", help="with --latest: look in this experiment only")
    parser.add_argument("--uri", default=None, help="MLflow tracking URI (default: $SPARSEGRAD_TRACKING_URI, "
                        "else sqlite:///<project root>/mlflow.db)")
    parser.add_argument("--out", type=Path, default=None,
                        help="directory for summary.csv and convergence.png (default: outputs/comparison/<what>)")
    parser.add_argument("--threshold", type=_finite, default=None,
                        help="training loss to reach (default: the worst final loss of the finished runs)")
    parser.add_argument("--attach", action="store_true",
                        help="also store the comparison on the sweep's parent run (with --parent or --latest)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    uri = args.uri or default_tracking_uri()
    if missing_store(uri):
        print(f"error: no MLflow store at {uri} (run a sweep first, or pass --uri)", file=sys.stderr)
        return 1
    try:
        tracker = Tracker(uri)
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from mlflow.exceptions import MlflowException

    try:
        if args.experiment:
            runs, what, parent = tracker.experiment_runs(args.experiment), f"experiment-{args.experiment}", None
        elif args.runs:
            runs, what, parent = [tracker.get_run(r) for r in args.runs], "runs", None
        else:
            parent = args.parent
            if parent is None:
                found = tracker.latest_sweep(args.within)
                if found is None:
                    where = f"experiment {args.within!r}" if args.within else uri
                    print(f"error: no sweep in {where}", file=sys.stderr)
                    return 1
                parent = found.info.run_id
            runs, what = tracker.child_runs(parent), f"sweep-{parent}"
    except (MlflowException, LookupError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not runs:
        print(f"error: no runs to compare ({what})", file=sys.stderr)
        return 1
    out = args.out or Path("outputs") / "comparison" / what
    if args.attach:
        if parent is None:
            print("error: --attach needs a sweep (--parent or --latest)", file=sys.stderr)
            return 1
        report_sweep(tracker, parent, out, args.threshold)
        print(f"stored on the parent run {parent} as comparison/summary.csv, comparison/convergence.png and "
              "comparison/frontier.png")
    else:
        compare(tracker, runs, out, args.threshold, title=what)
    return 0


if __name__ == "__main__":
    sys.exit(main())
