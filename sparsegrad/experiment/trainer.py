"""The training loop: `fit` runs epochs of shuffled mini-batches and hands each finished one to callbacks.

Nothing here knows about MLflow, plots or files: a callback's `on_epoch_end(state)`
is where a run records an epoch (checkpoint, metrics). Callbacks run between
epochs, never per step.
"""

from __future__ import annotations

import copy
import math
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from sparsegrad.data import Dataset
from sparsegrad.experiment.build import Objective
from sparsegrad.experiment.denormals import flush_denormals
from sparsegrad.experiment.errors import TrainingDiverged
from sparsegrad.experiment.interrupts import held_interrupts
from sparsegrad.function import no_grad
from sparsegrad.nn import AutoEncoder
from sparsegrad.nn.clip import clip_grad_norm
from sparsegrad.operations.loss import MSELoss
from sparsegrad.optim import Optimizer, Schedule
from sparsegrad.tensor import Tensor

NEAR_ZERO = 0.01  # an activation below this counts as silent
EPOCH_METRICS = ("loss", "recon_loss", "sparsity_loss", "val_recon_loss", "explained_variance", "l0",
                 "mean_activation", "near_zero_fraction", "dead_units", "lr", "epoch_time_s")


@dataclass
class Settings:
    """How to train (the `trainer` config less what the runner uses)."""

    epochs: int
    batch_size: int | None  # None: full batch
    log_every_n_steps: int = 50
    progress: bool = True
    clip_grad_norm: float | None = None  # clip the gradients' global norm to this before each update
    flush_denormals: bool = True  # subnormal floats as 0 (the CPU's slow path otherwise): denormals.py


@dataclass
class TrainState:
    """Everything a callback may read, and a checkpoint must hold, after an epoch."""

    model: AutoEncoder
    optimizer: Optimizer
    schedule: Schedule
    rng: np.random.Generator  # the shuffling order's generator
    epoch: int = 0  # epochs finished
    history: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in EPOCH_METRICS})
    step_losses: list[tuple[int, float]] = field(default_factory=list)  # the last epoch's (global step, loss)
    validation: Validation | None = None  # the last epoch's

    def last(self) -> dict[str, float]:
        """The last finished epoch's metrics."""
        return {key: values[-1] for key, values in self.history.items() if len(values) == self.epoch}

    def record(self, key: str, value: float) -> None:
        """A metric of the epoch that just finished (callbacks add their own to the history)."""
        self.history.setdefault(key, []).append(float(value))


class Callback(Protocol):
    """Called after each epoch. A callback may also define `on_before_update(state, step)` and
    `on_after_update(state, step)`, called around every optimizer step (gradients are there)."""

    def on_epoch_end(self, state: TrainState) -> None: ...


@dataclass
class Validation:
    """Reconstruction and sparsity of the model on held-out images."""

    val_recon_loss: float
    explained_variance: float  # 1 - FVU: 1 - sum (x - x_hat)^2 / sum (x - mean x)^2; scale-free
    l0: float  # hidden units above NEAR_ZERO per image, on average
    mean_activation: float  # should approach sparsity.target
    near_zero_fraction: float  # share of activations below NEAR_ZERO
    dead_units: int  # hidden units below NEAR_ZERO on every image
    firing_rate: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))  # per unit: share of images


# trainer.blas_threads=auto: one BLAS thread while a step's matrix products are small, every core
# once they are big enough to share out. A product of a step is batch x input x hidden
# multiply-adds. Measured on this 2-core VM (`python scripts/bench_run.py --threads`, the step's
# time on two threads over one; docs/performance-run.md): 1.09x at 32 x 784 x 64 (1.6 M, the
# default), 0.87x at 32 x 784 x 256 (6.4 M), 0.92x at 256 x 784 x 64 (12.8 M), 0.69x at
# 4000 x 784 x 1024 (3.2 G). The crossover lies between 1.6 M and 6.4 M. (On a machine whose
# other core is busy, two threads lose at every size: then set trainer.blas_threads=1.)
AUTO_MIN_PRODUCT = 4_000_000


