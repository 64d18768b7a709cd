"""Compare runs: convergence curves, the sparsity-fidelity frontier, a summary table (printed, CSV) and speed-ups.

Used at the end of a sweep (on its parent run) and by `scripts/compare.py` for
any runs. Every job is one row, FAILED ones included and marked so.

Speed. A job's `epochs_to_threshold` is the first epoch whose mean training loss
is at or below the threshold (by default the worst final loss among the finished
jobs, so every finished job reaches it); `steps_to_threshold` is that many epochs
times the job's optimizer steps per epoch (ceil(training images / batch size), 1
for full-batch gd): the parameter updates it took. Steps per epoch come from the
run's `steps_per_epoch` tag when it has one, else from its config (data.name,
data.n_train for synthetic data, data.limit, trainer.batch_size; unknown, shown
as "-", for data=idx or a data.path). The train/step_loss history is not used: it is
sampled every trainer.log_every_n_steps steps only. `speedup` is the slowest
job's epochs-to-threshold divided by this job's. It is counted in epochs, passes
over the training data, which cost the same for every optimizer: in steps,
full-batch gd would look hundreds of times faster than it is.

The frontier (Gao et al. 2024's comparison of sparse autoencoders): each finished job's final L0
(active hidden units per validation image) against its explained variance, one point per job,
coloured by its sparsity method (`method_of`: TopK, ReLU + L1, sigmoid + KL, ...), and each
method's Pareto front (the jobs no other job of the method beats on both) drawn as a line.
The summary's `method`, `l0`, `explained_variance`, `dead_units` and `dense_units` columns
hold the same numbers.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib import colormaps
from matplotlib.figure import Figure  # no pyplot: no global backend, so notebooks keep theirs
from matplotlib.ticker import FixedLocator, MaxNLocator, NullFormatter, ScalarFormatter

from sparsegrad.experiment.schema import defines_the_run
from sparsegrad.experiment.tracking import CHOICES_TAG, FAILURE_TAG, OVERRIDES_TAG, STEPS_TAG, Tracker

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from mlflow.entities import Run

TRAIN_LOSS, VAL_LOSS = "train/loss", "val/recon_loss"  # the metrics' names in MLflow
CURVES = (TRAIN_LOSS, VAL_LOSS, "mean_activation", "l0", "explained_variance", "dead_units", "dense_units")
IGNORED_GROUPS = ("hydra/", "experiment/")  # an experiment's own groups show as what they select
FRONTIER = "frontier.png"  # beside convergence.png: L0 against explained variance
# Training images per dataset, when a run did not record its steps per epoch (data.limit caps them).
TRAIN_IMAGES = {"mnist": 60_000, "fashion_mnist": 60_000, "mnist_sample": 4_000}


@dataclass
class JobSummary:
    run_id: str
    name: str
    status: str
    params: dict[str, str]
    curves: dict[str, list[float]] = field(default_factory=dict)
    overrides: list[str] | None = None  # the job's command-line overrides, if it was a sweep's job
    choices: dict[str, str] | None = None  # its config-group choices (optimizer: sgd, ...), likewise
    failure_reason: str = ""
    steps_per_epoch: int | None = None
    epochs_to_threshold: int | None = None
    speedup: float | None = None

    @property
    def finished(self) -> bool:
        return self.status == "FINISHED"

    @property
    def steps_to_threshold(self) -> int | None:
        if self.epochs_to_threshold is None or self.steps_per_epoch is None:
            return None
        return self.epochs_to_threshold * self.steps_per_epoch

    def final(self, key: str) -> float:
        values = self.curves.get(key) or [math.nan]
        return values[-1]


def _steps_per_epoch(tags: dict[str, str], params: dict[str, str]) -> int | None:
    """From the run's tag, else from its config for datasets of known size (else None)."""
    if tags.get(STEPS_TAG, "").isdigit():
        return int(tags[STEPS_TAG])
    batch = params.get("trainer.batch_size")
    if batch in ("null", "None"):
        return 1  # full batch
    name = params.get("data.name")
    n = int(params["data.n_train"]) if name == "synthetic" and "data.n_train" in params else (
        TRAIN_IMAGES.get(name) if params.get("data.path") in (None, "null", "None") else None)
    limit = params.get("data.limit")
    if n is not None and limit not in (None, "null", "None"):
        n = min(n, int(limit))
    if n is None or batch is None or not batch.isdigit():
        return None
    return math.ceil(n / int(batch))


