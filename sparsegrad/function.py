"""The `Function` base class: one differentiable operation, forward and backward.

An op is a subclass with two static-looking methods, in the style of PyTorch's
`torch.autograd.Function` and early tinygrad:

    class Mul(Function):
        def forward(ctx, a, b):          # plain NumPy arrays (or Python scalars) in
            ctx.save_for_backward(a, b)
            return a * b                 # a NumPy array out
        def backward(ctx, grad):         # dL/d(out) in
            a, b = ctx.saved_tensors
            return grad * b, grad * a    # dL/da, dL/db: one per forward argument

`Mul.apply(x, y)` runs `forward` on the arrays inside the tensors and, when a
gradient is wanted, records the call (the `ctx`) on the output tensor so that
`Tensor.backward()` can find it. Arguments that are not tensors (scalars, axes,
hyperparameters such as `rho`) pass through to `forward` unchanged and get
`None` as their gradient.

Backward may return gradients in the broadcast shape of the output; the engine
sums them back to each input's shape with `unbroadcast`, the one place where
broadcasting is undone. `ctx.needs_input_grad` (one bool per argument, as in
PyTorch) lets backward skip the gradients no one asked for (`None` in their place).

Backward returns, per input, either an array it has just made, which the engine
may then keep and add into in place, or `grad` itself or a view of it, which the
engine copies before writing; never an array something else holds (a saved one).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

# tensor.py needs this module to define `Tensor`, so it fills this name in itself.
Tensor: Any = None

# Every tensor gets the next number when it is made (Tensor._seq), so a tensor's
# number is larger than those of the tensors it was made from (see Tensor.backward).
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
        grad = np.add.reduce(grad, axis=tuple(range(extra)))  # grad.sum(), minus a Python layer
    if 1 in shape:
        stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        if stretched:
            grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def shape_mismatch(op: str, a: Any, b: Any) -> ValueError:
    """The error for two operands whose shapes `op` cannot combine."""
    return ValueError(f"{op}: shapes {np.shape(a)} and {np.shape(b)} are incompatible")


class Function:
    """One differentiable op; each call of `apply` makes one instance, its `ctx`."""

    __slots__ = ("inputs", "needs_input_grad", "saved_tensors", "freed")

    def save_for_backward(self, *values: Any) -> None:
        """Keep what `backward` will need (arrays, shapes, scalars)."""
        self.saved_tensors = values

    def forward(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} defines no forward")

    def backward(self, grad: np.ndarray) -> Any:
        raise NotImplementedError(f"{type(self).__name__} defines no backward")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run the op on tensors (or scalars/arrays) and record it for backward."""
        ctx = cls()
        arrays, needs = [], []
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                needs.append(a.requires_grad)
            else:
                arrays.append(a)
                needs.append(False)
        record = _grad_enabled and True in needs
        ctx.needs_input_grad = tuple(needs) if record else (False,) * len(args)
        data = ctx.forward(*arrays, **kwargs) if kwargs else ctx.forward(*arrays)  # most ops take none
        # The output tensor is made here, not by Tensor(): the op has made its array
        # already, so there is nothing to check or copy (this runs for every op). These
        # are the fields Tensor.__init__ sets.
        out = Tensor.__new__(Tensor)
        out.data = data if type(data) is np.ndarray else np.asarray(data)  # a NumPy scalar -> 0-d
        out.grad = out._grad_sum = None
        out._seq = next_serial()
        if record:
            ctx.inputs, ctx.freed = args, False
            out.requires_grad, out._ctx = True, ctx
        else:
            out.requires_grad, out._ctx = False, None
        return out
