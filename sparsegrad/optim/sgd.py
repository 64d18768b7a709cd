"""Gradient descent: plain `GD`, and `SGD` with momentum, Nesterov and weight decay."""

from __future__ import annotations

import math
from collections.abc import Iterable

from sparsegrad.checks import check
from sparsegrad.nn.module import Parameter
from sparsegrad.optim.optimizer import Optimizer


class GD(Optimizer):
    """p <- p - lr * grad"""

    def update(self) -> None:
        for p in self.params:
            if p.grad is not None:
                p.data -= self.lr * p.grad


class SGD(Optimizer):
    """Stochastic gradient descent with momentum (as PyTorch's, no dampening).

    g <- grad + weight_decay * p;  b <- momentum * b + g;
    p <- p - lr * (g + momentum * b if nesterov else b)
    """

    def __init__(self, params: Iterable[Parameter], lr: float, momentum: float = 0.0,
                 nesterov: bool = False, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        check(0.0 <= momentum < 1.0, "momentum", momentum, "a number in [0, 1)")
        check(not nesterov or momentum > 0, "nesterov", nesterov, "true only with momentum > 0")
        check(0.0 <= weight_decay < math.inf, "weight_decay", weight_decay, "a finite number >= 0")
        self.momentum, self.nesterov, self.weight_decay = float(momentum), nesterov, float(weight_decay)
        if self.momentum:
            self.buffers["momentum"] = self._zeros_like_params()

    def update(self) -> None:
        momentum_buffers = self.buffers.get("momentum", [None] * len(self.params))
        for p, buf in zip(self.params, momentum_buffers):
            g = p.grad
            if g is None:
                continue
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if buf is not None:
                buf *= self.momentum
                buf += g
                g = g + self.momentum * buf if self.nesterov else buf
            p.data -= self.lr * g
