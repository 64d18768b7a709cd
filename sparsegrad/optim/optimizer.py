"""`Optimizer`: the base every update rule shares (parameters, lr, state)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from sparsegrad.checks import check
from sparsegrad.nn.module import Parameter


class Optimizer:
    """Holds the parameters and the learning rate; subclasses define `update`.

    Per-parameter state (momentum, moments) lives in `self.buffers`, a dict of
    lists of arrays, one array per parameter, so `state_dict()` is a flat dict of
    arrays that `np.savez` stores without pickle.
    """

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got no parameters to optimise")
        check(0 < lr < math.inf, "lr", lr, "a finite number > 0")
        self.lr = float(lr)
        self.steps = 0
        self.buffers: dict[str, list[np.ndarray]] = {}

    def _zeros_like_params(self) -> list[np.ndarray]:
        return [np.zeros_like(p.data) for p in self.params]

    def zero_grad(self) -> None:
        """Drop every parameter's gradient (the next backward() starts from nothing)."""
        for p in self.params:
            p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient, in place."""
        self.steps += 1
        self.update()

    def update(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"lr": self.lr, "steps": self.steps}
        for name, arrays in self.buffers.items():
            for i, array in enumerate(arrays):
                state[f"{name}.{i}"] = array.copy()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, arrays in self.buffers.items():
            for i, array in enumerate(arrays):
                key = f"{name}.{i}"
                if key not in state:
                    raise KeyError(f"{type(self).__name__}.load_state_dict: '{key}' is missing")
                value = np.asarray(state[key])
                if value.shape != array.shape:
                    raise ValueError(
                        f"{type(self).__name__}.load_state_dict: '{key}' has shape "
                        f"{value.shape}, the parameter has {array.shape}"
                    )
                array[...] = value
        self.lr = float(state["lr"])
        self.steps = int(state["steps"])