def load_jobs(tracker: Tracker, runs: list[Run]) -> list[JobSummary]:
    jobs = []
    for run in runs:
        curves = {key: [value for _, value in tracker.metric_history(run.info.run_id, key)] for key in CURVES}
        tags, params = dict(run.data.tags), dict(run.data.params)
        overrides = json.loads(tags[OVERRIDES_TAG]) if OVERRIDES_TAG in tags else None
        choices = json.loads(tags[CHOICES_TAG]) if CHOICES_TAG in tags else None
        jobs.append(JobSummary(run.info.run_id, run.info.run_name or run.info.run_id, run.info.status, params,
                               curves, overrides, choices, tags.get(FAILURE_TAG, ""),
                               _steps_per_epoch(tags, params)))
    return jobs


def varying_params(jobs: list[JobSummary]) -> list[str]:
    """The config keys whose values differ between jobs: what the sweep swept."""
    keys = sorted({k for j in jobs for k in j.params if defines_the_run(k)})
    return [k for k in keys if len({j.params.get(k) for j in jobs}) > 1]


def _split(overrides: list[str]) -> dict[str, str]:
    """{"optimizer": "sgd", "beta": "0.1"} from ["optimizer=sgd", "beta=0.1"] (less tracking/hydra ones)."""
    pairs = (o.split("=", 1) for o in overrides if "=" in o)
    return {k.lstrip("+~"): v for k, v in pairs if defines_the_run(k)}


def _differing(dicts: list[dict[str, str]], keys: list[str]) -> list[str]:
    return [k for k in keys if len({d.get(k) for d in dicts}) > 1]


@dataclass
class Columns:
    """What tells the jobs apart, as the user would write it on the command line.

    `overrides`: the config-group choices that differ between jobs (`optimizer`: gd, sgd,
    adam), whether set on the command line or by an experiment's own sweep, then the
    plain `key=value` overrides that differ (`beta`, `sparsity.target`). `params`: the
    config keys that also differ and that those do not cover (`trainer.batch_size`,
    which optimizer=gd sets). Jobs that did not record their overrides (runs outside a
    sweep) are told apart by `params` alone.
    """

    overrides: list[str]
    params: list[str]

    @classmethod
    def of(cls, jobs: list[JobSummary]) -> Columns:
        overrides: list[str] = []
        if jobs and all(j.overrides is not None and j.choices is not None for j in jobs):
            choices = [j.choices or {} for j in jobs]
            groups = list(dict.fromkeys(k for c in choices for k in c))
            shown_groups = [g for g in groups if not g.startswith(IGNORED_GROUPS)]
            plain = [_split(j.overrides or []) for j in jobs]
            keys = [k for k in dict.fromkeys(k for p in plain for k in p) if k not in groups]
            overrides = _differing(choices, shown_groups) + _differing(plain, keys)
        params = [p for p in varying_params(jobs) if not any(p == o or p.startswith(o + ".") for o in overrides)]
        return cls(overrides, params)

    def values(self, job: JobSummary) -> dict[str, object]:
        given = {**_split(job.overrides or []), **(job.choices or {})}
        row: dict[str, object] = {k: given.get(k) for k in self.overrides}
        row.update({k: job.params.get(k) for k in self.params})
        return row

    def label(self, job: JobSummary) -> str:
        """`optimizer=sgd`, `beta=0.1 sparsity.target=0.05`: what differs (else the run's name)."""
        keys = self.overrides or self.params
        values = self.values(job)
        return " ".join(f"{k}={values[k]}" for k in keys) or job.name


def add_speedups(jobs: list[JobSummary], threshold: float | None = None, key: str = TRAIN_LOSS) -> float:
    """Epochs each finished job took to reach `threshold` (default: the worst final loss)."""
    done = [j for j in jobs if j.finished and j.curves.get(key)]
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


