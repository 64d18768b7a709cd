"""Callbacks that watch training: gradients and updates per parameter, and images over the epochs.

Both are `fit` callbacks; neither knows MLflow: the gradient monitor adds its metrics
to the epoch's history (which the run logs), the image log hands pictures to a function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from sparsegrad.experiment.pictures import density_bars, reconstruction_grid
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
    _grads: dict[int, dict[str, list[float]]] = field(default_factory=dict, init=False)  # by epoch
    _ratios: dict[int, dict[str, list[float]]] = field(default_factory=dict, init=False)
    _before: dict[str, np.ndarray] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.params = dict(self.model.named_parameters())

    # (While an epoch trains, `state.epoch` is the last finished one; its callbacks may still run
    # after the next has begun, so the samples are kept by epoch.)
    def on_before_update(self, state: TrainState, step: int) -> None:
        grads = self._grads.setdefault(state.epoch + 1, {})
        if step % self.every and grads:  # (an epoch's first step always: short epochs get one)
            return
        for name, p in self.params.items():
            if p.grad is not None:
                grads.setdefault(name, []).append(_norm(p.grad))
                self._before[name] = p.data.copy()

    def on_after_update(self, state: TrainState, step: int) -> None:
        ratios = self._ratios.setdefault(state.epoch + 1, {})
        for name, before in self._before.items():
            size = _norm(before)
            if size > 0:  # (a bias starts at 0: no ratio to speak of yet)
                ratios.setdefault(name, []).append(_norm(self.params[name].data - before) / size)
        self._before.clear()

    def on_epoch_end(self, state: TrainState) -> None:
        grads, ratios = self._grads.pop(state.epoch, {}), self._ratios.pop(state.epoch, {})
        for name, p in state.model.named_parameters():
            sampled = grads.get(name) or [math.nan]
            state.record(f"grad_norm/{name}", float(np.mean(sampled)))
            state.record(f"grad_norm_max/{name}", max(sampled))
            state.record(f"update_ratio/{name}", float(np.mean(ratios.get(name) or [math.nan])))
            state.record(f"weight_norm/{name}", _norm(p.data))


@dataclass
class ImageLog:
    """Every `every` epochs and at the last, the reconstructions of `images` and the feature density.

    `log(name, picture, epoch)` receives each picture as an RGB array (MLflow's log_image takes them).
    Both are drawn with NumPy alone (well under a millisecond; matplotlib took ~0.1 s a figure and
    its import 0.7 s, in the middle of training): MLflow shows the key and the step beside them.
    """

    images: np.ndarray  # a few validation images, flat
    epochs: int
    log: Callable[[str, np.ndarray, int], None]
    every: int = 5
    caption: str = ""  # what run and data the pictures show (the end-of-run plots carry it)

    def on_epoch_end(self, state: TrainState) -> None:
        if state.epoch % self.every and state.epoch != self.epochs:
            return
        with no_grad():
            recon = state.model(Tensor(self.images)).data
        self.log("reconstructions", reconstruction_grid(self.images, recon), state.epoch)
        rates = state.validation.firing_rate if state.validation is not None else np.zeros(0)
        self.log("feature_density", density_bars(rates), state.epoch)
