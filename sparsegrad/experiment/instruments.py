"""Callbacks that watch training: gradients and updates per parameter, and images over the epochs.

Both are `fit` callbacks; neither knows MLflow: the gradient monitor adds its metrics
to the epoch's history (which the run logs), the image log hands pictures to a function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sparsegrad.experiment.trainer import TrainState
from sparsegrad.function import no_grad
from sparsegrad.nn import Module
from sparsegrad.tensor import Tensor


def _norm(a: np.ndarray) -> float:
    return math.sqrt(float(np.vdot(a, a)))


@dataclass
class GradientMonitor:
    """Per parameter, on every `every`-th step (and each epoch's first): the gradient's norm and the
    update's norm over the weight's.

    Each epoch it records `grad_norm/<param>` (mean over the sampled steps), `grad_norm_max/<param>`,
    `update_ratio/<param>` (mean ||w_after - w_before|| / ||w_before||, Karpathy's ~1e-3 rule of
    thumb) and `weight_norm/<param>` (at the epoch's end).
    """

    model: Module
    every: int = 10
    _grads: dict[str, list[float]] = field(default_factory=dict, init=False)
    _ratios: dict[str, list[float]] = field(default_factory=dict, init=False)
    _before: dict[str, np.ndarray] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.params = dict(self.model.named_parameters())

    def on_before_update(self, state: TrainState, step: int) -> None:
        if step % self.every and self._grads:  # (an epoch's first step always: short epochs get one)
            return
        for name, p in self.params.items():
            if p.grad is not None:
                self._grads.setdefault(name, []).append(_norm(p.grad))
                self._before[name] = p.data.copy()

    def on_after_update(self, state: TrainState, step: int) -> None:
        for name, before in self._before.items():
            size = _norm(before)
            if size > 0:  # (a bias starts at 0: no ratio to speak of yet)
                self._ratios.setdefault(name, []).append(_norm(self.params[name].data - before) / size)
        self._before.clear()

    def on_epoch_end(self, state: TrainState) -> None:
        for name, p in self.params.items():
            grads = self._grads.get(name) or [math.nan]
            state.record(f"grad_norm/{name}", float(np.mean(grads)))
            state.record(f"grad_norm_max/{name}", max(grads))
            state.record(f"update_ratio/{name}", float(np.mean(self._ratios.get(name) or [math.nan])))
            state.record(f"weight_norm/{name}", _norm(p.data))
        self._grads.clear()
        self._ratios.clear()


@dataclass
class ImageLog:
    """Every `every` epochs and at the last, the reconstructions of `images` and the feature density.

    `log(name, picture, epoch)` receives each picture as an RGB array (MLflow's log_image takes them).
    """

    images: np.ndarray  # a few validation images, flat
    epochs: int
    log: Callable[[str, np.ndarray, int], None]
    every: int = 5
    caption: str = ""  # what run and data the pictures show

    def on_epoch_end(self, state: TrainState) -> None:
        if state.epoch % self.every and state.epoch != self.epochs:
            return
        from sparsegrad.experiment import plots  # matplotlib: only once there is something to draw

        with no_grad():
            recon = state.model(Tensor(self.images)).data
        title = f"epoch {state.epoch}: {self.caption}"
        side = round(math.sqrt(self.images.shape[1]))
        self.log("reconstructions", plots.reconstructions_picture(self.images, recon, title, side), state.epoch)
        rates = state.validation.firing_rate if state.validation is not None else np.zeros(0)
        self.log("feature_density", plots.density_picture(rates, title), state.epoch)
