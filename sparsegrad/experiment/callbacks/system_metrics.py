"""System metrics: the machine's CPU and memory while a run trains, in MLflow's "System metrics" tab.

Logged under MLflow's own names (its `SystemMetricsMonitor`'s `system/` metrics, so its run page
draws them as it would the monitor's), each sample with the wall-clock time it was taken and
its index as step:

- `system/cpu_utilization_percentage`: the whole machine's CPU since the last sample (100: all cores busy)
- `system/system_memory_usage_megabytes`, `system/system_memory_usage_percentage`: the machine's memory in use
- `system/process_memory_rss_megabytes`: this process's resident memory (not one of MLflow's)

How often: every `interval_s` seconds (1 by default) from the start of training, checked after
each optimizer step with one `time.monotonic()` call, and once more when training ends. No
sample is taken at the start: psutil's CPU figure is the average since its previous call, so
the first one would cover no time. A sample (three psutil calls) takes ~90 us; the samples go
out in the batch of the epoch's metrics, not in calls of their own (`Recorder.log_sample`).
Measured in docs/performance-run.md: ~90 samples and ~0.35% of a default run (a second is one
sample or two per epoch; 0.1 s would cost ~1%).

Why not MLflow's monitor (`log_system_metrics=True`): it samples on a thread of its own, and a
run here has one thread of control (docs/runner.md). Sampling on fit's thread between steps
loses nothing a one-second picture needs: a step takes about a millisecond, and the CPU figure
covers the whole interval, not an instant. (Validation and the epoch's writes delay the sample
due during them by their ~0.1 s.)
"""

from __future__ import annotations

import math
import time

import psutil

from sparsegrad.checks import check
from sparsegrad.experiment.callback import Callback, TrainState
from sparsegrad.experiment.callbacks.recording import recorder_of
from sparsegrad.experiment.recorder import Recorder

CPU = "system/cpu_utilization_percentage"  # (MLflow's names: mlflow/system_metrics/metrics/cpu_monitor.py)
MEMORY_MB = "system/system_memory_usage_megabytes"
MEMORY_PERCENT = "system/system_memory_usage_percentage"
PROCESS_RSS_MB = "system/process_memory_rss_megabytes"


class SystemMetrics(Callback):
    """Every `interval_s` seconds of training and at its end: the machine's CPU and memory, and this process's."""

    def __init__(self, interval_s: float = 1.0) -> None:
        check(isinstance(interval_s, int | float) and not isinstance(interval_s, bool) and math.isfinite(interval_s)
              and interval_s > 0, "interval_s", interval_s, "a number of seconds > 0")
        self.interval_s = float(interval_s)
        self.samples = 0  # taken in this process
        self._due = math.inf  # the time.monotonic() of the next sample
        self._step = 0  # the next sample's step
        self._recorder: Recorder | None = None
        self._process: psutil.Process | None = None

    def on_fit_start(self, state: TrainState) -> None:
        self._recorder = recorder_of(state, self)
        self._step = self._recorder.next_step(CPU)  # a resumed run goes on after its earlier samples
        self._process = psutil.Process()
        psutil.cpu_percent()  # starts psutil's CPU clock: the first sample's figure is the average from here
        self._due = time.monotonic() + self.interval_s

    def on_after_update(self, state: TrainState, step: int) -> None:
        if time.monotonic() >= self._due:
            self._sample()

    def on_fit_end(self, state: TrainState) -> None:
        self._sample()

    def _sample(self) -> None:
        memory = psutil.virtual_memory()
        self._recorder.log_sample(self._step, int(time.time() * 1000), {
            CPU: psutil.cpu_percent(),
            MEMORY_MB: round(memory.used / 1e6, 1),
            MEMORY_PERCENT: round(memory.used / memory.total * 100, 1),
            PROCESS_RSS_MB: round(self._process.memory_info().rss / 1e6, 1),
        })
        self._step += 1
        self.samples += 1
        self._due = time.monotonic() + self.interval_s