def resolve_blas_threads(setting: int | str | None, batch: int, input_dim: int, hidden_dim: int) -> int | None:
    """The BLAS threads `trainer.blas_threads` asks for: a count, None (the library's default), or
    for "auto" 1 below AUTO_MIN_PRODUCT multiply-adds per product and the machine's cores above."""
    if setting != "auto":
        return setting  # type: ignore[return-value]
    return 1 if batch * input_dim * hidden_dim < AUTO_MIN_PRODUCT else (os.cpu_count() or 1)


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


def fit(model: AutoEncoder, optimizer: Optimizer, schedule: Schedule, data: Dataset,
        callbacks: Sequence[Callback] = (), *, objective: Objective, settings: Settings,
        rng: np.random.Generator, epochs_done: int = 0,
        history: dict[str, list[float]] | None = None) -> TrainState:
    """Train epochs `epochs_done + 1` .. `settings.epochs`; callbacks see each finished epoch.

    `rng` shuffles the images; a resumed run passes the epochs and history of its checkpoint.
    Each epoch is validated on a copy of its weights on a second thread while the next epoch
    trains (NumPy leaves the GIL free over big arrays: the second core does it), then its
    callbacks run on that copy of its state. Whenever training stops (the end, an error,
    Ctrl-C), the epoch still being validated is finished first: no finished epoch goes unrecorded.
    """
    state = TrainState(model, optimizer, schedule, rng, epochs_done)
    state.history.update(history or {})
    closing = None  # the last finished epoch: (its state, frozen; its metrics; its validation, on the way)
    with flush_denormals(settings.flush_denormals), \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="validate") as validator:
        try:
            for epoch in range(epochs_done + 1, settings.epochs + 1):
                # Overflow on the way to a NaN/inf loss is reported as divergence, not as warnings.
                with np.errstate(over="ignore", invalid="ignore"):
                    row = train_epoch(state, objective, data.train_images, settings, epoch, callbacks)
                schedule.step()
                state.epoch = epoch
                if closing is not None:
                    last, closing = closing, None
                    _close(state, *last, callbacks)
                frozen = _freeze(state)
                closing = (frozen, row, validator.submit(_validate, frozen.model, data.test_images,
                                                         settings.flush_denormals))
        finally:
            if closing is not None:
                _close(state, *closing, callbacks)
    return state


def _freeze(state: TrainState) -> TrainState:
    """The state of the epoch just finished, as callbacks see it: a copy that training does not change
    (the history is shared: only `_close` adds to it), whose parameters ask for no gradient."""
    model, optimizer, schedule = copy.deepcopy((state.model, state.optimizer, state.schedule))
    for p in model.parameters():
        p.requires_grad = False
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng.bit_generator.state
    return TrainState(model, optimizer, schedule, rng, state.epoch, state.history, state.step_losses)


def _validate(model: AutoEncoder, images: np.ndarray, flush: bool) -> Validation:
    with flush_denormals(flush), np.errstate(over="ignore", invalid="ignore"):  # (per thread: this one too)
        return _measure(model, images)


def _close(state: TrainState, frozen: TrainState, row: dict[str, float], validation: Future[Validation],
           callbacks: Sequence[Callback]) -> None:
    """An epoch's validation, metrics and callbacks, uncut by an interruption."""
    with held_interrupts():
        frozen.validation = state.validation = validation.result()
        row.update({k: v for k, v in vars(frozen.validation).items() if k in EPOCH_METRICS})
        for key in EPOCH_METRICS:
            frozen.record(key, row[key])
        for callback in callbacks:
            callback.on_epoch_end(frozen)


