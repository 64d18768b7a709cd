"""Compare runs: convergence curves, a summary table (printed, CSV) and speed-ups.

Used at the end of a sweep (on its parent run) and by `scripts/compare.py` for
any runs. "Speed" is counted in epochs, passes over the training data, which
costs the same for every optimizer; a job's speed-up is the slowest job's
epochs-to-threshold divided by its own.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sparsegrad.experiment.tracking import Tracker  # noqa: E402

CURVES = ("loss", "val_recon_loss", "mean_activation")
IGNORED_PARAMS = ("tracking.", "trainer.progress", "trainer.resume", "trainer.checkpoint")


@dataclass
class JobSummary:
    run_id: str
    name: str
    status: str
    params: dict[str, str]
    curves: dict[str, list[float]] = field(default_factory=dict)
    epochs_to_threshold: int | None = None
    speedup: float | None = None

    def final(self, key: str) -> float:
        values = self.curves.get(key) or [math.nan]
        return values[-1]


def child_runs(tracker: Tracker, parent_run_id: str) -> list:
    return tracker.client.search_runs(
        [tracker.experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'", max_results=10_000,
        order_by=["attributes.start_time ASC"])


def load_jobs(tracker: Tracker, runs: list) -> list[JobSummary]:
    jobs = []
    for run in runs:
        curves = {key: [m.value for m in sorted(tracker.client.get_metric_history(run.info.run_id, key),
                                                key=lambda m: m.step)] for key in CURVES}
        jobs.append(JobSummary(run.info.run_id, run.info.run_name or run.info.run_id, run.info.status,
                               dict(run.data.params), curves))
    return jobs


def varying_params(jobs: list[JobSummary]) -> list[str]:
    """The config keys whose values differ between jobs: what the sweep swept."""
    keys = sorted({k for j in jobs for k in j.params if not k.startswith(IGNORED_PARAMS)})
    return [k for k in keys if len({j.params.get(k) for j in jobs}) > 1]


def label(job: JobSummary, keys: list[str]) -> str:
    return " ".join(f"{k}={job.params.get(k)}" for k in keys) or job.name


def add_speedups(jobs: list[JobSummary], threshold: float | None = None, key: str = "loss") -> float:
    """Epochs each finished job took to reach `threshold` (default: the worst final loss)."""
    done = [j for j in jobs if j.status == "FINISHED" and j.curves.get(key)]
    if threshold is None:
        finals = [j.final(key) for j in done if math.isfinite(j.final(key))]
        threshold = max(finals) if finals else math.nan
    for job in done:
        job.epochs_to_threshold = next((i + 1 for i, v in enumerate(job.curves[key]) if v <= threshold), None)
    reached = [j.epochs_to_threshold for j in done if j.epochs_to_threshold]
    slowest = max(reached) if reached else None
    for job in done:
        if slowest and job.epochs_to_threshold:
            job.speedup = slowest / job.epochs_to_threshold
    return threshold


def rows(jobs: list[JobSummary], keys: list[str]) -> list[dict[str, object]]:
    table = []
    for j in jobs:
        row: dict[str, object] = {k: j.params.get(k) for k in keys}
        row.update(status=j.status, final_loss=j.final("loss"), val_recon_loss=j.final("val_recon_loss"),
                   mean_activation=j.final("mean_activation"), epochs_to_threshold=j.epochs_to_threshold,
                   speedup=j.speedup, run_id=j.run_id)
        table.append(row)
    return table


def format_table(table: list[dict[str, object]]) -> str:
    if not table:
        return "(no runs)"

    def cell(v: object) -> str:
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.4g}"
        return "-" if v is None else str(v)

    columns = list(table[0])
    cells = [[cell(r[c]) for c in columns] for r in table]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def write_csv(table: list[dict[str, object]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]) if table else ["status"])
        writer.writeheader()
        writer.writerows(table)
    return path


def plot_convergence(jobs: list[JobSummary], keys: list[str], path: Path, threshold: float) -> Path:
    """Left: every job's loss per epoch (log scale). Right: against beta/target, or validation curves."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for j in jobs:
        if j.curves.get("loss"):
            style = "-" if j.status == "FINISHED" else ":"
            left.plot(range(1, len(j.curves["loss"]) + 1), j.curves["loss"], style,
                      label=label(j, keys) + ("" if j.status == "FINISHED" else f" ({j.status})"))
    if math.isfinite(threshold):
        left.axhline(threshold, color="gray", linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    left.set(xlabel="epoch", ylabel="training loss", yscale="log", title="convergence")
    left.grid(True, which="both", alpha=0.3)
    left.legend(fontsize=7)
    swept = [k for k in ("beta", "sparsity.target") if k in keys]
    finished = [j for j in jobs if j.status == "FINISHED"]
    if swept and finished:
        x_key = swept[0]
        other = [k for k in keys if k != x_key]
        groups: dict[str, list[JobSummary]] = {}
        for j in finished:
            groups.setdefault(label(j, other) if other else "", []).append(j)
        twin = right.twinx()
        for name, members in groups.items():
            members.sort(key=lambda j: float(j.params[x_key]))
            xs = [float(j.params[x_key]) for j in members]
            right.plot(xs, [j.final("val_recon_loss") for j in members], "o-", label=f"val recon {name}")
            twin.plot(xs, [j.final("mean_activation") for j in members], "s--", label=f"mean act {name}")
        right.set(xlabel=x_key, ylabel="validation reconstruction loss", title=f"trade-off against {x_key}")
        twin.set_ylabel("mean hidden activation")
        right.legend(fontsize=7, loc="upper left")
        twin.legend(fontsize=7, loc="upper right")
    else:
        for j in jobs:
            if j.curves.get("val_recon_loss"):
                right.plot(range(1, len(j.curves["val_recon_loss"]) + 1), j.curves["val_recon_loss"],
                           label=label(j, keys))
        right.set(xlabel="epoch", ylabel="validation reconstruction loss", yscale="log", title="validation")
        right.grid(True, which="both", alpha=0.3)
        right.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def compare(tracker: Tracker, runs: list, out_dir: Path,
            threshold: float | None = None) -> tuple[list[dict[str, object]], Path, Path]:
    """Summary table, CSV and convergence plot for `runs`; prints the table."""
    jobs = load_jobs(tracker, runs)
    keys = varying_params(jobs)
    threshold = add_speedups(jobs, threshold)
    table = rows(jobs, keys)
    csv_path = write_csv(table, out_dir / "summary.csv")
    png_path = plot_convergence(jobs, keys, out_dir / "convergence.png", threshold)
    print(f"\n{len(jobs)} runs; epochs to reach loss <= {threshold:.4g}, speed-up against the slowest:")
    print(format_table(table))
    return table, csv_path, png_path


def report_sweep(tracker: Tracker, parent_run_id: str, out_dir: Path) -> list[dict[str, object]]:
    """Compare a sweep's child runs and store `comparison/*` on the parent run."""
    table, csv_path, png_path = compare(tracker, child_runs(tracker, parent_run_id), out_dir)
    tracker.log_artifact(parent_run_id, csv_path, "comparison")
    tracker.log_artifact(parent_run_id, png_path, "comparison")
    return table
