"""Each sparsity method of a sweep at matched L0: its explained variance and its top-k decoding time.

    python scripts/sparsity_table.py                          # the latest sweep of experiment sparsity_methods
    python scripts/sparsity_table.py --parent RUN_ID          # that sweep
    python scripts/sparsity_table.py --l0 5 10 20 --within 1.25 --uri http://HOST:5000

For each method of the sweep (TopK, ReLU + L1, sigmoid + KL, ...) and each L0 asked for, the FINISHED job
whose final L0 is nearest to it, if within a factor --within of it (else the row says why there is none).
Each chosen job is scored as `python scripts/evaluate.py run=<its id> topk=[<the L0s it matched>]` would
score it (an evaluation run beside it in MLflow), and the markdown table printed: the job's L0 and
explained variance, the explained variance of its codes cut to their k largest activations (k = the L0
asked for), and the time to decode those codes of every test image as a dense matrix product and as a
sparse (CSR) one (scripts/evaluate.py's timing: the best of 5, one BLAS thread).
`--uri` defaults to $SPARSEGRAD_TRACKING_URI, else sqlite:///<project root>/mlflow.db.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sparsegrad.experiment.compare import JobSummary, data_of, knob_of, method_of
from sparsegrad.experiment.errors import ExperimentError
from sparsegrad.experiment.task import run_task
from sparsegrad.experiment.tracking import Tracker, default_tracking_uri, missing_store

if TYPE_CHECKING:
    from omegaconf import DictConfig

# The metrics read, by name (one place to rename them): each job's last value, and its evaluation's.
L0, EXPLAINED_VARIANCE = "l0", "explained_variance"
EVAL_RECON_LOSS = "recon_loss"  # the evaluation's, with all units
EXPERIMENT = "sparsity_methods"  # where the latest sweep is looked for by default


@dataclass
class Job:
    """A FINISHED job of the sweep, where it ended on the frontier."""

    summary: JobSummary
    l0: float
    explained_variance: float

    @property
    def method(self) -> str:
        return method_of(self.summary)

    @property
    def label(self) -> str:
        return knob_of(self.summary) or self.summary.name


@dataclass
class Decode:
    """A job's codes cut to their k largest activations, decoded: how well, and how fast."""

    k: int
    explained_variance: float
    dense_ms: float
    sparse_ms: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n\n".join(__doc__.split("\n\n")[1:]))
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--parent", metavar="RUN_ID", help="the sweep's parent run")
    which.add_argument("--experiment", metavar="NAME", default=EXPERIMENT,
                       help=f"the latest sweep of this experiment (default: {EXPERIMENT})")
    parser.add_argument("--l0", type=int, nargs="+", default=[5, 10, 20], metavar="L0",
                        help="the L0s to match, each also the k of the top-k decoding (default: 5 10 20)")
    parser.add_argument("--within", type=float, default=1.25, metavar="FACTOR",
                        help="a job matches an L0 when its L0 is within this factor of it (default: 1.25)")
    parser.add_argument("--uri", default=None, help="MLflow tracking URI (default: $SPARSEGRAD_TRACKING_URI, "
                        "else sqlite:///<project root>/mlflow.db)")
    parser.add_argument("--out", type=Path, default=Path("outputs") / "sparsity_table",
                        help="folder for the evaluation runs' own files (default: outputs/sparsity_table)")
    args = parser.parse_args(argv)
    if any(k < 1 for k in args.l0) or not args.within >= 1:
        parser.error("--l0 takes integers >= 1 and --within a factor >= 1")
    return args


def finished_jobs(tracker: Tracker, parent_run_id: str) -> list[Job]:
    """The sweep's FINISHED jobs that logged L0 and explained variance, in the order they ran."""
    jobs = []
    for run in tracker.child_runs(parent_run_id, status="FINISHED"):
        metrics = run.data.metrics
        l0, ev = metrics.get(L0, math.nan), metrics.get(EXPLAINED_VARIANCE, math.nan)
        if math.isfinite(l0) and math.isfinite(ev):
            summary = JobSummary(run.info.run_id, run.info.run_name or run.info.run_id, run.info.status,
                                 dict(run.data.params))
            jobs.append(Job(summary, l0, ev))
    return jobs


def nearest(jobs: list[Job], target: int, within: float) -> Job | str:
    """The job whose L0 is nearest to `target` (by ratio) if within a factor `within`; else why none is."""
    best = min(jobs, key=lambda j: abs(math.log(max(j.l0, 1e-9) / target)))
    if max(best.l0 / target, target / max(best.l0, 1e-9)) <= within:
        return best
    below = [j for j in jobs if j.l0 < target]
    above = [j for j in jobs if j.l0 > target]
    if below and above:
        low, high = max(below, key=lambda j: j.l0), min(above, key=lambda j: j.l0)
        return (f"no job within {within:g}x: nearest L0 {low.l0:.1f} ({low.label}) and "
                f"{high.l0:.1f} ({high.label})")
    lo, hi = min(j.l0 for j in jobs), max(j.l0 for j in jobs)
    spread = f"L0 {lo:.1f}" if len(jobs) == 1 else f"L0 {lo:.1f}-{hi:.1f} in its {len(jobs)} jobs"
    return f"not reachable: {spread}"


