"""Metric logging: each epoch's metrics (and its sampled step losses) into MLflow."""

from __future__ import annotations

from sparsegrad.experiment.callback import Callback, TrainState
from sparsegrad.experiment.callbacks.recording import recorder_of


class MetricLogger(Callback):
    """After each epoch, everything in `state.metrics`: fit's own, and what other callbacks logged."""

    runs_last = True

    def on_fit_start(self, state: TrainState) -> None:
        recorder_of(state, self)

    def on_epoch_end(self, state: TrainState) -> None:
        recorder_of(state, self).log_metrics(state.epoch, state.metrics, state.step_losses)
