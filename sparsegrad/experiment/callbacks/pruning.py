"""Pruning: an Optuna trial's objective reported after every epoch, and the trial stopped when the study's
pruner says so. The Optuna sweeper adds it to each trial's job (`+callbacks.pruning...`)."""

from __future__ import annotations

import math
from typing import Any

from sparsegrad.experiment.callback import Callback, TrainState
from sparsegrad.experiment.metrics import not_a_metric


class OptunaPruning(Callback):
    """Reports `monitor` of each epoch to trial number `trial` of the study `study_name` in `storage`, and
    asks `pruner` (median, hyperband or none: a study keeps no pruner in its storage) whether to stop."""

    def __init__(self, storage: str, study_name: str, trial: int, monitor: str = "val/recon_loss",
                 pruner: str = "median") -> None:
        self.storage, self.study_name, self.trial, self.monitor = storage, study_name, trial, monitor
        self.pruner = pruner
        self._trial: Any = None

    def on_fit_start(self, state: TrainState) -> None:
        import optuna

        from sparsegrad.experiment.tuning.study import make_pruner, open_storage

        study = optuna.load_study(study_name=self.study_name, storage=open_storage(self.storage),
                                  pruner=make_pruner(self.pruner, state.epochs))
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, self.trial)
        self._trial = optuna.trial.Trial(study, trial_id)
        if state.recorder is not None:
            self._trial.set_user_attr("mlflow_run_id", state.recorder.run_id)

    def on_epoch_end(self, state: TrainState) -> None:
        if self.monitor not in state.metrics:  # (else every trial would end FAIL with nothing reported)
            raise not_a_metric("hydra.sweeper.objective", self.monitor, state.metrics)
        value = state.metrics[self.monitor]
        if math.isfinite(value):
            self._trial.report(value, state.epoch)
        self._trial.set_user_attr("epochs", state.epoch)
        if self._trial.should_prune():
            self._trial.set_user_attr("pruned_at_epoch", state.epoch)
            state.stop("pruned")