def rows(jobs: list[JobSummary], columns: Columns) -> list[dict[str, object]]:
    table = []
    for j in jobs:
        row = columns.values(j)
        row.update(status=j.status, method=method_of(j), final_loss=j.final(TRAIN_LOSS),
                   **{VAL_LOSS: j.final(VAL_LOSS)}, mean_activation=j.final("mean_activation"),
                   l0=j.final("l0"), explained_variance=j.final("explained_variance"),
                   dead_units=_count(j.final("dead_units")), dense_units=_count(j.final("dense_units")),
                   epochs_to_threshold=j.epochs_to_threshold,
                   steps_to_threshold=j.steps_to_threshold, speedup=j.speedup, run_id=j.run_id,
                   run_name=j.name, failure_reason=j.failure_reason)
        table.append(row)
    return table


def _count(value: float) -> int | None:
    return int(value) if math.isfinite(value) else None


PRINTED_WITHOUT = ("run_name", "failure_reason")  # in the CSV, too wide for the terminal


def format_table(table: list[dict[str, object]]) -> str:
    if not table:
        return "(no runs)"

    def cell(v: object) -> str:
        if isinstance(v, float):
            return "nan" if math.isnan(v) else f"{v:.4g}"
        return "-" if v is None else str(v)

    columns = [c for c in table[0] if c not in PRINTED_WITHOUT]
    cells = [[cell(r[c]) for c in columns] for r in table]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(lines)


