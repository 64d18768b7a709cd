"""A callback that slows training down, so that a test's signal lands in the middle of an epoch."""

from __future__ import annotations

import time

from sparsegrad.experiment import Callback


class Pace(Callback):
    """Sleeps `seconds` after each optimizer step (the weights are untouched: runs stay bit for bit)."""

    def __init__(self, seconds: float = 0.1) -> None:
        self.seconds = seconds

    def on_after_update(self, state, step: int) -> None:
        time.sleep(self.seconds)
