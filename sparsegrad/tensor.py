"""`Tensor`: a NumPy array that remembers the op that made it, and `backward()`.

The whole reverse-mode engine is `Tensor.backward`:
1. every tensor gets a serial number when it is made, so a tensor's number is
   larger than those of the tensors it was made from;
2. walk the graph from the output, always taking the newest tensor not done yet
   (a heap): every op that used it is done by then, so the sum of the gradients
   that reached it is complete; ask its op's `backward` for the gradients of the
   op's inputs and add each to that input's sum (a tensor used twice gets both).
   No recursion: a chain of 10,000 ops is fine, and only the tensors that receive
   a gradient are visited;
3. the leaves (tensors made by the user) add what reaches them into `.grad`.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from sparsegrad import function as _function
from sparsegrad.function import Function, next_serial, unbroadcast
from sparsegrad.operations.activation import ReLU, Sigmoid, Tanh
from sparsegrad.operations.arithmetic import Add, Div, Mul, Neg, Pow, Sub
from sparsegrad.operations.linalg import MatMul, Reshape, Transpose
from sparsegrad.operations.reduction import Mean, Sum

Axis = int | tuple[int, ...] | None
_FLOAT32 = np.dtype(np.float32)


def _as_array(data: Any) -> np.ndarray:
    """NumPy array for `data`: float64 arrays stay float64, everything else float32."""
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"Tensor needs numeric data, got {type(data).__name__} of dtype {array.dtype}"
        )
    if array.dtype == np.float32 or (array.dtype == np.float64 and isinstance(data, np.ndarray)):
        return array
    return array.astype(np.float32)


def _operand(value: Any) -> Any:
    """The other side of an operator: tensors and Python numbers as they are.

    A NumPy scalar becomes a Python float (a float64 scalar would silently
    turn float32 results into float64); an array becomes a constant tensor.
    """
    if isinstance(value, np.generic):  # first: np.float64 is also a Python float
        return value.item()
    if isinstance(value, (Tensor, int, float)):
        return value
    return Tensor(value)


class Tensor:
    """An n-dimensional array with a gradient, in the graph of the ops that made it."""

    # _grad_sum: during backward(), the sum of the gradients that reached this tensor so
    # far (None otherwise).
    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_seq", "_grad_sum")
    __array_ufunc__ = None  # `ndarray + Tensor` calls Tensor.__radd__, not NumPy

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        # Function.apply sets these same fields on the tensors ops make: keep the two in step.
        if type(data) is np.ndarray and data.dtype is _FLOAT32:  # the common case, at once
            self.data: np.ndarray = data
        else:
            self.data = _as_array(data.data if isinstance(data, Tensor) else data)
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self._ctx: Function | None = None
        self._seq = next_serial()
        self._grad_sum = None

    # ---- the engine ---------------------------------------------------------

    def backward(self, gradient: Any = None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into `.grad` of every leaf that requires grad."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad: create the inputs "
                "with Tensor(..., requires_grad=True) and call it outside no_grad()"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() on a non-scalar output of shape {self.data.shape} needs "
                    "an explicit gradient of that shape: out.backward(gradient)"
                )
            seed = np.array(1, dtype=self.data.dtype).reshape(self.data.shape)  # np.ones, minus a Python layer
        else:
            seed = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient,
                              dtype=self.data.dtype)
            if seed.shape != self.data.shape:
                raise ValueError(f"backward(): gradient of shape {seed.shape} "
                                 f"for an output of shape {self.data.shape}")

        if self._ctx is None:  # a leaf: nothing to walk
            self._accumulate(seed, (seed,), seed)  # `seed` may be the caller's: copied
            return
        self._grad_sum = seed
        newest_first = [(-self._seq, self)]  # tensors made by ops, with a gradient (serials are unique)
        pop, push = heapq.heappop, heapq.heappush
        try:
            while newest_first:
                node = pop(newest_first)[1]
                grad, node._grad_sum = node._grad_sum, None
                ctx = node._ctx
                if ctx.freed:
                    raise RuntimeError(
                        f"backward through the graph a second time ({type(ctx).__name__} was "
                        "already freed): pass retain_graph=True to the first backward()"
                    )
                input_grads = ctx.backward(grad)
                if type(input_grads) is not tuple:
                    input_grads = (input_grads,)
                for parent, parent_grad, needed in zip(ctx.inputs, input_grads, ctx.needs_input_grad):
                    if not needed or parent_grad is None:
                        continue
                    if parent_grad.shape != parent.data.shape:
                        parent_grad = unbroadcast(parent_grad, parent.data.shape)
                    if parent._ctx is None:  # a leaf: into .grad
                        parent._accumulate(parent_grad, input_grads, grad)
                    elif parent._grad_sum is None:  # the first gradient to reach `parent`
                        parent._grad_sum = parent_grad
                        push(newest_first, (-parent._seq, parent))
                    else:  # not in place: the first one may be an array another op holds
                        parent._grad_sum = parent._grad_sum + parent_grad
                if not retain_graph:
                    ctx.saved_tensors = None
                    ctx.freed = True
        finally:  # after an error, leave no half-made sums behind
            for _, node in newest_first:
                node._grad_sum = None

    def _accumulate(self, grad: np.ndarray, handed: tuple, upstream: np.ndarray | None) -> None:
        """Add a gradient into `.grad`, in place when one is there.

        The first gradient is kept without a copy when it is an array the op's backward
        has just made for this input alone (see `Function`): not `upstream` (the
        gradient the backward was given), not a view, not in `handed` twice (an op may
        give one array to two inputs), of this tensor's dtype. Anything else is copied,
        so that every `.grad` is an array of its own, which later calls add into.
        """
        if self.grad is not None:
            self.grad += grad
            return
        keep = (type(grad) is np.ndarray and grad.base is None and grad is not upstream
                and grad.dtype == self.data.dtype)
        if keep and len(handed) > 1:
            copies = 0
            for other in handed:
                copies += other is grad
            keep = copies == 1
        # np.array also turns the NumPy scalar a 0-d op may return into a 0-d array.
        self.grad = grad if keep else np.array(grad, dtype=self.data.dtype)

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor(self.data)

    # ---- array-like ----------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def numpy(self) -> np.ndarray:
        return self.data

    def item(self) -> float:
        return self.data.item()

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        made_by = f", grad_fn={type(self._ctx).__name__}" if self._ctx is not None else ""
        flag = ", requires_grad=True" if self.requires_grad and self._ctx is None else ""
        return f"Tensor({np.array2string(self.data, precision=4, separator=', ')}{flag}{made_by})"

    # ---- operators: each one is an op's apply --------------------------------

    def __add__(self, other: Any) -> Tensor:
        return Add.apply(self, _operand(other))

    def __radd__(self, other: Any) -> Tensor:
        return Add.apply(_operand(other), self)

    def __sub__(self, other: Any) -> Tensor:
        return Sub.apply(self, _operand(other))

    def __rsub__(self, other: Any) -> Tensor:
        return Sub.apply(_operand(other), self)

    def __mul__(self, other: Any) -> Tensor:
        return Mul.apply(self, _operand(other))

    def __rmul__(self, other: Any) -> Tensor:
        return Mul.apply(_operand(other), self)

    def __truediv__(self, other: Any) -> Tensor:
        return Div.apply(self, _operand(other))

    def __rtruediv__(self, other: Any) -> Tensor:
        return Div.apply(_operand(other), self)

    def __neg__(self) -> Tensor:
        return Neg.apply(self)

    def __pow__(self, exponent: Any) -> Tensor:
        return Pow.apply(self, _operand(exponent))

    def __matmul__(self, other: Any) -> Tensor:
        return MatMul.apply(self, _operand(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return MatMul.apply(_operand(other), self)

    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return Mean.apply(self, axis=axis, keepdims=keepdims)

    def reshape(self, *shape: int | tuple[int, ...]) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return Reshape.apply(self, shape=shape)

    def transpose(self, *axes: int | tuple[int, ...]) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):  # t.transpose((2, 0, 1)), as NumPy
            axes = tuple(axes[0])
        return Transpose.apply(self, axes=axes or None)

    @property
    def T(self) -> Tensor:  # noqa: N802 (NumPy's name)
        return Transpose.apply(self, axes=None)

    def relu(self) -> Tensor:
        return ReLU.apply(self)

    def sigmoid(self) -> Tensor:
        return Sigmoid.apply(self)

    def tanh(self) -> Tensor:
        return Tanh.apply(self)


_function.Tensor = Tensor
