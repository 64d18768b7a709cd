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

    Kept lean, as it touches every parameter at every step:
    - the moments are kept as m / (1 - b1) and v / (1 - b2) (that is what `state_dict()`
      holds as "m.i" and "v.i"): each then updates in two array passes instead of three,
      m' <- b1 m' + g, and the factors (1 - b) move into the step size, a scalar;
    - every pass writes into an existing array (`out=`): a step allocates nothing;
    - m, v and a scratch array each live in one flat array with a view per parameter
      (when the parameters share a dtype): the passes that do not read a gradient are
      then one NumPy call for all the parameters (a model's many small biases cost a
      call each otherwise). The gradients stay where backward() put them: gathering
      them would cost a pass of its own.
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
        self._flat: tuple[np.ndarray, ...] | None = None  # (m, v, scratch) of all parameters
        if len({p.data.dtype for p in self.params}) == 1:
            m, self.buffers["m"] = self._flat_zeros_like_params()
            v, self.buffers["v"] = self._flat_zeros_like_params()
            scratch, self._scratch = self._flat_zeros_like_params()
            self._flat = (m, v, scratch)
        else:
            self.buffers["m"], self.buffers["v"] = self._zeros_like_params(), self._zeros_like_params()
            self._scratch = self._zeros_like_params()

    def update(self) -> None:
        b1, b2, t = self.beta1, self.beta2, self.steps
        # With m = (1 - b1) m' and v = (1 - b2) v', the update
        #   lr * m_hat / (sqrt(v_hat) + eps) = step_size * m' / (sqrt(v') + eps'),
        # where c = sqrt((1 - b2^t) / (1 - b2)), step_size = lr (1 - b1) / (1 - b1^t) * c
        # and eps' = eps * c (the bias corrections folded into two scalars, as PyTorch does).
        c = math.sqrt((1.0 - b2**t) / (1.0 - b2))
        step_size = self.lr * (1.0 - b1) / (1.0 - b1**t) * c
        eps = self.eps * c
        grads, every_grad = [], True  # a plain loop: cheaper than a comprehension and all()
        for p in self.params:
            grads.append(p.grad)
            every_grad = every_grad and p.grad is not None
        if self._flat is not None and not self.weight_decay and every_grad:
            # The passes that read a gradient go parameter by parameter, all the others
            # once over the flat arrays: the same arithmetic as _step, fewer calls.
            m, v, scratch = self._flat
            m *= b1
            v *= b2
            for g, m_p, g2 in zip(grads, self.buffers["m"], self._scratch):
                m_p += g  # m' <- b1 m' + g
                np.multiply(g, g, out=g2)
            v += scratch  # v' <- b2 v' + g^2
            np.sqrt(v, out=scratch)
            scratch += eps
            np.divide(m, scratch, out=scratch)
            scratch *= step_size
            for p, step in zip(self.params, self._scratch):
                p.data -= step  # p <- p - step_size m' / (sqrt(v') + eps')
            return
        for p, g, m, v, step in zip(self.params, grads, self.buffers["m"], self.buffers["v"], self._scratch):
            if g is None:
                continue
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            self._step(g, m, v, step, step_size, eps)
            p.data -= step

    def _step(self, g, m, v, out, step_size: float, eps: float) -> None:
        """Update the moments m', v' in place and write the step for p into `out`."""
        m *= self.beta1
        m += g  # m' <- b1 m' + g
        np.multiply(g, g, out=out)
        v *= self.beta2
        v += out  # v' <- b2 v' + g^2
        np.sqrt(v, out=out)
        out += eps
        np.divide(m, out, out=out)
        out *= step_size  # p <- p - step_size m' / (sqrt(v') + eps')
