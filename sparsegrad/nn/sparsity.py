"""Sparsity penalties on a batch of hidden codes: what `beta` weighs in the loss."""

from __future__ import annotations

from sparsegrad.checks import check
from sparsegrad.operations.loss import KLDiv, L1Penalty
from sparsegrad.tensor import Tensor


class KLSparsity:
    """sum_j KL(rho || rho_hat_j), rho_hat_j the mean activation of unit j over the batch."""

    needs_unit_interval = True  # KL is defined for activations in (0, 1): sigmoid units

    def __init__(self, target: float = 0.1) -> None:
        check(0 < target < 1, "target", target, "a number strictly between 0 and 1")
        self.target = float(target)

    def __call__(self, hidden: Tensor) -> Tensor:
        return KLDiv.apply(hidden, self.target)


class L1Sparsity:
    """Mean over the batch of sum_j |h_j|."""

    needs_unit_interval = False

    def __call__(self, hidden: Tensor) -> Tensor:
        return L1Penalty.apply(hidden)
