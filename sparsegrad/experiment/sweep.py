"""A Hydra callback that gives each multirun sweep one MLflow parent run.

`on_multirun_start` runs once, before any job: it creates the experiment and the
parent run and writes the parent's id into the sweep directory, where every job
(in this process, a joblib worker or a cluster node) finds it. Creating the
store here, not in the jobs, also keeps parallel jobs from racing to create a
fresh sqlite schema. `on_multirun_end` compares the jobs and stores the
comparison on the parent.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)

PARENT_FILE = "mlflow_parent_run.json"


def parent_run_of(sweep_dir: str | Path) -> str | None:
    """The parent run id that `on_multirun_start` left in `sweep_dir`, if any."""
    path = Path(sweep_dir) / PARENT_FILE
    return json.loads(path.read_text())["run_id"] if path.is_file() else None


def _sweep_name(config: DictConfig) -> str:
    overrides = list(config.hydra.overrides.task)
    return "sweep " + (" ".join(overrides) if overrides else Path(config.hydra.sweep.dir).name)


class MlflowSweepCallback(Callback):
    """Parent run at the start of a sweep, comparison artifacts at its end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from sparsegrad.experiment.schema import validate
        from sparsegrad.experiment.tracking import Tracker, flatten

        validate(config)
        tracker = Tracker(config.tracking.uri, config.tracking.experiment)
        run_id = tracker.start_run(_sweep_name(config), tags={"sweep_dir": str(config.hydra.sweep.dir),
                                                              "sparsegrad.sweep": "parent"})
        tracker.log_params(run_id, flatten(config, exclude=("hydra",)))
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        (sweep_dir / PARENT_FILE).write_text(json.dumps({"run_id": run_id, "uri": tracker.uri}))
        log.info("sweep parent run %s (%s)", run_id, tracker.run_url_hint(run_id))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from sparsegrad.experiment.compare import report_sweep
        from sparsegrad.experiment.tracking import Tracker

        run_id = parent_run_of(config.hydra.sweep.dir)
        if run_id is None:
            return
        tracker = Tracker(config.tracking.uri, config.tracking.experiment)
        try:
            report_sweep(tracker, run_id, Path(config.hydra.sweep.dir) / "comparison")
        except Exception as exc:
            tracker.end_run(run_id, "FAILED", f"comparison failed: {type(exc).__name__}: {exc}")
            raise
        tracker.end_run(run_id, "FINISHED")
