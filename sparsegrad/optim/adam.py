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

    The moments are kept as m / (1 - b1) and v / (1 - b2) (that is what `state_dict()`
    holds as "m.i" and "v.i"): each then updates in two array passes instead of three,
    m' <- b1 m' + g, and the factors (1 - b) move into the step size, a scalar.
    Every pass writes into an existing array (`out=`): a step allocates nothing.
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
        self._scratch = [np.empty_like(p.data) for p in self.params]  # not state: no need to save

    def update(self) -> None:
        b1, b2, t = self.beta1, self.beta2, self.steps
        # With m = (1 - b1) m' and v = (1 - b2) v', the update
        #   lr * m_hat / (sqrt(v_hat) + eps) = step_size * m' / (sqrt(v') + eps'),
        # where c = sqrt((1 - b2^t) / (1 - b2)), step_size = lr (1 - b1) / (1 - b1^t) * c
        # and eps' = eps * c (the bias corrections folded into two scalars, as PyTorch does).
        c = math.sqrt((1.0 - b2**t) / (1.0 - b2))
        step_size = self.lr * (1.0 - b1) / (1.0 - b1**t) * c
        eps = self.eps * c
        for p, m, v, tmp in zip(self.params, self.buffers["m"], self.buffers["v"], self._scratch):
            g = p.grad
            if g is None:
                continue
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            m *= b1
            m += g  # m' <- b1 m' + g
            np.multiply(g, g, out=tmp)
            v *= b2
            v += tmp  # v' <- b2 v' + g^2
            np.sqrt(v, out=tmp)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            p.data -= tmp  # p <- p - step_size m' / (sqrt(v') + eps')
