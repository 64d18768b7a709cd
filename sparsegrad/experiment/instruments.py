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


def _rgb(gray: np.ndarray, scale: int) -> np.ndarray:
    """Values in [0, 1] (NaN: the frame's grey) as an RGB picture, each pixel `scale` x `scale`."""
    levels = np.where(np.isnan(gray), 0.6, np.clip(gray, 0.0, 1.0))
    big = (levels * 255).round().astype(np.uint8).repeat(scale, axis=0).repeat(scale, axis=1)
    return np.repeat(big[:, :, None], 3, axis=2)


def reconstruction_grid(originals: np.ndarray, recon: np.ndarray, scale: int = 2) -> np.ndarray:
    """Originals on the top row, their reconstructions below, a grey line around each image."""
    n, side = len(originals), round(math.sqrt(originals.shape[1]))
    rows = np.stack([originals, recon]).reshape(2, n, side, side)
    framed = np.pad(rows, ((0, 0), (0, 0), (1, 0), (1, 0)), constant_values=np.nan)
    grid = framed.transpose(0, 2, 1, 3).reshape(2 * (side + 1), n * (side + 1))
    return _rgb(np.pad(grid, ((0, 1), (0, 1)), constant_values=np.nan), scale)


def density_bars(firing_rate: np.ndarray, height: int = 120, width: int = 8) -> np.ndarray:
    """Feature density: a histogram of log10 of each unit's firing rate over 30 bins from -6 (a dead
    unit, which never fires) to 0 (fires on every image), a bar `width` pixels wide per bin."""
    floor = -6.0
    logs = np.log10(np.maximum(firing_rate, 10**floor)) if firing_rate.size else np.zeros(0)
    counts, _ = np.histogram(logs, bins=np.linspace(floor, 0, 31))
    tall = np.ceil(counts / max(counts.max(initial=0), 1) * (height - 2)).astype(int)
    filled = np.arange(height)[::-1, None] < tall[None, :]  # bottom up
    picture = np.full((height, counts.size * width, 3), 255, dtype=np.uint8)
    picture[filled.repeat(width, axis=1)] = (148, 103, 189)  # matplotlib's tab:purple, as before
    picture[-1] = 0  # the axis
    return picture
