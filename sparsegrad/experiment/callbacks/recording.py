"""What the callbacks that write share: the run's recorder, or a clear error when fit has none."""

from __future__ import annotations

from sparsegrad.experiment.callback import TrainState
from sparsegrad.experiment.errors import ExperimentError
from sparsegrad.experiment.recorder import Recorder


def recorder_of(state: TrainState, callback: object) -> Recorder:
    if state.recorder is None:
        raise ExperimentError(f"{type(callback).__name__} writes through a run's recorder: call "
                              "fit(..., recorder=run.recorder) inside a Run, or leave this callback out")
    return state.recorder
