"""The callbacks `conf/callbacks/` builds (`callbacks=default` lists the first six); `Callback` is their base."""

from sparsegrad.experiment.callback import Callback, TrainState
from sparsegrad.experiment.callbacks.checkpoint import ModelCheckpoint
from sparsegrad.experiment.callbacks.early_stopping import EarlyStopping
from sparsegrad.experiment.callbacks.figures import Figures
from sparsegrad.experiment.callbacks.gradient_monitor import GradientMonitor
from sparsegrad.experiment.callbacks.image_log import ImageLog
from sparsegrad.experiment.callbacks.metric_logger import MetricLogger
from sparsegrad.experiment.callbacks.pruning import OptunaPruning
from sparsegrad.experiment.callbacks.system_metrics import SystemMetrics

__all__ = ["Callback", "TrainState", "ModelCheckpoint", "MetricLogger", "GradientMonitor", "ImageLog", "Figures",
           "SystemMetrics", "EarlyStopping", "OptunaPruning"]
