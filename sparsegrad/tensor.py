"""`Tensor`: a NumPy array that remembers the op that made it, and `backward()`.

The whole reverse-mode engine is `Tensor.backward`:
1. order the graph so that every tensor comes after the tensors it was made from
   (an explicit stack, no recursion: a chain of 10,000 ops is fine);
2. walk that order backwards, asking each op's `backward` for the gradients of
   its inputs and adding them up per tensor (a tensor used twice gets both);
3. leave the sums in `.grad` of the leaves (tensors made by the user).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sparsegrad import function as _function
from sparsegrad.function import Function, unbroadcast
from sparsegrad.operations.activation import ReLU, Sigmoid, Tanh
from sparsegrad.operations.arithmetic import Add, Div, Mul, Neg, Pow, Sub
from sparsegrad.operations.linalg import MatMul, Reshape, Transpose
from sparsegrad.operations.reduction import Mean, Sum

Axis = int | tuple[int, ...] | None


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
    if isinstance(value, (Tensor, int, float)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    return Tensor(value)


class Tensor:
    """An n-dimensional array with a gradient, in the graph of the ops that made it."""

    __slots__ = ("data", "grad", "requires_grad", "_ctx")
    __array_ufunc__ = None  # `ndarray + Tensor` calls Tensor.__radd__, not NumPy

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        self.data: np.ndarray = _as_array(data.data if isinstance(data, Tensor) else data)
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self._ctx: Function | None = None

    @classmethod
    def _from_op(cls, data: Any, ctx: Function | None) -> Tensor:
        """Output of an op: no checks or copies, the op already made the array."""
        out = cls.__new__(cls)
        out.data = data if type(data) is np.ndarray else np.asarray(data)
        out.grad = None
        out.requires_grad = ctx is not None
        out._ctx = ctx
        return out

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
            seed = np.ones_like(self.data)
        else:
            seed = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient,
                              dtype=self.data.dtype)
            if seed.shape != self.data.shape:
                raise ValueError(f"backward(): gradient of shape {seed.shape} "
                                 f"for an output of shape {self.data.shape}")

        grads: dict[int, np.ndarray] = {id(self): seed}
        owned: set[int] = set()  # gradient arrays that no one else holds: safe to add into
        for node in reversed(self._topological_order()):
            grad = grads.pop(id(node), None)
            if grad is None:
                continue
            ctx = node._ctx
            if ctx is None:  # a leaf: keep the sum
                node._accumulate(grad, id(node) in owned)
                continue
            if ctx.freed:
                raise RuntimeError(
                    f"backward through the graph a second time ({type(ctx).__name__} was "
                    "already freed): pass retain_graph=True to the first backward()"
                )
            input_grads = ctx.backward(grad)
            if not isinstance(input_grads, tuple):
                input_grads = (input_grads,)
            for parent, parent_grad in zip(ctx.inputs, input_grads):
                if parent_grad is None or not isinstance(parent, Tensor) or not parent.requires_grad:
                    continue
                if parent_grad.shape != parent.data.shape:
                    parent_grad = unbroadcast(parent_grad, parent.data.shape)
                key = id(parent)
                if key not in grads:
                    grads[key] = parent_grad
                elif key in owned:
                    grads[key] += parent_grad
                else:
                    grads[key] = grads[key] + parent_grad
                    owned.add(key)
            if not retain_graph:
                ctx.saved_tensors = None
                ctx.freed = True

    def _topological_order(self) -> list[Tensor]:
        """Tensors that need a gradient, each after all the tensors it was made from."""
        order: list[Tensor] = []
        visited: set[int] = set()
        stack: list[tuple[Tensor, bool]] = [(self, False)]
        while stack:
            node, inputs_done = stack.pop()
            if inputs_done:
                order.append(node)
                continue
            if id(node) in visited:
                continue
            visited.add(id(node))
            stack.append((node, True))
            if node._ctx is not None:
                for parent in node._ctx.inputs:
                    if isinstance(parent, Tensor) and parent.requires_grad and id(parent) not in visited:
                        stack.append((parent, False))
        return order

    def _accumulate(self, grad: np.ndarray, owned: bool) -> None:
        """Add a finished gradient into `.grad`, in place when one is there."""
        if self.grad is None:
            # Copy unless this array is ours alone: an op may hand the same array
            # to two inputs (Add does), and later accumulation writes into it.
            self.grad = grad.astype(self.data.dtype, copy=not owned)
        else:
            self.grad += grad

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    def detach(self) -> Tensor:
        """The same data, cut from the graph."""
        return Tensor._from_op(self.data, None)

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

    def transpose(self, *axes: int) -> Tensor:
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
