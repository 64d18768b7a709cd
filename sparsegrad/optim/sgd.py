"""Gradient descent: plain `GD`, and `SGD` with momentum, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterable

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
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        if nesterov and momentum == 0.0:
            raise ValueError("SGD: nesterov needs momentum > 0")
        if weight_decay < 0:
            raise ValueError(f"SGD: weight_decay must be >= 0, got {weight_decay}")
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
