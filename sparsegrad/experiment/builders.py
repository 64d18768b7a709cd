"""Build the model, optimizer, schedule and loss that a config describes."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from omegaconf import DictConfig

from sparsegrad.nn import AutoEncoder
from sparsegrad.operations.loss import KLDiv, L1Penalty, MSELoss
from sparsegrad.optim import (
    GD,
    SGD,
    Adam,
    ConstantLR,
    CosineLR,
    ExponentialLR,
    LinearLR,
    Optimizer,
    Schedule,
    StepLR,
)
from sparsegrad.tensor import Tensor

LossParts = tuple[Tensor, Tensor, Tensor]  # total, reconstruction, weighted sparsity


def build_model(cfg: DictConfig, rng: np.random.Generator) -> AutoEncoder:
    m = cfg.model
    return AutoEncoder(m.input_dim, m.hidden_dim, m.hidden_activation, m.output_activation, rng=rng)


def build_optimizer(cfg: DictConfig, model: AutoEncoder) -> Optimizer:
    o = cfg.optimizer
    if o.name == "gd":
        return GD(model.parameters(), lr=o.lr)
    if o.name == "sgd":
        return SGD(model.parameters(), lr=o.lr, momentum=o.momentum, nesterov=o.nesterov,
                   weight_decay=o.weight_decay)
    return Adam(model.parameters(), lr=o.lr, betas=(o.beta1, o.beta2), eps=o.eps,
                weight_decay=o.weight_decay)


def build_schedule(cfg: DictConfig, optimizer: Optimizer) -> Schedule:
    s, epochs, lr = cfg.schedule, cfg.trainer.epochs, cfg.optimizer.lr
    if s.name == "linear":
        return LinearLR(optimizer, end_lr=lr * s.end_factor, epochs=epochs)
    if s.name == "cosine":
        return CosineLR(optimizer, end_lr=lr * s.end_factor, epochs=epochs)
    if s.name == "exponential":
        return ExponentialLR(optimizer, gamma=s.gamma)
    if s.name == "step":
        return StepLR(optimizer, step_size=s.step_size, gamma=s.gamma)
    return ConstantLR(optimizer)


def build_loss(cfg: DictConfig) -> Callable[[AutoEncoder, Tensor], LossParts]:
    """loss(model, x) -> (recon + beta * penalty, recon, beta * penalty)."""
    beta, name, rho = float(cfg.beta), cfg.sparsity.name, float(cfg.sparsity.target)

    def loss(model: AutoEncoder, x: Tensor) -> LossParts:
        hidden = model.encode(x)
        recon = MSELoss.apply(x, model.decode(hidden))
        if name == "none" or beta == 0.0:
            return recon, recon, Tensor(0.0)
        penalty = KLDiv.apply(hidden, rho) if name == "kl" else L1Penalty.apply(hidden)
        sparsity = penalty * beta
        return recon + sparsity, recon, sparsity

    return loss
