"""`Adam` (Kingma & Ba, 2015), bias-corrected, with optional L2 weight decay."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from sparsegrad.nn.module import Parameter
from sparsegrad.optim.optimizer import Optimizer


class Adam(Optimizer):
    """m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;
    p <- p - lr * m_hat / (sqrt(v_hat) + eps), with m_hat = m / (1 - b1^t), v_hat = v / (1 - b2^t).
    """

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"Adam: betas must be in [0, 1), got {betas}")
        if weight_decay < 0:
            raise ValueError(f"Adam: weight_decay must be >= 0, got {weight_decay}")
        self.beta1, self.beta2 = float(b1), float(b2)
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        self.buffers["m"] = self._zeros_like_params()
        self.buffers["v"] = self._zeros_like_params()

    def update(self) -> None:
        b1, b2, t = self.beta1, self.beta2, self.steps
        # The bias corrections folded into two scalars, exactly as in PyTorch:
        # lr * m/(1-b1^t) / (sqrt(v/(1-b2^t)) + eps)
        #   = [lr sqrt(1-b2^t)/(1-b1^t)] * m / (sqrt(v) + [eps sqrt(1-b2^t)])
        root_bc2 = math.sqrt(1.0 - b2**t)
        step_size = self.lr * root_bc2 / (1.0 - b1**t)
        eps = self.eps * root_bc2
        for p, m, v in zip(self.params, self.buffers["m"], self.buffers["v"]):
            g = p.grad
            if g is None:
                continue
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * np.square(g)
            denom = np.sqrt(v)
            denom += eps
            p.data -= step_size * (m / denom)
