"""Elementwise arithmetic: Add, Sub, Mul, Div, Neg, Pow, Exp, Log.

Operands broadcast as in NumPy; each backward returns gradients in the output's
shape and the engine sums them back to each operand's shape (`unbroadcast`).
"""

# ruff: noqa: N805 (an op's first argument is its context, ctx, as in PyTorch)

from __future__ import annotations

import numpy as np

from sparsegrad.function import Function, shape_mismatch


class Add(Function):
    """a + b"""

    def forward(ctx, a, b):
        try:
            return a + b
        except ValueError:
            raise shape_mismatch("Add", a, b) from None

    def backward(ctx, grad):
        return grad, grad


class Sub(Function):
    """a - b"""

    def forward(ctx, a, b):
        try:
            return a - b
        except ValueError:
            raise shape_mismatch("Sub", a, b) from None

    def backward(ctx, grad):
        return grad, -grad


class Mul(Function):
    """a * b"""

    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a * b
        except ValueError:
            raise shape_mismatch("Mul", a, b) from None

    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


class Div(Function):
    """a / b"""

    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a / b
        except ValueError:
            raise shape_mismatch("Div", a, b) from None

    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        # d(a/b)/da = 1/b,  d(a/b)/db = -a/b^2
        return (grad / b if need_a else None), (-grad * a / (b * b) if need_b else None)


class Neg(Function):
    """-a"""

    def forward(ctx, a):
        return -a

    def backward(ctx, grad):
        return -grad


class Pow(Function):
    """a ** p for a constant number p."""

    def forward(ctx, a, p):
        if not isinstance(p, (int, float)):
            raise TypeError(f"Pow: the exponent must be a number, got {type(p).__name__}")
        ctx.save_for_backward(a, p)
        return a**p

    def backward(ctx, grad):
        a, p = ctx.saved_tensors
        if p == 0:  # a^0 = 1 everywhere: the slope is 0, also at a = 0 (where 0 * 0^-1 is NaN)
            return np.zeros_like(grad), None
        # d(a^p)/da = p a^(p-1)
        return grad * (p * a ** (p - 1)), None


class Exp(Function):
    """exp(a), its own derivative: d(exp a)/da = exp a"""

    def forward(ctx, a):
        exp_a = np.exp(a)
        ctx.save_for_backward(exp_a)  # the output is the slope backward needs
        return exp_a

    def backward(ctx, grad):
        return grad * ctx.saved_tensors[0]


class Log(Function):
    """log(a), the natural logarithm"""

    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        # d(log a)/da = 1/a
        return grad / a
