"""Activations: ReLU, Sigmoid, Tanh. Each saves its output, which is all its backward needs."""

from __future__ import annotations

import numpy as np

from sparsegrad.function import Function

# exp(a) may overflow to inf or underflow to 0; in a sigmoid both give the right limit
# (1 - 1/inf = 1, 1 - 1/1 = 0), so those two warnings are silenced. (errstate wrapped
# around np.exp costs half of what a `with` block costs per call.)
_quiet_exp = np.errstate(over="ignore", under="ignore")(np.exp)


class ReLU(Function):
    """max(a, 0)"""

    def forward(self, a):
        out = np.maximum(a, 0.0)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (out,) = self.saved_tensors
        return grad * (out > 0)


class Sigmoid(Function):
    """1 / (1 + exp(-a)), computed as 1 - 1 / (1 + exp(a)): exactly 0 or 1 far out, as tanh's form."""

    def forward(self, a):
        out = np.asarray(_quiet_exp(a))  # a 0-d input gives a scalar: need an array
        out += 1.0
        np.divide(1.0, out, out=out)
        np.subtract(1.0, out, out=out)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (s,) = self.saved_tensors
        # d(sigmoid)/da = s * (1 - s), built in one new array
        out = np.subtract(1.0, s)
        out *= s
        out *= grad
        return out


class Tanh(Function):
    """tanh(a)"""

    def forward(self, a):
        out = np.tanh(a)
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (t,) = self.saved_tensors
        # d(tanh)/da = 1 - tanh^2
        return grad * (1.0 - t * t)
