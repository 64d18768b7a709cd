"""The `Function` base class: one differentiable operation, forward and backward.

An op is a subclass with a `forward` and a `backward`, in the style of PyTorch's
`torch.autograd.Function` and early tinygrad. Both take the op's context, `ctx`
(the instance `apply` made for this one call), first:

    class Mul(Function):
        def forward(ctx, a, b):          # plain NumPy arrays (or Python numbers) in
            ctx.save_for_backward(a, b)
            return a * b                 # a NumPy array out
        def backward(ctx, grad):         # dL/d(out) in
            a, b = ctx.saved_tensors
            return grad * b, grad * a    # dL/da, dL/db: one per forward argument

`Mul.apply(x, y)` runs `forward` on the arrays inside the tensors and, when a
gradient is wanted, records the call (the `ctx`) on the output tensor so that
`Tensor.backward()` can find it. Arguments that are not tensors (numbers, axes,
hyperparameters such as `rho`) pass through to `forward` unchanged and get
`None` as their gradient.

Backward may return gradients in the broadcast shape of the output; the engine
sums them back to each input's shape with `unbroadcast`, the one place where
broadcasting is undone. `ctx.needs_input_grad` (one bool per argument, as in
PyTorch) lets backward skip the gradients no one asked for (`None` in their place).

Backward returns, per input, either an array it has just made or `grad` itself
(or a view of it); never an array something else holds, such as a saved one.
It never writes into `grad`: the same array may be handed on to other inputs.
"""

# ruff: noqa: N805 (an op's first argument is its context, ctx, as in PyTorch)

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

# tensor.py needs this module to define `Tensor`, so it fills this name in itself.
Tensor: Any = None

# Every tensor takes the next serial number when it is made, so a tensor's serial
# is larger than those of the tensors it was made from (see Tensor.backward).
next_serial = itertools.count().__next__

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True unless inside a `no_grad()` block."""
    return _grad_enabled


@contextmanager
def no_grad() -> Iterator[None]:
    """Record no graph inside this block (evaluation, parameter updates)."""
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the axes NumPy broadcast, so that it has `shape` again.

    Broadcasting (a) prepends axes and (b) stretches axes of length 1; the
    gradient of a stretched value is the sum over the copies it was stretched to.
    """
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def shape_mismatch(op: str, a: Any, b: Any) -> ValueError:
    """The error for two operands whose shapes `op` cannot combine."""
    return ValueError(f"{op}: shapes {np.shape(a)} and {np.shape(b)} are incompatible")


class Function:
    """One differentiable op; each call of `apply` makes one instance, its `ctx`."""

    # What forward kept for backward; backward() sets it to None when it frees the graph,
    # and a second backward through this op then fails.
    saved_tensors: tuple | None = ()

    def save_for_backward(ctx, *values: Any) -> None:
        """Keep what `backward` will need (arrays, shapes, numbers)."""
        ctx.saved_tensors = values

    def forward(ctx, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError(f"{type(ctx).__name__} defines no forward")

    def backward(ctx, grad: np.ndarray) -> Any:
        raise NotImplementedError(f"{type(ctx).__name__} defines no backward")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run the op on tensors (or numbers/arrays) and record it for backward."""
        ctx = cls()
        ctx.inputs = args
        ctx.needs_input_grad = tuple([isinstance(a, Tensor) and a.requires_grad for a in args])
        data = ctx.forward(*[a.data if isinstance(a, Tensor) else a for a in args], **kwargs)
        record = _grad_enabled and any(ctx.needs_input_grad)
        # np.asarray: a full reduction gives a NumPy scalar, the tensor keeps a 0-d array
        return Tensor(np.asarray(data), requires_grad=record, _ctx=ctx if record else None)
