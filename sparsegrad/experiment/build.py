"""The objects a config describes, made by `hydra.utils.instantiate` from their `_target_`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig

from sparsegrad.experiment.callback import Callback
from sparsegrad.nn import AutoEncoder
from sparsegrad.operations.loss import MSELoss
from sparsegrad.optim import Optimizer, Schedule
from sparsegrad.tensor import Tensor

LossParts = tuple[Tensor, Tensor, Tensor]  # total, reconstruction, weighted sparsity


@dataclass
class Objective:
    """loss(model, x) = MSE(x, model(x)) + beta * penalty(hidden code); no penalty: the MSE alone."""

    penalty: Callable[[Tensor], Tensor] | None
    beta: float

    def __call__(self, model: AutoEncoder, x: Tensor) -> LossParts:
        hidden = model.encode(x)
        recon = MSELoss.apply(x, model.decode(hidden))
        if self.penalty is None or self.beta == 0.0:
            return recon, recon, Tensor(0.0)
        sparsity = self.penalty(hidden) * self.beta
        return recon + sparsity, recon, sparsity


@dataclass
class Parts:
    """What training needs: the model, its optimizer and schedule, and the loss."""

    model: AutoEncoder
    optimizer: Optimizer
    schedule: Schedule
    objective: Objective


def build_callbacks(cfg: DictConfig) -> list[Callback]:
    """The callbacks `cfg.callbacks` lists (conf/callbacks/), in its order."""
    return [instantiate(node, _convert_="all") for node in (cfg.get("callbacks") or {}).values()]


def build(cfg: DictConfig, rng: np.random.Generator) -> Parts:
    """Model (initialised from `rng`), optimizer on its parameters, schedule on the optimizer, loss."""
    model = instantiate(cfg.model, rng=rng, _convert_="all")
    optimizer = instantiate(cfg.optimizer, _convert_="all")(model.parameters())
    schedule = instantiate(cfg.schedule, _convert_="all")(optimizer)
    penalty = instantiate(cfg.sparsity, _convert_="all") if cfg.sparsity.get("_target_") else None
    return Parts(model, optimizer, schedule, Objective(penalty, float(cfg.beta)))