def write_csv(table: list[dict[str, object]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(table[0]) if table else ["status"])
        writer.writeheader()
        writer.writerows(table)
    return path


def data_of(jobs: list[JobSummary]) -> str:
    """`data=mnist_sample` (`data=mnist (limit 1000)`; `data=mnist, fashion_mnist` if the jobs differ)."""
    names = list(dict.fromkeys(
        j.params.get("data.name", "?") + (f" (limit {j.params['data.limit']})"
                                         if j.params.get("data.limit") not in (None, "null", "None") else "")
        for j in jobs))
    return "data=" + ", ".join(names) if names else ""


def _heading(title: str, jobs: list[JobSummary], width: int) -> str:
    """What was compared (a sweep's name holds its overrides) and on which data, wrapped at `width` characters."""
    lines = _wrap(title, width) or ["comparison"]
    return "\n".join(lines + [f"{len(jobs)} runs on {data_of(jobs)}"])


def _wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` characters, broken at spaces or after the commas of a swept list
    (`+experiment/x=a,b,c`), never inside a name (a piece longer than `width` keeps a line to itself)."""
    lines, line = [], ""
    for word in text.split():
        for i, part in enumerate(re.findall(r"[^,]*,|[^,]+", word)):
            joined = line + ("" if i or not line else " ") + part
            if line and len(joined) > width:
                lines.append(line)
                line = part
            else:
                line = joined
    return [*lines, line] if line else lines


def _legend_below(ax: Axes, entries: int) -> None:
    """The legend under the panel, not on it (where it hid the beta=0 markers and the top curves)."""
    if entries:
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2 if entries > 3 else 1,
                  frameon=False)


def plot_convergence(jobs: list[JobSummary], columns: Columns, path: Path, threshold: float,
                     title: str = "") -> Path:
    """`convergence_figure` saved as the PNG `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    convergence_figure(jobs, columns, threshold, title).savefig(path, dpi=100)
    return path


def convergence_figure(jobs: list[JobSummary], columns: Columns, threshold: float, title: str = "") -> Figure:
    """Left: every job's loss per epoch (log scale). Right: against beta/target, or validation curves.

    `title` names what is compared (a sweep: its parent run's name); the data are read off the jobs.
    """
    rows_below = math.ceil((len(jobs) + 1) / 2)  # the legends' lines under the panels
    fig = Figure(figsize=(13, 5.6 + 0.16 * rows_below), layout="constrained")
    fig.suptitle(_heading(title, jobs, 150), fontsize=10)
    left, right = fig.subplots(1, 2)
    colors = colormaps["tab10" if len(jobs) <= 10 else "tab20"]
    for n, j in enumerate(jobs):
        finite = [v for v in j.curves.get(TRAIN_LOSS, []) if math.isfinite(v) and v > 0]
        if finite:
            left.plot(range(1, len(j.curves[TRAIN_LOSS]) + 1), j.curves[TRAIN_LOSS], "-" if j.finished else ":",
                      color=colors(n % colors.N), marker="o", markersize=3,
                      label=columns.label(j) + ("" if j.finished else f" ({j.status})"))
    if math.isfinite(threshold) and threshold > 0:
        left.axhline(threshold, color="gray", linestyle="--", linewidth=1, label=f"threshold {threshold:.3g}")
    left.set(xlabel="epoch", ylabel="training loss (recon + beta * sparsity)", yscale="log", title="convergence")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.grid(True, which="both", alpha=0.3)
    _legend_below(left, len(left.get_legend_handles_labels()[0]))
    keys = list(columns.overrides) + list(columns.params)
    swept = [k for k in ("beta", "sparsity.target") if k in keys]
    finished = [j for j in jobs if j.finished]
    if swept and finished:
        _plot_tradeoff(right, finished, swept[0], [k for k in keys if k != swept[0]], columns)
    else:
        for j in jobs:
            if j.curves.get(VAL_LOSS):
                right.plot(range(1, len(j.curves[VAL_LOSS]) + 1), j.curves[VAL_LOSS],
                           "-" if j.finished else ":", marker="o", markersize=3, label=columns.label(j))
        right.set(xlabel="epoch", ylabel="validation reconstruction loss", yscale="log", title="validation")
        right.xaxis.set_major_locator(MaxNLocator(integer=True))
        right.grid(True, which="both", alpha=0.3)
        _legend_below(right, len(right.get_legend_handles_labels()[0]))
    return fig


def _plot_tradeoff(ax: Axes, jobs: list[JobSummary], x_key: str, other: list[str], columns: Columns) -> None:
    """Final validation reconstruction loss and mean activation against beta (or the target).

    Against beta, one line per value of the other keys (the target); a job with beta=0 has no
    penalty, so its target does not matter: one such job is the start of every line.
    """
    def value(j: JobSummary, key: str) -> str | None:
        return columns.values(j).get(key)

    def x(j: JobSummary) -> float:
        return float(value(j, x_key))

    baselines = [j for j in jobs if x_key == "beta" and x(j) == 0]
    shared = baselines if len(baselines) == 1 and len(jobs) > 1 else []
    groups: dict[str, list[JobSummary]] = {}
    for j in jobs:
        if j not in shared:
            groups.setdefault(" ".join(f"{k}={value(j, k)}" for k in other), []).append(j)
    twin = ax.twinx()
    for n, (name, members) in enumerate(sorted(groups.items())):
        if shared and not any(x(j) == 0 for j in members):
            members = shared + members
        members.sort(key=x)
        xs = [x(j) for j in members]
        color = f"C{n % 10}"
        ax.plot(xs, [j.final(VAL_LOSS) for j in members], "o-", color=color, label=name or None)
        twin.plot(xs, [j.final("mean_activation") for j in members], "s--", color=color)
    if shared:
        ax.plot([0.0], [shared[0].final(VAL_LOSS)], "o", color="k", markersize=8, fillstyle="none",
                label="beta=0: no penalty (one job, shared)")
    if x_key == "beta" and all(x(j) >= 0 for j in jobs):
        ax.set_xscale("symlog", linthresh=min([x(j) for j in jobs if x(j) > 0] or [1.0]))
    ax.set(xlabel=x_key, ylabel="validation reconstruction loss (solid)",
           title=f"trade-off against {x_key}")
    twin.set_ylabel("mean hidden activation (dashed)")
    ax.grid(True, alpha=0.3)
    _legend_below(ax, len(ax.get_legend_handles_labels()[0]))


# --- the sparsity-fidelity frontier ---------------------------------------------------------------

def _is_null(value: str | None) -> bool:
    return value in (None, "null", "None", "")


def method_of(job: JobSummary) -> str:
    """How the job makes its codes sparse, from its config: `TopK`, `ReLU + L1`, `sigmoid + KL`, or
    `<activation>, no penalty` (no sparsity penalty, or beta 0)."""
    p = job.params
    activation = p.get("model.hidden_activation", "sigmoid")
    if activation == "topk":
        return "TopK"
    penalty = p.get("sparsity._target_")
    try:
        weighted = float(p.get("beta", "0")) > 0
    except ValueError:
        weighted = False
    if _is_null(penalty) or not weighted:
        return f"{activation}, no penalty"
    name = penalty.rsplit(".", 1)[-1].removesuffix("Sparsity")  # sparsegrad.nn.sparsity.L1Sparsity: L1
    return f"{'ReLU' if activation == 'relu' else activation} + {name}"


def _knob_key(job: JobSummary) -> str:
    """The config key of the method's own knob: `model.k` for TopK, `beta` for a penalty ('' for none)."""
    if job.params.get("model.hidden_activation") == "topk":
        return "model.k"
    return "beta" if "no penalty" not in method_of(job) else ""


def _named(job: JobSummary, key: str) -> str:
    return f"{key.rsplit('.', 1)[-1]}={job.params.get(key)}"


def knob_of(job: JobSummary) -> str:
    """The method's own knob and its value: `k=10` for TopK, `beta=0.1` for a penalty ('' for none)."""
    return _named(job, key) if (key := _knob_key(job)) else ""


def point_labels(method_jobs: list[JobSummary]) -> list[str]:
    """Each job's knob, and whatever else its method's jobs were swept over: `beta=0.1 target=0.05`
    in a beta-by-target sweep, where beta alone would name three points alike."""
    swept = varying_params(method_jobs)
    labels = []
    for job in method_jobs:
        knob = _knob_key(job)
        keys = ([knob] if knob else []) + [k for k in swept if k != knob]
        labels.append(" ".join(_named(job, k) for k in keys))
    return labels


def pareto_front(points: list[tuple[float, float]]) -> list[int]:
    """Indices of the points no other point beats on both (lower L0 at least as high explained
    variance, or higher at no more L0), sorted by L0: the method's best trade-offs."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0], -points[i][1]))
    front, best = [], -math.inf
    for i in order:
        if points[i][1] > best:
            front.append(i)
            best = points[i][1]
    return front


def _on_frontier(job: JobSummary) -> bool:
    return job.finished and all(math.isfinite(job.final(k)) for k in ("l0", "explained_variance"))


# Labelled often enough that a span under a decade (L0 30 to 64, say) still shows several values.
L0_TICKS = [1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 25, 30, 40, 50, 60, 80, 100, 150, 200, 300, 500, 1000]


def frontier_figure(jobs: list[JobSummary], title: str = "") -> Figure:
    """L0 (log scale) against explained variance: a point per finished job, a line per method's Pareto front."""
    shown = [j for j in jobs if _on_frontier(j)]
    methods = sorted({method_of(j) for j in shown})
    fig = Figure(figsize=(8.5, 6.2 + 0.16 * math.ceil(len(methods) / 2)), layout="constrained")
    fig.suptitle(_heading(f"sparsity-fidelity frontier: {title}" if title else "sparsity-fidelity frontier",
                          jobs, 100), fontsize=10)
    ax = fig.subplots()
    labels: list[tuple[str, float, float, str, bool]] = []
    for n, method in enumerate(methods):
        members = [j for j in shown if method_of(j) == method]
        points = [(j.final("l0"), j.final("explained_variance")) for j in members]
        color, marker = f"C{n % 10}", "osD^v<>p*h"[n % 10]
        front = pareto_front(points)
        ax.plot([points[i][0] for i in front], [points[i][1] for i in front], "-", color=color, linewidth=1.5,
                alpha=0.8)
        ax.plot([x for x, _ in points], [y for _, y in points], marker, color=color, linestyle="none",
                markersize=7, label=f"{method} ({len(members)} jobs; line: its Pareto front)")
        labels += [(label, x, y, color, n % 2 == 1) for label, (x, y) in zip(point_labels(members), points)]
    if shown and min(j.final("l0") for j in shown) > 0:
        ax.set_xscale("log")  # units counted plainly (5, 10, 20), not as 6x10^0
        ax.xaxis.set_major_locator(FixedLocator(L0_TICKS))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    _label_points(ax, [label for label in labels if label[0]])
    missing = len(jobs) - len(shown)
    if not shown:
        ax.text(0.5, 0.5, "no finished job logged l0 and explained_variance", ha="center", va="center",
                transform=ax.transAxes)
    ax.set(xlabel="L0: active hidden units per validation image (activation >= 0.01), final epoch",
           ylabel="explained variance on the validation images, final epoch",
           title="up and to the left is better" + (f" ({missing} of the jobs not shown: not FINISHED, or no L0 logged)"
                                                    if missing else ""))
    ax.grid(True, which="both", alpha=0.3)
    _legend_below(ax, len(ax.get_legend_handles_labels()[0]))
    return fig


def _label_points(ax: Axes, labels: list[tuple[str, float, float, str, bool]]) -> None:
    """Each (text, x, y, colour, below) beside its point: every other method's below its points, so
    they stay apart where methods meet; stacked where points (nearly) coincide; to the left in the
    right quarter of the axes, so none runs off the figure."""
    ax.autoscale_view()
    to_axes = ax.transData + ax.transAxes.inverted()
    placed: list[tuple[float, float]] = []
    for text, x, y, color, below in labels:
        fx, fy = to_axes.transform((x, y))
        stacked = sum(abs(fx - px) < 0.03 and abs(fy - py) < 0.03 for px, py in placed)
        placed.append((fx, fy))
        right = fx > 0.75
        offset = (-6 if right else 5, (-11 if below else 4) - 9 * stacked)
        ax.annotate(text, (x, y), textcoords="offset points", xytext=offset, ha="right" if right else "left",
                    fontsize=7, color=color)


def plot_frontier(jobs: list[JobSummary], path: Path, title: str = "") -> Path:
    """`frontier_figure` saved as the PNG `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frontier_figure(jobs, title).savefig(path, dpi=100)
    return path


def compare(tracker: Tracker, runs: list[Run], out_dir: Path, threshold: float | None = None,
            title: str = "") -> tuple[list[dict[str, object]], Path, Path]:
    """Summary table, `summary.csv`, `convergence.png` and `frontier.png` in `out_dir` for `runs`; prints the table."""
    jobs = load_jobs(tracker, runs)
    columns = Columns.of(jobs)
    threshold = add_speedups(jobs, threshold)
    table = rows(jobs, columns)
    csv_path = write_csv(table, out_dir / "summary.csv")
    png_path = plot_convergence(jobs, columns, out_dir / "convergence.png", threshold, title)
    plot_frontier(jobs, out_dir / FRONTIER, title)
    failed = [j for j in jobs if not j.finished]
    if len(jobs) - len(failed) >= 2:
        print(f"\n{title or 'comparison'}: {len(jobs)} runs, {len(failed)} not FINISHED; "
              f"epochs (and optimizer steps) to reach loss <= {threshold:.4g}, speed-up against the slowest:")
    else:
        print(f"\n{title or 'comparison'}: {len(jobs)} runs, {len(failed)} not FINISHED: nothing to compare "
              "speed against (that needs two FINISHED runs)")
    print(format_table(table))
    for j in failed:
        print(f"  {j.status} {columns.label(j)}: {j.failure_reason or '(no reason recorded)'}")
    print(f"written: {csv_path}  {png_path}  {out_dir / FRONTIER}")
    return table, csv_path, png_path


def report_sweep(tracker: Tracker, parent_run_id: str, out_dir: Path,
                 threshold: float | None = None) -> list[dict[str, object]]:
    """Compare a sweep's child runs and store `comparison/*` on the parent run."""
    parent = tracker.get_run(parent_run_id)
    table, csv_path, png_path = compare(tracker, tracker.child_runs(parent_run_id), out_dir, threshold,
                                        title=f"{parent.info.run_name} ({parent_run_id})")
    tracker.log_artifact(parent_run_id, csv_path, "comparison")
    tracker.log_artifact(parent_run_id, png_path, "comparison")
    tracker.log_artifact(parent_run_id, out_dir / FRONTIER, "comparison")
    return table