def train_epoch(state: TrainState, objective: Objective, images: np.ndarray, settings: Settings,
                epoch: int, callbacks: Sequence[Callback] = ()) -> dict[str, float]:
    """One pass over `images` in a random order; the means of its losses, its lr and its time."""
    start = time.perf_counter()
    model, optimizer, batch_size = state.model, state.optimizer, settings.batch_size
    steps = batches_per_epoch(len(images), batch_size)
    order = state.rng.permutation(len(images)) if batch_size is not None else None
    first_step, lr = (epoch - 1) * steps, optimizer.lr
    total = recon_total = sparsity_total = 0.0
    state.step_losses = []
    before = [c.on_before_update for c in callbacks if hasattr(c, "on_before_update")]
    after = [c.on_after_update for c in callbacks if hasattr(c, "on_after_update")]
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{settings.epochs}", disable=None if settings.progress else True,
               leave=False, mininterval=0.5, dynamic_ncols=True)
    for i in range(steps):
        batch = images if order is None else images[order[i * batch_size:(i + 1) * batch_size]]
        loss, recon, sparsity = objective(model, Tensor(batch))
        value = float(loss.data)
        if not math.isfinite(value):
            bar.close()
            raise TrainingDiverged(f"the loss became {value} at epoch {epoch}, step {i + 1} of {steps} "
                                   f"(lr={lr:g}): lower optimizer.lr or check the data")
        optimizer.zero_grad()
        loss.backward()
        if settings.clip_grad_norm is not None:
            clip_grad_norm(model.parameters(), settings.clip_grad_norm)
        for hook in before:
            hook(state, first_step + i + 1)
        optimizer.step()
        for hook in after:
            hook(state, first_step + i + 1)
        total += value
        recon_total += float(recon.data)
        sparsity_total += float(sparsity.data)
        if (first_step + i + 1) % settings.log_every_n_steps == 0:  # global step, so short epochs log too
            state.step_losses.append((first_step + i + 1, value))
            bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2g}", refresh=False)
            bar.update(i + 1 - bar.n)
    bar.close()
    if not all(np.isfinite(p.data).all() for p in model.parameters()):  # the last step's update
        raise TrainingDiverged(f"the weights became inf or NaN at epoch {epoch}, step {steps} of {steps} "
                               f"(lr={lr:g}): lower optimizer.lr or check the data")
    return {"loss": total / steps, "recon_loss": recon_total / steps, "sparsity_loss": sparsity_total / steps,
            "lr": lr, "epoch_time_s": time.perf_counter() - start}


def validate_model(model: AutoEncoder, images: np.ndarray, chunk: int = 10_000) -> Validation:
    """Reconstruction, explained variance and hidden-unit statistics on `images`, without a graph."""
    with no_grad():
        return _measure(model, images, chunk)


def _measure(model: AutoEncoder, images: np.ndarray, chunk: int = 10_000) -> Validation:
    """`validate_model` for a model whose parameters ask for no gradient (so no graph is made) off the
    main thread, where `no_grad` may not be used: its switch is the whole process's."""
    squared_error, hidden_sum, near_zero = 0.0, 0.0, 0
    pixel_sum = pixel_squares = 0.0  # per pixel, for sum (x - mean x)^2 = sum x^2 - n mean^2 (FVU's denominator)
    unit_max, firing = None, None
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk]
        pixel_sum = pixel_sum + x.sum(axis=0, dtype=np.float64)
        pixel_squares = pixel_squares + np.einsum("ij,ij->j", x, x, dtype=np.float64)
        hidden = model.encode(Tensor(x))
        squared_error += float(MSELoss.apply(Tensor(x), model.decode(hidden)).data) * x.size
        h = hidden.data
        hidden_sum += float(h.sum())
        silent = h < NEAR_ZERO
        near_zero += int(np.count_nonzero(silent))
        lit = h.shape[0] - silent.sum(axis=0)  # images each unit fires on
        top = h.max(axis=0)
        unit_max = top if unit_max is None else np.maximum(unit_max, top)
        firing = lit if firing is None else firing + lit
    n, units = len(images), unit_max.size
    variance = float((pixel_squares - pixel_sum**2 / n).sum())
    return Validation(val_recon_loss=squared_error / images.size,
                      explained_variance=1.0 - squared_error / variance if variance > 0 else math.nan,
                      l0=(n * units - near_zero) / n, mean_activation=hidden_sum / (n * units),
                      near_zero_fraction=near_zero / (n * units),
                      dead_units=int(np.count_nonzero(unit_max < NEAR_ZERO)), firing_rate=firing / n)
