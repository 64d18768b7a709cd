"""Activations: ReLU, Sigmoid, Tanh, LogSoftmax, TopK. Each saves what its backward needs: its output (TopK: where
the kept values are)."""

# ruff: noqa: N805 (an op's first argument is its context, ctx, as in PyTorch)

from __future__ import annotations

import numpy as np

from sparsegrad.checks import check
from sparsegrad.function import Function


class ReLU(Function):
    """max(a, 0)"""

    def forward(ctx, a):
        out = np.maximum(a, 0.0)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * (out > 0)


# -0.8 ln(smallest normal float): sigmoid there is tiny^0.8, so a gradient of at least tiny^0.2
# (float32: 2e-8) times it stays a normal float.
FLUSH_BELOW = {np.dtype(t).char: -0.8 * float(np.log(np.finfo(t).tiny)) for t in (np.float16, np.float32, np.float64)}


class Sigmoid(Function):
    """1 / (1 + exp(-a))"""

    def forward(ctx, a):
        # exp(-a) overflows for a < -88 in float32, and 1 - 1 / (1 + exp(a)) loses every
        # digit there. With e = exp(-|a|), which lies in (0, 1], both forms are exact:
        # 1 / (1 + e) for a >= 0, e / (1 + e) for a < 0 (the same fraction times e / e).
        # Every step writes into the one new array (out=): 2% of a bench step.
        e = np.empty_like(a)
        np.abs(a, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)  # e = exp(-|a|)
        denominator = 1.0 + e
        out = np.maximum(e, a >= 0, out=e)  # the numerator: 1 where a >= 0, else e (np.where: 10x slower)
        out /= denominator
        # Far out (float32: a < -70, where sigmoid < 4e-31) the value is flushed to 0: else it, or
        # the gradient it scales, becomes a subnormal float, which the CPU handles ~100x slower
        # (trained models have many: steps 4x slower, docs/performance-run.md).
        np.copyto(out, 0.0, where=a < -FLUSH_BELOW.get(a.dtype.char, np.inf))
        ctx.save_for_backward(out)
        return out

    def backward(ctx, grad):
        (s,) = ctx.saved_tensors
        # d(sigmoid)/da = s (1 - s), built in one new array: 1.5% of a bench step
        out = 1.0 - s
        out *= s
        out *= grad
        return out


class Tanh(Function):
    """tanh(a)"""

    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    def backward(ctx, grad):
        (t,) = ctx.saved_tensors
        # d(tanh)/da = 1 - tanh^2
        return grad * (1.0 - t * t)


class LogSoftmax(Function):
    """log(softmax(a)) along `axis`: a - log(sum(exp(a)))"""

    def forward(ctx, a, axis=-1):
        # Shifting by the max changes nothing (it cancels) and keeps exp from overflowing.
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.save_for_backward(out, axis)
        return out

    def backward(ctx, grad):
        out, axis = ctx.saved_tensors
        # d out_i / d a_j = [i == j] - softmax_j, so grad_a = grad - softmax * sum(grad)
        return grad - np.exp(out) * grad.sum(axis=axis, keepdims=True)


class TopK(Function):
    """each row's k largest values, the rest 0: `TopK.apply(a, k=k)` (Gao et al. 2024's sparse codes)"""

    def forward(ctx, a, k):
        check(isinstance(k, int) and 1 <= k <= a.shape[-1], "k", k, f"an integer in [1, {a.shape[-1]}]")
        # out_ij = a_ij if a_ij is among the k largest of row i, else 0 (ties: any k of them)
        kept = np.argpartition(a, a.shape[-1] - k, axis=-1)[..., -k:]  # their column indices, unordered
        out = np.zeros_like(a)
        np.put_along_axis(out, kept, np.take_along_axis(a, kept, axis=-1), axis=-1)
        ctx.save_for_backward(kept)
        return out

    def backward(ctx, grad):
        (kept,) = ctx.saved_tensors
        # d out_ij / d a_ij = 1 where a_ij was kept, 0 elsewhere: the gradient reaches the kept values only
        out = np.zeros_like(grad)
        np.put_along_axis(out, kept, np.take_along_axis(grad, kept, axis=-1), axis=-1)
        return out
