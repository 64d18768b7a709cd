"""`Adam` (Kingma & Ba, 2015), bias-corrected, with optional L2 weight decay."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from sparsegrad.checks import check
from sparsegrad.nn.module import Parameter
from sparsegrad.optim.optimizer import Optimizer


class Adam(Optimizer):
    """Adam, per parameter p with gradient g, at its t-th update:

        m <- b1 m + (1 - b1) g          v <- b2 v + (1 - b2) g^2
        m_hat = m / (1 - b1^t)          v_hat = v / (1 - b2^t)
        p <- p - lr m_hat / (sqrt(v_hat) + eps)

    As in PyTorch, a parameter without a gradient (`grad` None) is not updated and
    its t does not advance: each parameter counts its own updates ("step.i" in
    `state_dict()`, beside the moments "m.i" and "v.i").
    """

    def __init__(self, params: Iterable[Parameter], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        check(0 <= b1 < 1 and 0 <= b2 < 1, "betas", betas, "two numbers in [0, 1)")
        check(0 < eps < math.inf, "eps", eps, "a finite number > 0")
        check(0 <= weight_decay < math.inf, "weight_decay", weight_decay, "a finite number >= 0")
        self.beta1, self.beta2 = float(b1), float(b2)
        self.eps, self.weight_decay = float(eps), float(weight_decay)
        # Kept as m / (1 - b1) and v / (1 - b2): each then updates in two passes, not three
        # and four (1-3% of a bench step); state_dict() gives the paper's m and v.
        self.buffers["m"] = self._zeros_like_params()
        self.buffers["v"] = self._zeros_like_params()
        self.buffers["step"] = [np.zeros((), dtype=np.int64) for _ in self.params]
        # Every pass below writes into an existing array (this one, or out=): written with
        # temporaries, Adam took 2-4x as long on the bench's model (docs/performance.md).
        self._scratch = self._zeros_like_params()

    def update(self) -> None:
        b1, b2 = self.beta1, self.beta2
        buffers = self.buffers
        for p, m, v, t, tmp in zip(self.params, buffers["m"], buffers["v"], buffers["step"], self._scratch):
            g = p.grad
            if g is None:
                continue
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            t += 1
            m *= b1
            m += g  # m / (1 - b1) <- b1 m / (1 - b1) + g
            np.multiply(g, g, out=tmp)
            v *= b2
            v += tmp  # v / (1 - b2) <- b2 v / (1 - b2) + g^2
            # lr m_hat / (sqrt(v_hat) + eps) = step_size m' / (sqrt(v') + eps'), for m' = m / (1 - b1)
            # and v' = v / (1 - b2), with step_size = lr (1 - b1) sqrt(1 - b2^t) / ((1 - b1^t) sqrt(1 - b2))
            # and eps' = eps sqrt(1 - b2^t) / sqrt(1 - b2): the bias corrections become two numbers
            # (as the paper's section 2 suggests) instead of two array passes.
            root_bc2 = math.sqrt((1.0 - b2 ** int(t)) / (1.0 - b2))
            step_size = self.lr * (1.0 - b1) * root_bc2 / (1.0 - b1 ** int(t))
            np.sqrt(v, out=tmp)
            tmp += self.eps * root_bc2
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            p.data -= tmp

    def _scales(self) -> list[tuple[str, float]]:
        """Each kept moment's key and the factor that makes it the paper's m or v."""
        return [(f"{name}.{i}", 1.0 - beta) for name, beta in (("m", self.beta1), ("v", self.beta2))
                for i in range(len(self.params))]

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        for key, scale in self._scales():
            # In a wider float: dividing again gives back the kept moment bit for bit, so a
            # resumed run continues exactly as it would have (float32 -> float64 -> float32).
            kept = state[key]
            state[key] = kept.astype(np.float64 if kept.dtype.itemsize < 8 else np.longdouble) * scale
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        state = dict(state)
        for key, scale in self._scales():
            if key in state:  # a missing key is reported by Optimizer.load_state_dict
                state[key] = np.asarray(state[key]) / scale
        super().load_state_dict(state)
