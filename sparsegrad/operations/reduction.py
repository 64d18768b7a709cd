"""Reductions: Sum and Mean over an axis (or all axes), with `keepdims`."""

# ruff: noqa: N805 (an op's first argument is its context, ctx, as in PyTorch)

from __future__ import annotations

import numpy as np

from sparsegrad.function import Function


def _spread(grad: np.ndarray, shape: tuple[int, ...], axis, keepdims: bool) -> np.ndarray:
    """Put back the reduced axes of `grad` and broadcast it over `shape` (a view, no copy)."""
    if not keepdims and axis is not None:
        axes = (axis,) if isinstance(axis, int) else axis
        grad = np.expand_dims(grad, tuple(ax % len(shape) for ax in axes))
    return np.broadcast_to(grad, shape)


def _check_axis(op: str, a: np.ndarray, axis) -> None:
    axes = () if axis is None else (axis,) if isinstance(axis, int) else axis
    for ax in axes:
        if not -a.ndim <= ax < a.ndim:
            raise ValueError(f"{op}: axis {ax} is out of range for shape {a.shape}")


class Sum(Function):
    """a.sum(axis, keepdims)"""

    def forward(ctx, a, axis=None, keepdims=False):
        _check_axis("Sum", a, axis)
        ctx.save_for_backward(a.shape, axis, keepdims)
        return np.sum(a, axis=axis, keepdims=keepdims)

    def backward(ctx, grad):
        shape, axis, keepdims = ctx.saved_tensors
        # Every summed element contributes with weight 1.
        return _spread(grad, shape, axis, keepdims)


class Mean(Function):
    """a.mean(axis, keepdims)"""

    def forward(ctx, a, axis=None, keepdims=False):
        _check_axis("Mean", a, axis)
        out = np.mean(a, axis=axis, keepdims=keepdims)
        ctx.save_for_backward(a.shape, axis, keepdims, a.size // max(out.size, 1))
        return out

    def backward(ctx, grad):
        shape, axis, keepdims, count = ctx.saved_tensors
        # Every averaged element contributes with weight 1/count.
        return _spread(grad / count, shape, axis, keepdims)
