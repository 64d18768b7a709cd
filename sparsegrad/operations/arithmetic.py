"""Elementwise arithmetic: Add, Sub, Mul, Div, Neg, Pow.

Operands broadcast as in NumPy; each backward returns gradients in the output's
shape and the engine sums them back to each operand's shape (`unbroadcast`).
Backward never writes into `grad`: the same array may be handed on to others.
"""

from __future__ import annotations

import numpy as np

from sparsegrad.function import Function, shape_mismatch


class Add(Function):
    """a + b"""

    def forward(self, a, b):
        try:
            return a + b
        except ValueError:
            raise shape_mismatch("Add", a, b) from None

    def backward(self, grad):
        return grad, grad


class Sub(Function):
    """a - b"""

    def forward(self, a, b):
        try:
            return a - b
        except ValueError:
            raise shape_mismatch("Sub", a, b) from None

    def backward(self, grad):
        return grad, -grad


class Mul(Function):
    """a * b"""

    def forward(self, a, b):
        self.save_for_backward(a, b)
        try:
            return a * b
        except ValueError:
            raise shape_mismatch("Mul", a, b) from None

    def backward(self, grad):
        a, b = self.saved_tensors
        # A number operand (x * 2.0) needs no gradient: skip computing one.
        grad_a = grad * b if isinstance(a, np.ndarray) else None
        grad_b = grad * a if isinstance(b, np.ndarray) else None
        return grad_a, grad_b


class Div(Function):
    """a / b"""

    def forward(self, a, b):
        try:
            out = a / b
        except ValueError:
            raise shape_mismatch("Div", a, b) from None
        self.save_for_backward(b, out)
        return out

    def backward(self, grad):
        b, out = self.saved_tensors
        grad_a = grad / b
        if not isinstance(b, np.ndarray):
            return grad_a, None
        # d(a/b)/db = -a/b^2 = -(a/b)/b
        return grad_a, -grad_a * out


class Neg(Function):
    """-a"""

    def forward(self, a):
        return -a

    def backward(self, grad):
        return -grad


class Pow(Function):
    """a ** p for a constant number p."""

    def forward(self, a, p):
        if not isinstance(p, (int, float)):
            raise TypeError(f"Pow: the exponent must be a number, got {type(p).__name__}")
        self.save_for_backward(a, p)
        return a**p

    def backward(self, grad):
        a, p = self.saved_tensors
        # d(a^p)/da = p * a^(p-1)
        return grad * (p * a ** (p - 1)), None
