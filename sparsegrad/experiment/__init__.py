"""The experiment runner: config -> Run -> fit with callbacks -> MLflow. docs/runner.md shows the flow.

`Callback` and `TrainState` are what a user's own callback needs:

    from sparsegrad.experiment import Callback
"""

from sparsegrad.experiment.callback import Callback, TrainState

__all__ = ["Callback", "TrainState"]
