"""Losses and sparsity penalties, each one op with a hand-written backward.

Reconstruction: `MSELoss.apply(target, output)`, `BCELoss.apply(target, output)`,
both averaged over every element (as PyTorch's default `reduction="mean"`).
Sparsity of hidden activations `h` (batch x units):
`KLDiv.apply(h, rho)` and `L1Penalty.apply(h)`.
"""

from __future__ import annotations

import numpy as np

from sparsegrad.function import Function, shape_mismatch

EPS = 1e-7  # keeps log() finite: probabilities are clipped to [EPS, 1 - EPS]


def _check_same_shape(op: str, target: np.ndarray, output: np.ndarray) -> None:
    if (target.shape if type(target) is np.ndarray else np.shape(target)) != output.shape:
        raise shape_mismatch(op, target, output)


class MSELoss(Function):
    """mean((output - target)^2)"""

    def forward(self, target, output):
        _check_same_shape("MSELoss", target, output)
        diff = output - target
        self.save_for_backward(diff)
        flat = diff.reshape(-1)
        return np.dot(flat, flat) / flat.size  # one BLAS pass instead of square + mean

    def backward(self, grad):
        (diff,) = self.saved_tensors
        need_target, need_output = self.needs_input_grad
        # d/d(output) = 2 (output - target) / N ; d/d(target) is its negative
        grad_output = diff * (2.0 * float(grad) / diff.size)  # a Python float keeps diff's dtype
        return (-grad_output if need_target else None), (grad_output if need_output else None)


class BCELoss(Function):
    """-mean(t log p + (1 - t) log(1 - p)), with p = output clipped to [EPS, 1 - EPS]."""

    def forward(self, target, output):
        _check_same_shape("BCELoss", target, output)
        p = np.clip(output, EPS, 1.0 - EPS)
        log_p, log_1mp = np.log(p), np.log1p(-p)
        self.save_for_backward(target, p, log_p, log_1mp)
        return -np.mean(target * log_p + (1.0 - target) * log_1mp)

    def backward(self, grad):
        target, p, log_p, log_1mp = self.saved_tensors
        scale = grad / p.size
        # d/dp = (p - t) / (p (1 - p)) / N ; d/dt = -(log p - log(1 - p)) / N
        grad_output = (p - target) / (p * (1.0 - p)) * scale
        grad_target = (log_1mp - log_p) * scale if isinstance(target, np.ndarray) else None
        return grad_target, grad_output


class KLDiv(Function):
    """sum_j KL(rho || rho_hat_j), rho_hat_j = mean over the batch of hidden unit j.

    KL(rho || r) = rho log(rho / r) + (1 - rho) log((1 - rho) / (1 - r)); rho_hat is
    clipped to [EPS, 1 - EPS] once, and that clipped value is used in both passes.
    """

    def forward(self, hidden, rho):
        rho = float(rho)  # a NumPy float64 scalar would turn a float32 loss into float64
        if not 0.0 < rho < 1.0:
            raise ValueError(f"KLDiv: the sparsity target rho must be in (0, 1), got {rho}")
        if hidden.ndim != 2:
            raise ValueError(f"KLDiv: hidden activations must be (batch, units), got shape {hidden.shape}")
        rho_hat = np.add.reduce(hidden, axis=0)  # hidden.sum(axis=0), minus a Python layer
        rho_hat /= hidden.shape[0]  # the batch mean of each unit
        np.minimum(np.maximum(rho_hat, EPS, out=rho_hat), 1.0 - EPS, out=rho_hat)  # clip, in place
        one_minus_rho_hat = np.subtract(1.0, rho_hat)
        self.save_for_backward(hidden.shape, rho, rho_hat, one_minus_rho_hat)
        kl = np.log(rho / rho_hat)
        kl *= rho
        tail = np.log((1.0 - rho) / one_minus_rho_hat)
        tail *= 1.0 - rho
        kl += tail
        return np.add.reduce(kl)

    def backward(self, grad):
        shape, rho, rho_hat, one_minus_rho_hat = self.saved_tensors
        # dKL/d(rho_hat_j) = -rho / rho_hat_j + (1 - rho) / (1 - rho_hat_j), and each
        # h_ij enters rho_hat_j with weight 1/batch.
        per_unit = (1.0 - rho) / one_minus_rho_hat
        per_unit -= rho / rho_hat
        per_unit *= float(grad) / shape[0]
        grad_hidden = np.empty(shape, dtype=per_unit.dtype)
        grad_hidden[...] = per_unit  # the same for every row of the batch
        return grad_hidden, None


class L1Penalty(Function):
    """mean over the batch of sum_j |h_ij|"""

    def forward(self, hidden):
        self.save_for_backward(hidden)
        return np.abs(hidden).sum() / hidden.shape[0]

    def backward(self, grad):
        (hidden,) = self.saved_tensors
        return np.sign(hidden) * (grad / hidden.shape[0])