def evaluation_config(run_id: str, ks: list[int], uri: str) -> DictConfig:
    """conf/evaluate.yaml as `python scripts/evaluate.py run=RUN_ID topk=[KS] tracking.uri=URI` composes it."""
    from hydra import compose, initialize_config_dir

    from sparsegrad.experiment.paths import project_root
    from sparsegrad.experiment.schema import register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(project_root() / "conf"), version_base="1.3", job_name="evaluate"):
        return compose("evaluate", overrides=[f"run='{run_id}'", f"topk=[{','.join(map(str, ks))}]",
                                              f"tracking.uri='{uri}'"])


def decode(job: Job, ks: list[int], uri: str, out: Path) -> dict[int, Decode]:
    """Score the job with scripts/evaluate.py's `evaluate` at top-k `ks` (an evaluation run beside it)."""
    from sparsegrad.experiment.evaluate import evaluate

    scored = evaluate(evaluation_config(job.summary.run_id, ks, uri), out / job.summary.run_id)
    # explained variance = 1 - MSE / (the data's variance per value): that variance, from the full model's pair
    variance = scored.metrics[EVAL_RECON_LOSS] / (1 - scored.metrics[EXPLAINED_VARIANCE])
    return {t.k: Decode(t.k, 1 - t.recon_loss / variance, t.dense_ms, t.sparse_ms) for t in scored.topk}


HEADER = ("| L0 about | method | job | L0 | explained variance | EV of the top-k code | decode dense (ms) "
          "| decode sparse (ms) | sparse / dense |\n|---|---|---|---|---|---|---|---|---|")


def table(tracker: Tracker, parent_run_id: str, targets: list[int], within: float, uri: str, out: Path) -> str:
    """The markdown table: a row per L0 asked for and method, the matched jobs evaluated."""
    jobs = finished_jobs(tracker, parent_run_id)
    if not jobs:
        raise ExperimentError(f"sweep {parent_run_id} has no FINISHED job that logged {L0} and {EXPLAINED_VARIANCE}")
    methods = list(dict.fromkeys(j.method for j in jobs))
    chosen = {(target, m): nearest([j for j in jobs if j.method == m], target, within)
              for target in targets for m in methods}
    wanted: dict[str, tuple[Job, list[int]]] = {}
    for (target, _), job in chosen.items():
        if isinstance(job, Job):
            wanted.setdefault(job.summary.run_id, (job, []))[1].append(target)
    decoded = {run_id: decode(job, sorted(set(ks)), uri, out / parent_run_id)
               for run_id, (job, ks) in wanted.items()}
    parent = tracker.get_run(parent_run_id)
    data = data_of([j.summary for j in jobs])
    lines = [f"{parent.info.run_name} ({parent_run_id}): {len(jobs)} FINISHED jobs on {data}",
             "top-k codes of the test images decoded by scripts/evaluate.py (best of 5, one BLAS thread)", "", HEADER]
    for (target, method), job in chosen.items():
        if isinstance(job, str):
            lines.append(f"| {target} | {method} | {job} | | | | | | |")
            continue
        d = decoded[job.summary.run_id][target]
        lines.append(f"| {target} | {method} | {job.label} | {job.l0:.2f} | {job.explained_variance:.3f} "
                     f"| {d.explained_variance:.3f} | {d.dense_ms:.2f} | {d.sparse_ms:.2f} "
                     f"| {d.sparse_ms / d.dense_ms:.2f} |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> str:
    uri = args.uri or default_tracking_uri()
    if missing_store(uri):
        raise ExperimentError(f"no MLflow store at {uri}: run the sweep first "
                              "(python scripts/train.py -m experiment=sparsity_methods), or pass --uri")
    tracker = Tracker(uri)
    parent = args.parent
    if parent is not None:
        from mlflow.exceptions import MlflowException

        try:
            tracker.get_run(parent)
        except MlflowException:
            raise ExperimentError(f"no run {parent} in {uri} (--parent takes a sweep's parent run id)") from None
    else:
        found = tracker.latest_sweep(args.experiment)
        if found is None:
            raise ExperimentError(f"no sweep in experiment {args.experiment!r} of {uri}")
        parent = found.info.run_id
    return table(tracker, parent, args.l0, args.within, uri, args.out)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(run_task(lambda: run(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
