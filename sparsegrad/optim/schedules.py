"""Learning-rate schedules, stepped once per epoch as PyTorch's `lr_scheduler`s.

Each schedule sets `optimizer.lr = lr_at(epoch)`: epoch 0 when made, then one
more at each `step()`. `lr_at` is a pure function of the epoch, so a resumed run
lands on the same learning rate as an uninterrupted one.
"""

from __future__ import annotations

import math

from sparsegrad.checks import check
from sparsegrad.optim.optimizer import Optimizer


class Schedule:
    """Base: subclasses define `lr_at(epoch)` from `self.base_lr` (the optimizer's lr)."""

    def __init__(self, optimizer: Optimizer) -> None:
        self.optimizer = optimizer
        self.base_lr = optimizer.lr
        self.epoch = 0
        optimizer.lr = self.lr_at(0)

    def lr_at(self, epoch: int) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """Move to the next epoch's learning rate."""
        self.epoch += 1
        self.optimizer.lr = self.lr_at(self.epoch)

    def state_dict(self) -> dict[str, float]:
        return {"epoch": self.epoch, "base_lr": self.base_lr}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.epoch, self.base_lr = int(state["epoch"]), float(state["base_lr"])
        self.optimizer.lr = self.lr_at(self.epoch)


class ConstantLR(Schedule):
    """lr stays base_lr."""

    def lr_at(self, epoch: int) -> float:
        return self.base_lr


class _AnnealLR(Schedule):
    """From base_lr at epoch 0 to base_lr * end_factor at the last epoch (epochs - 1), along `weight`."""

    def __init__(self, optimizer: Optimizer, end_factor: float, epochs: int) -> None:
        check(0 < end_factor <= 1, "end_factor", end_factor, "a number in (0, 1]")
        check(epochs >= 1, "epochs", epochs, "an integer >= 1")
        self.end_factor, self.epochs = float(end_factor), int(epochs)
        super().__init__(optimizer)

    def weight(self, fraction: float) -> float:
        """The share of base_lr at `fraction` of the run: 1 at the start, 0 at the end."""
        raise NotImplementedError

    def lr_at(self, epoch: int) -> float:
        if self.epochs <= 1:
            return self.base_lr
        w = self.weight(min(epoch, self.epochs - 1) / (self.epochs - 1))
        return w * self.base_lr + (1.0 - w) * self.base_lr * self.end_factor  # both ends exact


class LinearLR(_AnnealLR):
    """base_lr at epoch 0 to base_lr * end_factor at the last epoch, in a straight line."""

    def weight(self, fraction: float) -> float:
        return 1.0 - fraction


class CosineLR(_AnnealLR):
    """Half a cosine from base_lr at epoch 0 down to base_lr * end_factor at the last epoch."""

    def weight(self, fraction: float) -> float:
        return 0.5 * (1.0 + math.cos(math.pi * fraction))


class ExponentialLR(Schedule):
    """base_lr * gamma^epoch"""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        check(0 < gamma <= 1, "gamma", gamma, "a number in (0, 1]")
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma**epoch


class StepLR(Schedule):
    """base_lr * gamma^(epoch // step_size): multiplied by gamma every step_size epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float) -> None:
        check(step_size >= 1, "step_size", step_size, "an integer >= 1")
        check(0 < gamma <= 1, "gamma", gamma, "a number in (0, 1]")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def lr_at(self, epoch: int) -> float:
        return self.base_lr * self.gamma ** (epoch // self.step_size)
