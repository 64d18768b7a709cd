"""A Hydra callback that gives each multirun sweep one MLflow parent run, a `Run` like any other.

`on_multirun_start` runs once, in the launching process, before any job: it
validates the config, creates the store, the experiment and the parent run, and
writes the parent's id into the sweep directory, where every job (in this
process, a joblib worker or a cluster node sharing the directory) finds it.
Creating the store here, not in the jobs, keeps parallel jobs from racing to
create a fresh sqlite schema. Each job opens its own child run (`job.train`),
records its own outcome there and lets the sweep go on.

`on_multirun_end` compares the jobs, stores `comparison/summary.csv` and
`comparison/convergence.png` on the parent and ends it: FINISHED, with the tag
`jobs_failed`, or FAILED when no job finished. A sweep that stops half way
(Ctrl-C, a launcher error) never reaches it: at exit the parent is KILLED, and so
are its jobs still RUNNING (a parallel launcher kills their workers outright).

Hydra turns an exception raised in a callback into a one-line warning and goes
on, so errors here go through `task.run_task`: one line and an exit code.
"""

from __future__ import annotations

import atexit
import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from sparsegrad.experiment.errors import ExperimentError, RunFailed
from sparsegrad.experiment.task import run_task

log = logging.getLogger(__name__)

PARENT_FILE = "mlflow_parent_run.json"

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


def is_study(config: DictConfig) -> bool:
    """Whether the sweep is an Optuna study (hydra/sweeper=optuna), not a grid."""
    return str(OmegaConf.select(config, "hydra.sweeper._target_") or "").endswith("OptunaSweeper")


def check_jobs(config: DictConfig) -> dict[str, str]:
    """Compose and validate the config of every job the basic sweeper will launch, or for a study the
    corners of its space (every bound and choice), raising the first error; the swept keys and the
    values each takes ({"beta": "0,0.1,1"}, {"optimizer.lr": "tag(log,interval(0.0001,0.1))"})."""
    from hydra import compose, initialize_config_dir
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from sparsegrad.experiment.paths import project_root
    from sparsegrad.experiment.schema import validate

    parsed = OverridesParser.create().parse_overrides(sweep_overrides(config))
    space = {o.get_key_element().lstrip("+~"): ",".join(o.sweep_string_iterator()) if o.is_discrete_sweep()
             else o.input_line.split("=", 1)[1] for o in parsed if o.is_sweep_override()}
    if is_study(config):
        from sparsegrad.experiment.tuning.space import parse_space
        from sparsegrad.experiment.tuning.sweeper import settings_of

        settings_of(config)  # (the sweeper's own settings)
        jobs = parse_space(sweep_overrides(config)).corners()
    elif str(OmegaConf.select(config, "hydra.sweeper._target_") or "").endswith("BasicSweeper"):
        (jobs,) = BasicSweeper.split_arguments(parsed, None)
    else:
        return space  # (another sweeper makes its jobs itself: each job checks its own)
    name = config.hydra.job.config_name or "config"

    def check_all() -> None:
        for overrides in jobs:
            job = compose(config_name=name, overrides=list(overrides))
            validate(job)

    if GlobalHydra.instance().is_initialized():  # (inside the Hydra app that runs the sweep)
        check_all()
    else:
        with initialize_config_dir(config_dir=str(project_root() / "conf"), version_base="1.3"):
            check_all()
    return space


def _sweep_name(config: DictConfig) -> str:
    from sparsegrad.experiment.schema import defines_the_run

    shown = [o for o in sweep_overrides(config) if defines_the_run(o)]
    return "sweep " + (" ".join(shown) if shown else Path(config.hydra.sweep.dir).name)


