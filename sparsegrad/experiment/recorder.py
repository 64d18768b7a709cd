"""The recorder: every write of a run (params, metrics, checkpoints, images, figures, weights) goes through it.

It is the runner's one place that writes, so it is where a background mechanism would go.
There is none: each write is done when asked, on the caller's thread, and its error (one
line: `TrackingUnreachable`, `ExperimentError`) raised there. Measured with
`scripts/bench_run.py` (docs/runner.md): all of a default run's writes take under 5% of it,
the bar a background thread must clear to exist. Nothing needs shutting down at exit.

One kind of row waits: system samples (`log_sample`) go out in the same batch as the next
epoch's metrics, and `flush()`, which `Run` calls before it records an outcome, sends the last
ones. A call of their own each epoch (10-25 ms on sqlite) would cost about 1% of a default run.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sparsegrad.experiment.checkpoint import FILENAME, save_checkpoint
from sparsegrad.experiment.tracking import STEPS_TAG, STOPPED_TAG, Tracker, flatten

if TYPE_CHECKING:
    from omegaconf import DictConfig

    from sparsegrad.data import Dataset
    from sparsegrad.experiment.callback import TrainState
    from sparsegrad.nn import Module

log = logging.getLogger(__name__)


class Recorder:
    """Writes one run's records: to MLflow through the tracker, and the checkpoint to the run's folder."""

    def __init__(self, tracker: Tracker, run_id: str, run_dir: Path, name: str = "") -> None:
        self.tracker, self.run_id, self.run_dir, self.name = tracker, run_id, run_dir, name
        self.checkpoint: Path | None = None  # the last one written (or copied in, to resume)
        self.checkpoint_epoch = 0  # the epoch it holds
        self.epochs_logged = 0  # the last epoch whose metrics are in MLflow
        self._samples: list[tuple[str, float, int, int]] = []  # system samples not yet sent (key, value, step, ms)

    def caption(self, data_name: str) -> str:
        """What figures and images say they show: "run <name> (<id>), data=<name>"."""
        return f"run {self.name} ({self.run_id[:8]}), data={data_name}"

    # --- once per run ----------------------------------------------------------------------------

    def log_config(self, cfg: DictConfig) -> None:
        """The resolved config: as flat params (the runs table's columns) and as config.yaml."""
        from omegaconf import OmegaConf

        self.log_params(flatten(cfg))
        self.tracker.log_text(self.run_id, OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")

    def log_params(self, params: Mapping[str, str]) -> None:
        self.tracker.log_params(self.run_id, params)

    def log_data(self, data: Dataset, steps_per_epoch: int) -> None:
        """The data as MLflow dataset inputs (training, validation), and the steps an epoch takes."""
        self.tracker.log_datasets(self.run_id, {
            "training": (f"{data.name}-train", data.source, data.train_images, data.train_labels),
            "validation": (f"{data.name}-validation", data.source, data.test_images, data.test_labels)})
        self.tracker.set_tags(self.run_id, {STEPS_TAG: str(steps_per_epoch)})

    def set_tags(self, tags: Mapping[str, str]) -> None:
        self.tracker.set_tags(self.run_id, tags)

    def stopped(self, reason: str, epoch: int) -> None:
        """Training ended early, by a callback's choice: why, and when."""
        self.tracker.set_tags(self.run_id, {STOPPED_TAG: f"{reason} at epoch {epoch}"})

    # --- each epoch ------------------------------------------------------------------------------

    def log_metrics(self, epoch: int, metrics: Mapping[str, float], step_losses: list[tuple[int, float]]) -> None:
        """The epoch's metrics, its step losses and the system samples taken since the last write: one batch."""
        self.tracker.log_metrics(self.run_id, [(k, v, epoch) for k, v in metrics.items()]
                                 + [("train/step_loss", v, s) for s, v in step_losses] + self._samples)
        self._samples = []
        self.epochs_logged = epoch

    def log_missing_epochs(self, history: Mapping[str, list[float]]) -> None:
        """Epochs a resumed checkpoint holds but MLflow lacks (the process died between the two)."""
        logged = {step for step, _ in self.tracker.metric_history(self.run_id, "train/loss")}
        rows = [(key, values[i], i + 1) for key, values in history.items() for i in range(len(values))
                if i + 1 not in logged]
        if rows:
            self.tracker.log_metrics(self.run_id, rows)

    # --- system samples (callbacks/system_metrics.py) ----------------------------------------------

    def next_step(self, key: str) -> int:
        """The step after the last one of `key` in MLflow or held here, 0 if none (a resumed run's samples go on)."""
        held = [step for name, _, step, _ in self._samples if name == key]
        return max([step for step, _ in self.tracker.metric_history(self.run_id, key)] + held, default=-1) + 1

    def log_sample(self, step: int, time_ms: int, values: Mapping[str, float]) -> None:
        """One sample, kept with the time it was taken: sent with the next epoch's metrics, or by `flush`."""
        self._samples.extend((key, float(value), step, time_ms) for key, value in values.items())

    def save_checkpoint(self, state: TrainState) -> Path:
        self.checkpoint = save_checkpoint(self.run_dir / FILENAME, state, self.run_id)
        self.checkpoint_epoch = state.epoch
        return self.checkpoint

    def log_image(self, key: str, picture: np.ndarray, step: int) -> None:
        self.tracker.log_image(self.run_id, picture, key, step)

    # --- at the end ------------------------------------------------------------------------------

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        self.tracker.log_artifact(self.run_id, path, folder)

    def log_weights(self, model: Module) -> Path:
        """The trained weights, `model/weights.npz` (what scripts/evaluate.py loads)."""
        path = self.run_dir / "weights.npz"
        np.savez(path, **model.state_dict())
        self.tracker.log_artifact(self.run_id, path, "model")
        return path

    def log_model(self, name: str, code: Path, artifacts: Mapping[str, Path],
                  library: Path, example: np.ndarray, output: np.ndarray, requirements: list[str],
                  registered_name: str | None, step: int) -> str | None:
        """The run's model as an MLflow pyfunc (registered as a new version of `registered_name`, if any)."""
        return self.tracker.log_pyfunc_model(self.run_id, name, code, artifacts, library, example, output,
                                             requirements, registered_name, step)

    def store_checkpoint(self) -> str:
        """Store the last checkpoint with the run too (so it resumes anywhere); where it is kept."""
        if self.checkpoint is None or not self.checkpoint.exists():
            return ""
        try:
            self.tracker.log_artifact(self.run_id, self.checkpoint, "checkpoint")
            return f"artifact checkpoint/{FILENAME}, and {self.checkpoint}"
        except Exception as exc:  # the outcome matters more than this copy
            log.warning("could not store the checkpoint in MLflow: %s", exc)
            return str(self.checkpoint)

    def flush(self) -> None:
        """Send the system samples still held (those after the last epoch's metrics); nothing else waits."""
        if self._samples:
            self.tracker.log_metrics(self.run_id, self._samples)
            self._samples = []
