"""Checkpointing: each finished epoch's state into the run's `checkpoint.npz` (what `trainer.resume` reads)."""

from __future__ import annotations

from sparsegrad.experiment.callback import Callback, TrainState
from sparsegrad.experiment.callbacks.recording import recorder_of


class ModelCheckpoint(Callback):
    """After each epoch (after the callbacks that add metrics, so the history it holds is whole)."""

    runs_last = True

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled  # trainer.checkpoint

    def on_fit_start(self, state: TrainState) -> None:
        recorder_of(state, self)

    def on_epoch_end(self, state: TrainState) -> None:
        if self.enabled:
            recorder_of(state, self).save_checkpoint(state)
