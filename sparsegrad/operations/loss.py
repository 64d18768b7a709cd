"""Losses and sparsity penalties, each one op with a hand-written backward.

Reconstruction: `MSELoss.apply(target, output)`, `BCELoss.apply(target, output)`,
both averaged over every element (as PyTorch's default `reduction="mean"`).
Classification: `CrossEntropyLoss.apply(logits, labels)`, averaged over the batch.
Sparsity of hidden activations `h` (batch x units):
`KLDiv.apply(h, rho)` and `L1Penalty.apply(h)`.
"""

# ruff: noqa: N805 (an op's first argument is its context, ctx, as in PyTorch)

from __future__ import annotations

import numpy as np

from sparsegrad.function import Function, shape_mismatch

EPS = 1e-7  # keeps log() finite: probabilities are clipped to [EPS, 1 - EPS]


def _check_same_shape(op: str, target, output: np.ndarray) -> None:
    if np.shape(target) != output.shape:
        raise shape_mismatch(op, target, output)


class MSELoss(Function):
    """mean((output - target)^2)"""

    def forward(ctx, target, output):
        _check_same_shape("MSELoss", target, output)
        diff = output - target
        ctx.save_for_backward(diff)
        flat = diff.reshape(-1)
        return np.dot(flat, flat) / flat.size  # sum of squares as one dot: 1.5% of a bench step

    def backward(ctx, grad):
        (diff,) = ctx.saved_tensors
        need_target, need_output = ctx.needs_input_grad
        # d/d(output) = 2 (output - target) / N ; d/d(target) is its negative
        grad_output = diff * (2.0 * float(grad) / diff.size)  # a Python float keeps diff's dtype
        return (-grad_output if need_target else None), (grad_output if need_output else None)


class BCELoss(Function):
    """-mean(t log p + (1 - t) log(1 - p)), with p = output clipped to [EPS, 1 - EPS]."""

    def forward(ctx, target, output):
        _check_same_shape("BCELoss", target, output)
        p = np.clip(output, EPS, 1.0 - EPS)
        log_p, log_1mp = np.log(p), np.log1p(-p)
        ctx.save_for_backward(target, p, log_p, log_1mp)
        return -np.mean(target * log_p + (1.0 - target) * log_1mp)

    def backward(ctx, grad):
        target, p, log_p, log_1mp = ctx.saved_tensors
        need_target, need_output = ctx.needs_input_grad
        scale = grad / p.size
        # d/dp = (p - t) / (p (1 - p)) / N ; d/dt = -(log p - log(1 - p)) / N
        grad_output = (p - target) / (p * (1.0 - p)) * scale if need_output else None
        grad_target = (log_1mp - log_p) * scale if need_target else None
        return grad_target, grad_output


class KLDiv(Function):
    """sum_j KL(rho || rho_hat_j), rho_hat_j = mean over the batch of hidden unit j.

    KL(rho || r) = rho log(rho / r) + (1 - rho) log((1 - rho) / (1 - r)); rho_hat is
    clipped to [EPS, 1 - EPS] once, and that clipped value is used in both passes.
    """

    def forward(ctx, hidden, rho):
        rho = float(rho)  # a NumPy float64 would turn a float32 loss into float64
        if not 0.0 < rho < 1.0:
            raise ValueError(f"KLDiv: the sparsity target rho must be in (0, 1), got {rho}")
        if hidden.ndim != 2:
            raise ValueError(f"KLDiv: hidden activations must be (batch, units), got shape {hidden.shape}")
        rho_hat = np.clip(hidden.sum(axis=0) / hidden.shape[0], EPS, 1.0 - EPS)
        ctx.save_for_backward(hidden.shape, rho, rho_hat)
        return (rho * np.log(rho / rho_hat) + (1.0 - rho) * np.log((1.0 - rho) / (1.0 - rho_hat))).sum()

    def backward(ctx, grad):
        shape, rho, rho_hat = ctx.saved_tensors
        # dKL/d(rho_hat_j) = -rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j), and each
        # h_ij enters rho_hat_j with weight 1 / batch: the same for every row.
        per_unit = (-rho / rho_hat + (1.0 - rho) / (1.0 - rho_hat)) * (float(grad) / shape[0])
        # every row the same: per_unit repeated over the batch (np.broadcast_to: 1.5% of a bench step slower)
        return np.repeat(per_unit[np.newaxis], shape[0], axis=0), None


class L1Penalty(Function):
    """mean over the batch of sum_j |h_ij|"""

    def forward(ctx, hidden):
        ctx.save_for_backward(hidden)
        return np.abs(hidden).sum() / hidden.shape[0]

    def backward(ctx, grad):
        (hidden,) = ctx.saved_tensors
        return np.sign(hidden) * (grad / hidden.shape[0])


class CrossEntropyLoss(Function):
    """-mean_i log softmax(logits_i)[label_i], as torch.nn.functional.cross_entropy."""

    def forward(ctx, logits, labels):
        labels = np.asarray(labels)
        if logits.ndim != 2 or labels.shape != (logits.shape[0],):
            raise ValueError(f"CrossEntropyLoss: logits (batch, classes) and labels (batch,) expected, "
                             f"got {logits.shape} and {labels.shape}")
        shifted = logits - logits.max(axis=1, keepdims=True)  # exp cannot overflow; the max cancels
        log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(len(labels))
        ctx.save_for_backward(log_p, rows, labels)
        return -log_p[rows, labels].mean()

    def backward(ctx, grad):
        log_p, rows, labels = ctx.saved_tensors
        # d/d logits = (softmax - one_hot(label)) / batch
        grad_logits = np.exp(log_p)
        grad_logits[rows, labels] -= 1.0
        return grad_logits * (float(grad) / len(labels)), None
