"""`Tensor`: a NumPy array that remembers the op that made it, and `backward()`.

The whole reverse-mode engine is `Tensor.backward`:
1. every tensor takes a serial number when it is made, so a tensor's serial is
   larger than those of the tensors it was made from;
2. walk the graph from the output, always taking the newest tensor not done yet
   (a heap keyed by serial): every op that used it was made after it, so it has
   been done already and the sum of the gradients that reached the tensor is
   complete. Ask the tensor's op for the gradients of its inputs, and add each
   to that input's sum (a tensor used twice gets both). No recursion, so a chain
   of 10,000 ops is fine, and only the tensors a gradient reaches are visited;
3. the leaves (tensors made by the user) add what reaches them into `.grad`.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from sparsegrad import function as _function
from sparsegrad.function import Function, next_serial, unbroadcast
from sparsegrad.operations.activation import LogSoftmax, ReLU, Sigmoid, Tanh
from sparsegrad.operations.arithmetic import Add, Div, Exp, Log, Mul, Neg, Pow, Sub
from sparsegrad.operations.linalg import MatMul, Reshape, Transpose
from sparsegrad.operations.reduction import Mean, Sum

Axis = int | tuple[int, ...] | None
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _as_array(data: Any) -> np.ndarray:
    """`data` as a NumPy array: float32 and float64 arrays as they are, anything else float32."""
    if isinstance(data, np.ndarray) and data.dtype in _FLOAT_DTYPES:
        return data
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"Tensor needs numeric data, got {type(data).__name__} of dtype {array.dtype}"
        )
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


def _made_for(grad: np.ndarray, handed: tuple, upstream: np.ndarray) -> bool:
    """True when `grad` is a new array that its op's backward made for one input alone.

    Not `upstream` (the gradient that backward was given), not a view, not handed
    to two inputs. Such an array may become a leaf's `.grad` as it is.
    """
    return (type(grad) is np.ndarray and grad.base is None and grad is not upstream
            and sum(other is grad for other in handed) == 1)


class Tensor:
    """An n-dimensional array with a gradient, in the graph of the ops that made it."""

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "_serial")
    __array_ufunc__ = None  # `ndarray + Tensor` calls Tensor.__radd__, not NumPy

    def __init__(self, data: Any, requires_grad: bool = False, _ctx: Function | None = None) -> None:
        self.data: np.ndarray = _as_array(data.data if isinstance(data, Tensor) else data)
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self._ctx = _ctx  # the op that made this tensor (set by Function.apply), None for a leaf
        self._serial = next_serial()

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
            gradient = np.ones_like(self.data)
        seed = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient, dtype=self.data.dtype)
        if seed.shape != self.data.shape:
            raise ValueError(f"backward(): gradient of shape {seed.shape} "
                             f"for an output of shape {self.data.shape}")
        if self._ctx is None:  # a leaf: nothing to walk
            self._accumulate(seed, owned=False)  # the caller's array: copied
            return

        grads = {self: seed}  # the sum of the gradients that reached each tensor so far
        newest_first = [(-self._serial, self)]  # the tensors in `grads`, by serial (all different)
        while newest_first:
            _, node = heapq.heappop(newest_first)
            grad, ctx = grads.pop(node), node._ctx
            if ctx.saved_tensors is None:
                raise RuntimeError(
                    f"backward through the graph a second time ({type(ctx).__name__} was "
                    "already freed): pass retain_graph=True to the first backward()"
                )
            input_grads = ctx.backward(grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            for parent, parent_grad, needed in zip(ctx.inputs, input_grads, ctx.needs_input_grad):
                if not needed or parent_grad is None:
                    continue
                if parent_grad.shape != parent.data.shape:  # the op broadcast this input
                    parent_grad = unbroadcast(parent_grad, parent.data.shape)
                if parent._ctx is None:  # a leaf: into .grad
                    parent._accumulate(parent_grad, owned=_made_for(parent_grad, input_grads, grad))
                elif parent in grads:  # not in place: the first one may be an array another op holds
                    grads[parent] = grads[parent] + parent_grad
                else:
                    grads[parent] = parent_grad
                    heapq.heappush(newest_first, (-parent._serial, parent))
            if not retain_graph:
                ctx.saved_tensors = None

    def _accumulate(self, grad: np.ndarray, owned: bool) -> None:
        """Add a gradient into `.grad`, in place once there is one.

        So every `.grad` must be an array of its own: the first gradient is copied
        unless it is `owned` (an array no one else holds) and of this tensor's dtype.
        """
        if self.grad is not None:
            self.grad += grad
        elif owned and grad.dtype == self.data.dtype:  # no copy: 2% of a bench step
            self.grad = grad
        else:  # np.array also turns the NumPy scalar a 0-d op may return into a 0-d array
            self.grad = np.array(grad, dtype=self.data.dtype)

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

    def _binary(op: type[Function]) -> tuple:  # noqa: N805 (runs in the class body, not a method)
        """`self <op> other` and `other <op> self`, for a method and its reflected twin."""
        return (lambda self, other: op.apply(self, _operand(other)),
                lambda self, other: op.apply(_operand(other), self))

    __add__, __radd__ = _binary(Add)
    __sub__, __rsub__ = _binary(Sub)
    __mul__, __rmul__ = _binary(Mul)
    __truediv__, __rtruediv__ = _binary(Div)
    __matmul__, __rmatmul__ = _binary(MatMul)
    __pow__ = _binary(Pow)[0]  # a constant exponent only: no `2 ** tensor`
    del _binary

    def __neg__(self) -> Tensor:
        return Neg.apply(self)

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

    def exp(self) -> Tensor:
        return Exp.apply(self)

    def log(self) -> Tensor:
        return Log.apply(self)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return LogSoftmax.apply(self, axis=axis)


_function.Tensor = Tensor
