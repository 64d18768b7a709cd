"""Activations: ReLU, Sigmoid, Tanh. Each saves its output, which is all its backward needs."""

from __future__ import annotations

import numpy as np

from sparsegrad.function import Function


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
    """1 / (1 + exp(-a)), computed as (1 + tanh(a/2)) / 2: no overflow for any a."""

    def forward(self, a):
        out = np.multiply(a, 0.5)
        np.tanh(out, out=out)
        out *= 0.5
        out += 0.5
        self.save_for_backward(out)
        return out

    def backward(self, grad):
        (s,) = self.saved_tensors
        # d(sigmoid)/da = s * (1 - s)
        return grad * (s * (1.0 - s))


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
