"""Early stopping: end training once a metric has stopped improving (Lightning's `EarlyStopping`)."""

from __future__ import annotations

import math

from sparsegrad.checks import check
from sparsegrad.experiment.callback import Callback, TrainState
from sparsegrad.experiment.metrics import not_a_metric, renamed


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs in a row.

    `mode` is "min" (a loss) or "max" (explained variance). A NaN counts as no improvement.
    """

    def __init__(self, monitor: str = "val/recon_loss", mode: str = "min", patience: int = 5,
                 min_delta: float = 0.0) -> None:
        check(renamed(monitor) is None, "monitor", monitor, f"the metric is named {renamed(monitor)}")
        check(mode in ("min", "max"), "mode", mode, "min or max")
        check(isinstance(patience, int) and patience >= 1, "patience", patience, "an integer >= 1")
        check(isinstance(min_delta, int | float) and math.isfinite(min_delta) and min_delta >= 0, "min_delta",
              min_delta, "a number >= 0")
        self.monitor, self.mode, self.patience, self.min_delta = monitor, mode, patience, float(min_delta)
        self.best: float | None = None
        self.bad_epochs = 0

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return math.isfinite(value)
        gain = self.best - value if self.mode == "min" else value - self.best
        return gain > self.min_delta

    def on_fit_start(self, state: TrainState) -> None:
        past = state.history.get(self.monitor, [])  # a resumed run: its epochs so far count
        self.best, self.bad_epochs = None, 0
        for value in past:
            self._update(value)

    def _update(self, value: float) -> None:
        if self._improved(value):
            self.best, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1

    def on_epoch_end(self, state: TrainState) -> None:
        if self.monitor not in state.metrics:
            raise not_a_metric("callbacks.early_stopping.monitor", self.monitor, state.metrics)
        self._update(state.metrics[self.monitor])
        if self.bad_epochs >= self.patience:
            state.stop(f"early_stopping: {self.monitor} did not improve by more than {self.min_delta:g} "
                       f"for {self.patience} epochs (best {self.best:.6g})")
