"""A study's report on its sweep's parent run: the study's settings and best trial, its trials by state,
`comparison/summary.csv` (one row a trial) and three figures drawn with matplotlib."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from sparsegrad.experiment.recorder import Recorder
from sparsegrad.experiment.tracking import STUDY_TAG_PREFIX
from sparsegrad.experiment.tuning import study as studies


def report_study(recorder: Recorder, config: DictConfig, out_dir: Path) -> Any:
    """Load the sweep's study and record it on the parent run (`recorder`); returns the study."""
    import optuna

    from sparsegrad.experiment.tuning.sweeper import settings_of

    settings, storage = settings_of(config)
    study = optuna.load_study(study_name=settings.study_name, storage=studies.open_storage(storage))
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    tags = {"study_name": settings.study_name, "storage": storage, "sampler": settings.sampler,
            "pruner": settings.pruner, "direction": settings.direction, "objective": settings.objective,
            **{f"trials_{state}": str(n) for state, n in sorted(states.items())}}
    recorder.set_tags({STUDY_TAG_PREFIX + k: v for k, v in tags.items()})
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if complete:
        best = study.best_trial
        recorder.tracker.log_metrics(recorder.run_id, [("best_value", best.value, 0)])
        recorder.set_tags({f"{STUDY_TAG_PREFIX}best_trial": str(best.number),
                           **{f"{STUDY_TAG_PREFIX}best.{k}": str(v) for k, v in best.params.items()}})
    title = f"study {settings.study_name!r}: {settings.objective} ({settings.direction}), {len(trials)} trials"
    paths = [_summary(trials, out_dir / "summary.csv"), _history(trials, settings, out_dir / "history.png", title)]
    if len(complete) >= 2:
        paths.append(_importances(study, out_dir / "importances.png", title))
    paths.append(_parameters(trials, settings, out_dir / "parameters.png", title))
    for path in paths:
        recorder.log_artifact(path, "comparison")
    return study


def _summary(trials: list[Any], path: Path) -> Path:
    keys = sorted({k for t in trials for k in t.params})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trial", "state", *keys, "value", "epochs", "run_id"])
        for t in trials:
            writer.writerow([t.number, t.state.name, *(t.params.get(k, "") for k in keys),
                             "" if t.value is None else t.value, t.user_attrs.get("epochs", len(t.intermediate_values)),
                             t.user_attrs.get("mlflow_run_id", "")])
    return path


def _value(t: Any) -> float:
    """A trial's objective: its told value, else (pruned) the last it reported."""
    if t.value is not None:
        return t.value
    reported = t.intermediate_values
    return reported[max(reported)] if reported else math.nan


def _history(trials: list[Any], settings: studies.StudySettings, path: Path, title: str) -> Path:
    from sparsegrad.experiment.plots import save_png, titled_figure

    fig, (ax,) = titled_figure((7.5, 4.5), f"optimization history: {title}", 80)
    best, running = [], math.inf if settings.direction == "minimize" else -math.inf
    pick = min if settings.direction == "minimize" else max
    for state, marker, color in (("COMPLETE", "o", "tab:blue"), ("PRUNED", "x", "tab:orange"),
                                 ("FAIL", "s", "tab:red")):
        shown = [t for t in trials if t.state.name == state and math.isfinite(_value(t))]
        if shown:
            label = {"PRUNED": "pruned (last reported value)"}.get(state, state.lower())
            ax.scatter([t.number for t in shown], [_value(t) for t in shown], marker=marker, color=color, label=label)
    for t in trials:
        if t.state.name == "COMPLETE":
            running = pick(running, t.value)
        best.append(running)
    ax.step([t.number for t in trials], best, where="post", color="k", label="best so far")
    ax.set(xlabel="trial", ylabel=settings.objective, yscale="log" if all(v > 0 for v in best
                                                                          if math.isfinite(v)) else "linear")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def _importances(study: Any, path: Path, title: str) -> Path:
    import optuna

    from sparsegrad.experiment.plots import save_png, titled_figure

    importances = optuna.importance.get_param_importances(study)
    names = list(importances)[::-1]
    fig, (ax,) = titled_figure((7.5, 1.6 + 0.45 * len(names)), f"parameter importances (fANOVA): {title}", 80, left=2.2)
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set(xlabel="share of the objective's variance", xlim=(0, 1))
    ax.grid(True, axis="x", alpha=0.3)
    return save_png(fig, path)


def _parameters(trials: list[Any], settings: studies.StudySettings, path: Path, title: str) -> Path:
    """The objective against each parameter, one panel a parameter."""
    from sparsegrad.experiment.plots import save_png, titled_figure

    keys = sorted({k for t in trials for k in t.params})
    width = max(4.2 * len(keys), 6)
    fig, axes = titled_figure((width, 4.2), f"objective against each parameter: {title}", int(width * 11),
                              max(len(keys), 1), axis_titles=True)
    for ax, key in zip(axes, keys):
        for state, marker, color in (("COMPLETE", "o", "tab:blue"), ("PRUNED", "x", "tab:orange")):
            shown = [t for t in trials if t.state.name == state and key in t.params and math.isfinite(_value(t))]
            if not shown:
                continue
            ax.scatter([t.params[key] for t in shown], [_value(t) for t in shown], marker=marker, color=color,
                       label=state.lower())
        distribution = next((t.distributions[key] for t in trials if key in t.distributions), None)
        if getattr(distribution, "log", False):
            from matplotlib.ticker import NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())  # (minor labels of a short log axis overlap)
        ax.set(xlabel=key, ylabel=settings.objective, title=key)
        ax.grid(True, alpha=0.3)
    if keys:
        axes[0].legend(fontsize=8)
    return save_png(fig, path)