class MlflowSweepCallback(Callback):
    """Parent run at the start of a sweep, comparison artifacts and its outcome at its end."""

    def __init__(self) -> None:
        self.parent = None  # the open parent `Run`, between start and end

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        run_task(lambda: self._start_parent(config),
                 during=f"could not create the sweep's MLflow parent run in {config.tracking.uri}")

    def _start_parent(self, config: DictConfig) -> None:
        from sparsegrad.data import check_available
        from sparsegrad.experiment import tracking as t
        from sparsegrad.experiment.run import Run
        from sparsegrad.experiment.schema import validate

        task = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        validate(task)
        space = check_jobs(config)  # every job's config, before anything is opened
        tracker = t.Tracker(config.tracking.uri, config.tracking.experiment, config.tracking.timeout_s,
                            config.tracking.retries)  # an unreachable store: in seconds, before anything else
        check_available(task.data.name, task.data.get("path"))  # once, before any job opens a run
        sweep_dir = Path(config.hydra.sweep.dir)
        launcher = str(OmegaConf.select(config, "hydra.launcher._target_")).rsplit(".", 1)[-1]
        tags = {**t.provenance_tags("scripts/train.py"), t.SWEEP_TAG: "parent", t.LAUNCHER_TAG: launcher,
                t.SWEEP_DIR_TAG: str(sweep_dir.resolve()), t.SWEEP_OVERRIDES_TAG: json.dumps(sweep_overrides(config))}
        self.parent = Run(tracker, sweep_dir, name=_sweep_name(config), trains=False, tags=tags)
        self.parent.open()
        # What the jobs share, and the swept keys as the space they take (`sweep.beta = 0,0.1,1`): a
        # filter on `params.beta` finds the jobs, never the parent.
        fixed = {k: v for k, v in t.flatten(task).items() if k not in space}
        self.parent.recorder.log_params({**fixed, **{f"sweep.{k}": v for k, v in space.items()}})
        atexit.register(self._abandon)
        (sweep_dir / PARENT_FILE).write_text(json.dumps({"run_id": self.parent.run_id, "uri": tracker.uri}))

    def _abandon(self) -> None:
        """At exit: a sweep that never reached `on_multirun_end` leaves its parent and jobs KILLED."""
        parent, self.parent = self.parent, None
        if parent is None:
            return
        reason = ("the sweep stopped before all its jobs ended (interrupted, or an error in Hydra or the "
                  f"launcher: see its output); compare what ran with `python scripts/compare.py --parent "
                  f"{parent.run_id}`")
        try:
            killed = parent.tracker.kill_running_children(parent.run_id, "interrupted with its sweep (Ctrl-C "
                                                           "or SIGTERM)")
            if killed:
                print(f"the sweep's unfinished jobs are KILLED in MLflow ({', '.join(killed)}); continue each "
                      "with trainer.resume=<its run id>", flush=True)
        except Exception as exc:  # exiting anyway
            log.warning("could not mark the sweep's unfinished jobs KILLED: %s", exc)
        try:
            parent.__exit__(KeyboardInterrupt, KeyboardInterrupt(reason), None)
        except KeyboardInterrupt:  # (what a run interrupted raises: the process is exiting anyway)
            pass

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        run_task(lambda: self._end_parent(config), during="could not compare the sweep's jobs")

    def _end_parent(self, config: DictConfig) -> None:
        from sparsegrad.experiment.compare import report_sweep
        from sparsegrad.experiment.tracking import JOBS_FAILED_TAG, JOBS_TAG

        parent, self.parent = self.parent, None
        if parent is None:
            return
        out_dir = Path(config.hydra.sweep.dir) / "comparison"
        table: list[dict[str, object]] = []
        try:
            with parent:
                table = report_sweep(parent.tracker, parent.run_id, out_dir)
                if is_study(config):
                    from sparsegrad.experiment.tuning.report import report_study

                    report_study(parent.recorder, config, out_dir)
                failed = [r for r in table if r["status"] != "FINISHED"]
                parent.recorder.set_tags({JOBS_TAG: str(len(table)), JOBS_FAILED_TAG: str(len(failed))})
                if len(failed) == len(table):
                    raise ExperimentError(f"none of the sweep's {len(table)} jobs finished: see each job's "
                                          "failure_reason")
        except Exception as exc:  # the parent is FAILED by now; what to do next goes with the reason
            retry = (f"; retry the comparison with `python scripts/compare.py --parent {parent.run_id} --attach`"
                     if not table else "")
            raise RunFailed(f"{parent.reason or exc}{retry}") from None
        log.info("sweep comparison: %s and %s (also on the parent run %s)",
                 out_dir / "summary.csv", out_dir / "convergence.png", parent.run_id)
        if failed and is_study(config):  # (a study's failed trials are part of its search: FAIL in Optuna)
            log.warning("%d of %d trials failed (FAIL in Optuna, FAILED in MLflow)", len(failed), len(table))
        elif failed:  # every job ran; the exit code still says that not all of them made it
            raise ExperimentError(f"{len(failed)} of {len(table)} jobs did not finish (FAILED or KILLED in MLflow, "
                                  f"and in {out_dir / 'summary.csv'}); the others are compared there")
