"""The training loop: `fit` trains, validates each epoch inline, and calls the callbacks in order.

One thread of control, as in Lightning: every hook runs on the calling thread, with the
live state (`callback.py`). Nothing here knows MLflow, plots or files: the callbacks that
checkpoint and log (built from `conf/callbacks/`) write through the run's recorder.

    for each epoch:
        for each batch: loss, backward, on_before_update, optimizer step, on_after_update
        schedule step; validation (metrics.measure); the epoch's metrics into state.metrics
        on_epoch_end of every callback (those that record last), uncut by Ctrl-C
        stop if a callback asked to
    on_fit_end
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from sparsegrad.data import Dataset
from sparsegrad.experiment.build import Objective
from sparsegrad.experiment.callback import Callback, TrainState
from sparsegrad.experiment.denormals import flush_denormals
from sparsegrad.experiment.errors import TrainingDiverged
from sparsegrad.experiment.interrupts import held_interrupts
from sparsegrad.experiment.metrics import measure, total_variance
from sparsegrad.nn import AutoEncoder
from sparsegrad.nn.clip import clip_grad_norm
from sparsegrad.optim import Optimizer, Schedule
from sparsegrad.tensor import Tensor

if TYPE_CHECKING:
    from sparsegrad.experiment.recorder import Recorder

log = logging.getLogger(__name__)


@dataclass
class Settings:
    """How to train (the `trainer` config less what the runner uses)."""

    epochs: int
    batch_size: int | None  # None: full batch
    log_every_n_steps: int = 50
    progress: bool = True
    clip_grad_norm: float | None = None  # clip the gradients' global norm to this before each update
    flush_denormals: bool = True  # subnormal floats as 0 (the CPU's slow path otherwise): denormals.py


def batches_per_epoch(n_images: int, batch_size: int | None) -> int:
    return 1 if batch_size is None else math.ceil(n_images / batch_size)


def fit(model: AutoEncoder, optimizer: Optimizer, schedule: Schedule, data: Dataset,
        callbacks: Sequence[Callback] = (), *, objective: Objective, settings: Settings,
        rng: np.random.Generator, epochs_done: int = 0, history: dict[str, list[float]] | None = None,
        recorder: Recorder | None = None) -> TrainState:
    """Train epochs `epochs_done + 1` .. `settings.epochs`, or until a callback stops training.

    `rng` shuffles the images; a resumed run passes the epochs and history of its checkpoint.
    """
    state = TrainState(model, optimizer, schedule, rng, data, settings.epochs, recorder, epochs_done,
                       {k: list(v) for k, v in (history or {}).items()})
    ordered = [c for c in callbacks if not c.runs_last] + [c for c in callbacks if c.runs_last]
    variance = total_variance(data.test_images)  # (the data's: once, not every epoch)
    with flush_denormals(settings.flush_denormals):
        for callback in ordered:
            callback.on_fit_start(state)
        for epoch in range(epochs_done + 1, settings.epochs + 1):
            state.metrics, state.validation = {}, None
            # Overflow on the way to a NaN/inf loss is reported as divergence, not as warnings.
            with np.errstate(over="ignore", invalid="ignore"):
                row = train_epoch(state, objective, data.train_images, settings, epoch, ordered)
            schedule.step()
            with held_interrupts():  # the epoch's end (checkpoint and metrics) is never cut in half
                state.epoch = epoch
                state.validation = measure(model, data.test_images, variance=variance)
                for key, value in {**row, **state.validation.scalars()}.items():
                    state.log(key, value)
                for callback in ordered:
                    callback.on_epoch_end(state)
            _log_epoch(state)
            if state.should_stop:
                log.info("training stopped after epoch %d: %s", epoch, state.stop_reason)
                break
        for callback in ordered:
            callback.on_fit_end(state)
    return state


def _log_epoch(state: TrainState) -> None:
    m = state.metrics
    log.info("epoch %d/%d  loss %.5f  recon %.5f  val_recon %.5f  mean_act %.4f  lr %.3g  (%.1fs)",
             state.epoch, state.epochs, m["train/loss"], m["train/recon_loss"], m["val/recon_loss"],
             m["mean_activation"], m["lr"], m["epoch_time_s"])


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
    bar = tqdm(total=steps, desc=f"epoch {epoch}/{settings.epochs}", disable=None if settings.progress else True,
               leave=False, mininterval=0.5, dynamic_ncols=True)
    for i in range(steps):
        step = first_step + i + 1  # global, so that short epochs log too
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
        for callback in callbacks:
            callback.on_before_update(state, step)
        optimizer.step()
        for callback in callbacks:
            callback.on_after_update(state, step)
        total += value
        recon_total += float(recon.data)
        sparsity_total += float(sparsity.data)
        if step % settings.log_every_n_steps == 0:
            state.step_losses.append((step, value))
            bar.set_postfix(loss=f"{value:.4f}", lr=f"{lr:.2g}", refresh=False)
            bar.update(i + 1 - bar.n)
    bar.close()
    if not all(np.isfinite(p.data).all() for p in model.parameters()):  # the last step's update
        raise TrainingDiverged(f"the weights became inf or NaN at epoch {epoch}, step {steps} of {steps} "
                               f"(lr={lr:g}): lower optimizer.lr or check the data")
    return {"train/loss": total / steps, "train/recon_loss": recon_total / steps,
            "train/sparsity_loss": sparsity_total / steps, "lr": lr, "epoch_time_s": time.perf_counter() - start}
