"""The training loop: epochs of shuffled mini-batches, and validation statistics.

Nothing here knows about MLflow or plots: `fit` hands each finished epoch to a
callback, so logging and checkpoints happen between epochs, never per step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from sparsegrad.experiment.builders import LossParts
from sparsegrad.experiment.errors import TrainingDiverged
from sparsegrad.function import no_grad
from sparsegrad.nn import AutoEncoder
from sparsegrad.operations.loss import MSELoss
from sparsegrad.optim import Optimizer
from sparsegrad.tensor import Tensor

NEAR_ZERO = 0.01  # an activation below this counts as silent


@dataclass
class EpochResult:
    """What one epoch of training measured (means over its steps)."""

    epoch: int  # 1-based
    loss: float
    recon_loss: float
    sparsity_loss: float
    lr: float
    epoch_time_s: float
    step_losses: list[tuple[int, float]] = field(default_factory=list)  # (global step, loss)


@dataclass
class Validation:
    """Reconstruction and sparsity of the model on held-out images."""

    val_recon_loss: float
    mean_activation: float  # should approach sparsity.target
    near_zero_fraction: float  # share of activations below NEAR_ZERO
    dead_units: int  # hidden units below NEAR_ZERO on every image


@contextmanager
def blas_threads(n: int | None) -> Iterator[None]:
    """BLAS (and OpenMP) limited to `n` threads inside the block; None leaves them as they are."""
    if n is None:
        yield
        return
    with threadpool_limits(limits=n):
        yield


def batches_per_epoch(n_images: int, batch_size: int | None) -> int:
    return 1 if batch_size is None else math.ceil(n_images / batch_size)


def train_epoch(model: AutoEncoder, optimizer: Optimizer, loss_fn: Callable[[AutoEncoder, Tensor], LossParts],
                images: np.ndarray, batch_size: int | None, rng: np.random.Generator, epoch: int,
                epochs: int, log_every: int, progress: bool = True) -> EpochResult:
    """One pass over `images` in a random order (full batch when batch_size is None)."""
    start = time.perf_counter()
    n = len(images)
    steps = batches_per_epoch(n, batch_size)
    order = rng.permutation(n) if batch_size is not None else None
    first_step = (epoch - 1) * steps
    lr = optimizer.lr
    total = recon_total = sparsity_total = 0.0
    step_losses: list[tuple[int, float]] = []
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{epochs}", disable=None if progress else True, leave=False,
               mininterval=0.5, dynamic_ncols=True)
    for i in range(steps):
        batch = images if order is None else images[order[i * batch_size:(i + 1) * batch_size]]
        loss, recon, sparsity = loss_fn(model, Tensor(batch))
        value = float(loss.data)
        if not math.isfinite(value):
            bar.close()
            raise TrainingDiverged(
                f"the loss became {value} at epoch {epoch}, step {i + 1} of {steps} "
                f"(lr={lr:g}): lower optimizer.lr or check the data"
            )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += value
        recon_total += float(recon.data)
        sparsity_total += float(sparsity.data)
        if (first_step + i + 1) % log_every == 0:  # global step, so short epochs log too
            step_losses.append((first_step + i + 1, value))
            bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2g}", refresh=False)
            bar.update(i + 1 - bar.n)
    bar.close()
    return EpochResult(epoch, total / steps, recon_total / steps, sparsity_total / steps, lr,
                       time.perf_counter() - start, step_losses)


def validate_model(model: AutoEncoder, images: np.ndarray, chunk: int = 10_000) -> Validation:
    """Reconstruction loss and hidden-unit statistics on `images`, without a graph."""
    recon_sum, hidden_sum, near_zero, unit_max = 0.0, 0.0, 0, None
    with no_grad():
        for start in range(0, len(images), chunk):
            x = Tensor(images[start:start + chunk])
            hidden = model.encode(x)
            recon_sum += float(MSELoss.apply(x, model.decode(hidden)).data) * len(x)
            h = hidden.data
            hidden_sum += float(h.sum())
            near_zero += int(np.count_nonzero(h < NEAR_ZERO))
            top = h.max(axis=0)
            unit_max = top if unit_max is None else np.maximum(unit_max, top)
    n = len(images)
    units = unit_max.size
    return Validation(recon_sum / n, hidden_sum / (n * units), near_zero / (n * units),
                      int(np.count_nonzero(unit_max < NEAR_ZERO)))
