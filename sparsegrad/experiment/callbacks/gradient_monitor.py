"""The gradient monitor: per parameter, the gradient's norm and the update's size against the weight's."""

from __future__ import annotations

import math

import numpy as np

from sparsegrad.checks import check
from sparsegrad.experiment.callback import Callback, TrainState

# MLflow 3.17's run page draws a section per prefix (a key's part before its last "/"), sorted by name,
# above the "Model metrics" section of plain keys, and sorts the charts by key. The losses' sections
# (train/, val/) open the page; these names have no "/", so the 16 gradient charts come after them,
# and sort last among the plain keys ("weights." > "near_zero_fraction"), after explained_variance and l0.
PREFIX = "weights."


def metric_name(kind: str, param: str) -> str:
    """The metric `kind` (grad_norm, grad_norm_max, update_ratio, norm) of one parameter: weights.KIND.PARAM."""
    return f"{PREFIX}{kind}.{param}"


def _norm(a: np.ndarray) -> float:
    return math.sqrt(float(np.vdot(a, a)))


class GradientMonitor(Callback):
    """On every `every_n_steps`-th step (and each epoch's first), per parameter: the gradient's norm
    and the update's norm over the weight's.

    Each epoch it logs `weights.grad_norm.<param>` (mean over the sampled steps),
    `weights.grad_norm_max.<param>`, `weights.update_ratio.<param>` (mean ||w_after - w_before|| /
    ||w_before||, Karpathy's ~1e-3 rule of thumb) and `weights.norm.<param>` (at the epoch's end).
    """

    def __init__(self, every_n_steps: int = 10) -> None:
        check(isinstance(every_n_steps, int) and every_n_steps >= 1, "every_n_steps", every_n_steps,
              "an integer >= 1")
        self.every = every_n_steps
        self._grads: dict[str, list[float]] = {}
        self._ratios: dict[str, list[float]] = {}
        self._before: dict[str, np.ndarray] = {}

    def on_before_update(self, state: TrainState, step: int) -> None:
        if step % self.every and self._grads:  # (an epoch's first step always: short epochs get one)
            return
        for name, p in state.model.named_parameters():
            if p.grad is not None:
                self._grads.setdefault(name, []).append(_norm(p.grad))
                self._before[name] = p.data.copy()

    def on_after_update(self, state: TrainState, step: int) -> None:
        if not self._before:
            return
        params = dict(state.model.named_parameters())
        for name, before in self._before.items():
            size = _norm(before)
            if size > 0:  # (a bias starts at 0: no ratio to speak of yet)
                self._ratios.setdefault(name, []).append(_norm(params[name].data - before) / size)
        self._before.clear()

    def on_epoch_end(self, state: TrainState) -> None:
        for name, p in state.model.named_parameters():
            sampled = self._grads.get(name) or [math.nan]
            state.log(metric_name("grad_norm", name), float(np.mean(sampled)))
            state.log(metric_name("grad_norm_max", name), max(sampled))
            state.log(metric_name("update_ratio", name), float(np.mean(self._ratios.get(name) or [math.nan])))
            state.log(metric_name("norm", name), _norm(p.data))
        self._grads, self._ratios = {}, {}
