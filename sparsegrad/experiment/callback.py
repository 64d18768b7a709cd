"""What a callback sees and when: `TrainState`, the live state of training, and `Callback`'s hooks.

`fit` calls each hook of each callback in order, on its own thread, with the live state
(the model being trained, not a copy). A callback adds its metrics to the epoch with
`state.log(key, value)` and stops training with `state.stop(reason)`:

    class StopAtLoss(Callback):
        def on_epoch_end(self, state: TrainState) -> None:
            if state.metrics["train/loss"] < 0.01:
                state.stop("train/loss below 0.01")
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from sparsegrad.data import Dataset
from sparsegrad.experiment.metrics import Validation
from sparsegrad.nn import AutoEncoder
from sparsegrad.optim import Optimizer, Schedule

if TYPE_CHECKING:
    from sparsegrad.experiment.recorder import Recorder


@dataclass
class TrainState:
    """Everything a callback may read, and a checkpoint must hold."""

    model: AutoEncoder
    optimizer: Optimizer
    schedule: Schedule
    rng: np.random.Generator  # the shuffling order's generator
    data: Dataset | None = None
    epochs: int = 0  # the epoch training ends after (unless stopped)
    recorder: Recorder | None = None  # where a run's writes go (None: fit without a run)
    epoch: int = 0  # epochs finished
    history: dict[str, list[float]] = field(default_factory=dict)  # every finished epoch's metrics
    metrics: dict[str, float] = field(default_factory=dict)  # the epoch at hand's, as they are logged
    step_losses: list[tuple[int, float]] = field(default_factory=list)  # the epoch at hand's (global step, loss)
    validation: Validation | None = None  # the epoch at hand's
    stop_reason: str = ""  # why training stops early ("" while it goes on)

    def log(self, key: str, value: float) -> None:
        """A metric of the epoch that is ending (its value per epoch is kept in `history`)."""
        value = float(value)
        if key in self.metrics:
            self.history[key][-1] = value
        else:
            self.history.setdefault(key, []).append(value)
        self.metrics[key] = value

    def stop(self, reason: str) -> None:
        """End training after this epoch (its callbacks all run); the run ends FINISHED, tagged with why."""
        if not self.stop_reason:
            self.stop_reason = reason

    @property
    def should_stop(self) -> bool:
        return bool(self.stop_reason)


class Callback:
    """Hooks into `fit`, each a no-op here: override the ones you need.

    Callbacks whose `runs_last` is true (the checkpoint and the metric logger, which record
    what the others added) are called after all the others, in their own order.
    """

    runs_last = False

    def on_fit_start(self, state: TrainState) -> None:
        """Before the first epoch (of this process: a resumed run starts at its checkpoint's)."""

    def on_before_update(self, state: TrainState, step: int) -> None:
        """After the backward pass of global step `step`, before the optimizer changes the weights."""

    def on_after_update(self, state: TrainState, step: int) -> None:
        """After the optimizer's step."""

    def on_epoch_end(self, state: TrainState) -> None:
        """After an epoch's training and validation: `state.metrics` holds its metrics so far."""

    def on_fit_end(self, state: TrainState) -> None:
        """After the last epoch, or the one a callback stopped training at (not after an error)."""
