"""Linear algebra and shape ops: MatMul, Affine (a @ w + b), Transpose, Reshape."""

# ruff: noqa: N805 (an op's first argument is its context, ctx, as in PyTorch)

from __future__ import annotations

import numpy as np

from sparsegrad.function import Function, shape_mismatch


class MatMul(Function):
    """a @ b, with NumPy's rules for 1-D and stacked (batched) operands."""

    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        try:
            return a @ b
        except ValueError:
            raise shape_mismatch("MatMul", a, b) from None

    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        if a.ndim == 2 and b.ndim == 2:  # the common case, said plainly
            # C = A B  =>  dA = dC B^T,  dB = A^T dC  (each only when asked for)
            return (grad @ b.T if need_a else None), (a.T @ grad if need_b else None)
        # NumPy treats a 1-D `a` as a row (1, n) and a 1-D `b` as a column (n, 1):
        # do the same, use the 2-D rule, then drop the added axis again.
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = grad
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        grad_a = g2 @ np.swapaxes(b2, -1, -2)
        grad_b = np.swapaxes(a2, -1, -2) @ g2
        if a.ndim == 1:
            grad_a = grad_a.reshape(grad_a.shape[:-2] + (a.shape[0],))
        if b.ndim == 1:
            grad_b = grad_b[..., 0]
        return grad_a, grad_b  # batch axes are summed away by the engine


class Affine(Function):
    """a @ w + b with a 2-D weight w: a layer's map as one op (PyTorch's addmm)."""

    def forward(ctx, a, w, b):
        a, w = np.asarray(a), np.asarray(w)
        if w.ndim != 2:
            raise ValueError(f"Affine: the weight must be 2-D (in, out), got shape {w.shape}")
        if a.shape[-1:] != w.shape[:1]:
            raise shape_mismatch("Affine", a, w)
        ctx.save_for_backward(a, w)
        out = a @ w
        try:
            return out + b
        except ValueError:
            raise shape_mismatch("Affine", out, b) from None

    def backward(ctx, grad):
        a, w = ctx.saved_tensors
        need_a, need_w, need_b = ctx.needs_input_grad
        # y = a w + b  =>  da = dy w^T,  dw = a^T dy over all rows (of any leading axes),
        # db = dy (the engine sums it over the rows b was broadcast to)
        rows, grad_rows = a.reshape(-1, a.shape[-1]), grad.reshape(-1, grad.shape[-1])
        return ((grad @ w.T if need_a else None), (rows.T @ grad_rows if need_w else None),
                (grad if need_b else None))


class Transpose(Function):
    """a.transpose(axes): axes reversed when `axes` is None."""

    def forward(ctx, a, axes=None):
        ctx.save_for_backward(axes)
        return np.transpose(a, axes)

    def backward(ctx, grad):
        (axes,) = ctx.saved_tensors
        # Undo the permutation: its inverse is argsort(axes).
        return np.transpose(grad, None if axes is None else np.argsort([ax % grad.ndim for ax in axes]))


class Reshape(Function):
    """a.reshape(shape)"""

    def forward(ctx, a, shape):
        ctx.save_for_backward(a.shape)
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(f"Reshape: cannot reshape shape {a.shape} into {tuple(shape)}") from None

    def backward(ctx, grad):
        (shape,) = ctx.saved_tensors
        return grad.reshape(shape)
