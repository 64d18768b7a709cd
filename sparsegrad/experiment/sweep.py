"""A Hydra callback that gives each multirun sweep one MLflow parent run.

`on_multirun_start` runs once, in the launching process, before any job: it
creates the store, the experiment and the parent run, and writes the parent's id
into the sweep directory, where every job (in this process, a joblib worker or a
cluster node sharing the directory) finds it. Creating the store here, not in
the jobs, keeps parallel jobs from racing to create a fresh sqlite schema.

`on_job_end` runs in the job's process. It keeps one job's failure from stopping
the sweep (Hydra's sweepers re-raise a job's exception once its batch is done,
and then the sweep never ends), tags the job's run with its overrides, and gives
a job that failed before its run started (a sweep value out of range) a FAILED
run, so that every job shows up in MLflow and in the summary.

`on_multirun_end` compares the jobs and stores `comparison/summary.csv` and
`comparison/convergence.png` on the parent, then ends it FINISHED.

Hydra turns an exception raised in a callback into a one-line warning and goes
on, so failures here are reported and then raised as `SystemExit`: a sweep whose
parent run cannot be made stops before any job, with one line and exit code 2
(config) or 1; one whose comparison fails exits 1 after its jobs, its parent
FAILED. A sweep that stops half way (Ctrl-C, a launcher error) leaves its
parent KILLED, not RUNNING forever.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import sys
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sparsegrad.experiment.cli import EXIT_CONFIG, EXIT_FAILED, exit_with

log = logging.getLogger(__name__)

PARENT_FILE = "mlflow_parent_run.json"
_open_parents: dict[str, tuple[str, str]] = {}  # parent run id -> (uri, experiment), until the sweep ends


def parent_run_of(sweep_dir: str | Path) -> str | None:
    """The parent run id that `on_multirun_start` left in `sweep_dir`, if any."""
    path = Path(sweep_dir) / PARENT_FILE
    return json.loads(path.read_text())["run_id"] if path.is_file() else None


def sweep_overrides(config: DictConfig) -> list[str]:
    """The command-line overrides, then the `hydra.sweeper.params` (of an experiment file) they leave."""
    given = list(config.hydra.overrides.task)
    keys = {o.split("=", 1)[0].lstrip("+~") for o in given}
    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    return given + [f"{k}={v}" for k, v in params.items() if k not in keys]


def _sweep_name(config: DictConfig) -> str:
    shown = [o for o in sweep_overrides(config) if not o.startswith(("tracking.", "trainer.progress"))]
    return "sweep " + (" ".join(shown) if shown else Path(config.hydra.sweep.dir).name)


def _end_open_parent(run_id: str) -> None:
    """At exit: a parent whose sweep never reached `on_multirun_end` is KILLED, not left RUNNING."""
    if run_id not in _open_parents:
        return
    uri, experiment = _open_parents.pop(run_id)
    try:
        from sparsegrad.experiment.tracking import Tracker

        tracker = Tracker(uri, experiment)
        if tracker.client.get_run(run_id).info.status == "RUNNING":
            tracker.end_run(run_id, "KILLED", "the sweep stopped before all its jobs ended (interrupted, or "
                            "an error in Hydra or the launcher: see its output); compare what ran with "
                            f"`python scripts/compare.py --parent {run_id}`")
    except Exception as exc:  # exiting anyway
        print(f"warning: could not mark the sweep's parent run {run_id} KILLED: {exc}", file=sys.stderr)


class MlflowSweepCallback(Callback):
    """Parent run at the start of a sweep, comparison artifacts at its end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from sparsegrad.experiment.errors import ConfigError, ExperimentError

        try:
            self._start_parent(config)
        except ConfigError as exc:
            exit_with(str(exc), EXIT_CONFIG)
        except ExperimentError as exc:
            exit_with(f"error: {exc}", EXIT_FAILED)
        except Exception as exc:
            log.exception("could not start the sweep")
            exit_with(f"error: could not create the sweep's MLflow parent run in {config.tracking.uri}: "
                   f"{type(exc).__name__}: {exc}", EXIT_FAILED)

    @staticmethod
    def _start_parent(config: DictConfig) -> None:
        from sparsegrad.experiment.compare import SWEEP_TAG
        from sparsegrad.experiment.schema import validate
        from sparsegrad.experiment.tracking import Tracker, flatten

        validate(config)
        tracker = Tracker(config.tracking.uri, config.tracking.experiment)
        sweep_dir = Path(config.hydra.sweep.dir)
        run_id = tracker.start_run(_sweep_name(config), tags={
            "sweep_dir": str(sweep_dir), SWEEP_TAG: "parent",
            "launcher": str(OmegaConf.select(config, "hydra.launcher._target_")).rsplit(".", 1)[-1],
            "sweep_overrides": json.dumps(sweep_overrides(config))})
        _open_parents[run_id] = (tracker.uri, config.tracking.experiment)
        atexit.register(_end_open_parent, run_id)
        tracker.log_params(run_id, flatten(config, exclude=("hydra",)))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_FILE).write_text(json.dumps({"run_id": run_id, "uri": tracker.uri}))
        log.info("sweep parent run %s (%s)", run_id, tracker.run_url_hint(run_id))

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode != RunMode.MULTIRUN:
            return
        error = None
        if job_return.status == JobStatus.FAILED:
            # Let the sweep go on: the sweeper re-raises a FAILED job's exception after its batch.
            error = job_return._return_value
            log.error("job #%s (%s) failed", config.hydra.job.num, " ".join(job_return.overrides or []),
                      exc_info=(type(error), error, error.__traceback__))
            job_return.status = JobStatus.COMPLETED
            job_return.return_value = math.nan
        parent = parent_run_of(config.hydra.sweep.dir)
        if parent is None:
            return
        value = job_return.return_value
        ok = error is None and isinstance(value, float | int) and math.isfinite(value)
        try:
            self._record_job(config, parent, list(job_return.overrides or []), error, ok)
        except Exception as exc:  # the job's outcome is in its log either way
            log.warning("could not record job #%s in MLflow: %s: %s", config.hydra.job.num,
                        type(exc).__name__, exc)

    @staticmethod
    def _record_job(config: DictConfig, parent: str, overrides: list[str], error: BaseException | None,
                    ok: bool) -> None:
        """Tag the job's run with its overrides; make a FAILED run for a failed job that never opened one."""
        from sparsegrad.experiment.compare import CHOICES_TAG, OVERRIDES_TAG, SWEEP_TAG
        from sparsegrad.experiment.errors import ExperimentError
        from sparsegrad.experiment.run import run_name
        from sparsegrad.experiment.schema import validate
        from sparsegrad.experiment.tracking import Tracker, flatten

        tracker = Tracker(config.tracking.uri, config.tracking.experiment)
        run_dir = str(config.hydra.runtime.output_dir)
        children = tracker.client.search_runs([tracker.experiment_id], f"tags.mlflow.parentRunId = '{parent}'",
                                              max_results=10_000)
        mine = [r for r in children if r.data.tags.get("run_dir") == run_dir]
        choices = {k: v for k, v in OmegaConf.to_container(config.hydra.runtime.choices).items()
                   if not k.startswith("hydra/")}
        tags = {OVERRIDES_TAG: json.dumps(overrides), CHOICES_TAG: json.dumps(choices), SWEEP_TAG: "child",
                "sweep_job": str(config.hydra.job.num)}
        if mine:
            tracker.set_tags(mine[0].info.run_id, tags)
            return
        if ok:  # it trained, in a run of its own elsewhere (trainer.resume continues a run outside the sweep)
            return
        task = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        if error is None:
            try:
                validate(task)
                error = RuntimeError(f"the job ended without an MLflow run: see its log in {run_dir}")
            except ExperimentError as exc:
                error = exc
        run_id = tracker.start_run(config.tracking.run_name or run_name(overrides),
                                   tags={"run_dir": run_dir, **tags}, parent_run_id=parent)
        tracker.log_params(run_id, flatten(task))
        reason = str(error) if isinstance(error, ExperimentError) else f"{type(error).__name__}: {error}"
        tracker.end_run(run_id, "FAILED", reason)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from sparsegrad.experiment.compare import report_sweep
        from sparsegrad.experiment.tracking import Tracker

        run_id = parent_run_of(config.hydra.sweep.dir)
        if run_id is None:
            return
        out_dir = Path(config.hydra.sweep.dir) / "comparison"
        try:
            tracker = Tracker(config.tracking.uri, config.tracking.experiment)
            table = report_sweep(tracker.client, run_id, out_dir)
        except Exception as exc:
            log.exception("the sweep's comparison failed")
            reason = f"comparison failed: {type(exc).__name__}: {exc}"
            try:
                Tracker(config.tracking.uri, config.tracking.experiment).end_run(run_id, "FAILED", reason)
                _open_parents.pop(run_id, None)
            except Exception:
                pass  # the atexit hook tries once more
            exit_with(f"error: the sweep's jobs ran, but its {reason}; retry it with "
                   f"`python scripts/compare.py --parent {run_id} --attach`", EXIT_FAILED)
        failed = [r for r in table if r["status"] != "FINISHED"]
        tracker.set_tags(run_id, {"jobs": str(len(table)), "jobs_failed": str(len(failed))})
        tracker.end_run(run_id, "FINISHED")
        _open_parents.pop(run_id, None)
        log.info("sweep comparison: %s and %s (also on the parent run %s)",
                 out_dir / "summary.csv", out_dir / "convergence.png", run_id)
        if failed:  # every job ran; the exit code still says that not all of them made it
            exit_with(f"error: {len(failed)} of {len(table)} jobs did not finish (FAILED in MLflow and in "
                   f"{out_dir / 'summary.csv'}); the others are compared there", EXIT_FAILED)
