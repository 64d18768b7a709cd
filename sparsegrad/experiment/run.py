"""One training run, start to finish, recorded in MLflow.

`run_experiment(cfg, run_dir)`: validate the config, reach the tracking store,
open (or reopen, to resume) the MLflow run, load data, train with a checkpoint
after every epoch, log metrics per epoch and the plots and weights at the end.
Whatever ends the run, MLflow says how: FINISHED, FAILED with `failure_reason`,
or KILLED (Ctrl-C, SIGTERM) with the last completed epoch's checkpoint kept.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sparsegrad.data import DataError, load_dataset
from sparsegrad.experiment.builders import build_loss, build_model, build_optimizer, build_schedule
from sparsegrad.experiment.checkpoint import FILENAME, load_checkpoint, save_checkpoint
from sparsegrad.experiment.errors import ExperimentError, TrainingDiverged
from sparsegrad.experiment.interrupts import held_interrupts, signals_as_interrupt
from sparsegrad.experiment.resume import RUN_ID_FILE, ResumePoint, find_resume_point
from sparsegrad.experiment.schema import validate
from sparsegrad.experiment.tracking import Tracker, flatten
from sparsegrad.experiment.trainer import batches_per_epoch, blas_threads, train_epoch, validate_model
from sparsegrad.function import no_grad
from sparsegrad.tensor import Tensor

log = logging.getLogger(__name__)

EPOCH_METRICS = ("loss", "recon_loss", "sparsity_loss", "val_recon_loss", "mean_activation",
                 "near_zero_fraction", "dead_units", "lr", "epoch_time_s")
# A resumed run trains with its own saved config; these keys (how to show and store it, not
# what it computes) come from the command line that resumes it.
RESUME_FROM_COMMAND_LINE = ("trainer.progress", "trainer.checkpoint")
_NOT_IGNORED_ON_RESUME = ("trainer.resume", "trainer.progress", "trainer.checkpoint", "tracking.", "hydra")


def run_name(overrides: Sequence[str]) -> str:
    """A run's name from its command-line overrides: `optimizer=sgd,beta=0.5` (or `default`)."""
    shown = [o for o in overrides if not o.startswith(("tracking.", "trainer.progress", "hydra"))]
    return ",".join(shown) or "default"


# --- one run ------------------------------------------------------------------------------

@dataclass
class _Progress:
    """How far a run got: what its outcome reports."""

    epochs_done: int = 0
    checkpoint: Path | None = None  # the last good one


def run_experiment(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] = (),
                   parent_run_id: str | None = None) -> float:
    """Train as `cfg` says; returns the final validation reconstruction loss.

    Raises what ended the run (ExperimentError, DataError, KeyboardInterrupt, ...)
    after recording it in MLflow: KILLED for an interruption (the exception gets a
    `run_id` attribute), FAILED with the tag `failure_reason` for anything else.
    """
    validate(cfg)
    tracker = Tracker(cfg.tracking.uri, cfg.tracking.experiment)  # fails in seconds if unreachable
    run_dir.mkdir(parents=True, exist_ok=True)
    opened: list[str] = []  # the run id, as soon as there is a run to end
    progress = _Progress()
    with signals_as_interrupt():
        try:
            with held_interrupts():  # a run, once opened, is always ended: no interruption in between
                cfg, run_id, resume = _open_run(cfg, tracker, run_dir, overrides, parent_run_id, opened, progress)
            with blas_threads(cfg.trainer.blas_threads):
                result = _train_and_log(cfg, tracker, run_id, run_dir, resume, progress)
        except BaseException as exc:
            if opened:
                with held_interrupts():
                    _record_failure(tracker, opened[0], progress, exc)
            raise
        with held_interrupts():
            tracker.end_run(run_id, "FINISHED")
    log.info("run %s FINISHED: val_recon_loss %.5f", run_id, result)
    return result


def _open_run(cfg: DictConfig, tracker: Tracker, run_dir: Path, overrides: Sequence[str],
              parent_run_id: str | None, opened: list[str],
              progress: _Progress) -> tuple[DictConfig, str, ResumePoint | None]:
    """Start a new MLflow run, or reopen the one `trainer.resume` names; returns (config, run id, resume)."""
    resume = None
    if cfg.trainer.resume:
        with tempfile.TemporaryDirectory(prefix="sparsegrad-resume-") as staging:
            resume = find_resume_point(cfg.trainer.resume, tracker, Path(staging))
            progress.checkpoint = _copy_into(resume.checkpoint, run_dir / FILENAME)
            progress.epochs_done = resume.epoch
        cfg = _resumed_config(resume, cfg, overrides)
        run_id = resume.run_id
        opened.append(run_id)
        _reopen(tracker, resume, run_dir)
    else:
        run_id = tracker.start_run(cfg.tracking.run_name or run_name(overrides),
                                   tags={"run_dir": str(run_dir)}, parent_run_id=parent_run_id)
        opened.append(run_id)
        tracker.log_params(run_id, flatten(cfg))
        tracker.log_text(run_id, OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
    (run_dir / RUN_ID_FILE).write_text(run_id)
    log.info("MLflow %s", tracker.run_url_hint(run_id))
    return cfg, run_id, resume


def _resumed_config(resume: ResumePoint, given: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """The run's own config (a resumed run computes exactly what it began computing)."""
    cfg = resume.config.copy()
    for key in RESUME_FROM_COMMAND_LINE:
        OmegaConf.update(cfg, key, OmegaConf.select(given, key), force_add=True)
    ignored = [o for o in overrides if not o.lstrip("+~").startswith(_NOT_IGNORED_ON_RESUME)]
    if ignored:
        log.warning("resuming run %s with its own config: ignoring %s", resume.run_id, " ".join(ignored))
    validate(cfg)
    return cfg


def _copy_into(checkpoint: Path, target: Path) -> Path:
    """The checkpoint to resume from, copied into this run's directory (unless already there)."""
    if not (target.exists() and target.samefile(checkpoint)):
        shutil.copyfile(checkpoint, target)
    return target


def _reopen(tracker: Tracker, resume: ResumePoint, run_dir: Path) -> None:
    """Mark the run RUNNING again, and note where it continues."""
    run_id = resume.run_id
    tracker.client.update_run(run_id, status="RUNNING")
    tracker.delete_tag(run_id, "failure_reason")
    tracker.set_tags(run_id, {"run_dir": str(run_dir), "resumed_from": resume.source,
                              "resumed_after_epoch": str(resume.epoch)})


def _record_failure(tracker: Tracker, run_id: str, progress: _Progress, exc: BaseException) -> None:
    """KILLED or FAILED with a reason, the last good checkpoint stored with the run."""
    kept = _keep_checkpoint(tracker, run_id, progress.checkpoint)
    if kept:
        kept_note = (f"the checkpoint of epoch {progress.epochs_done} is kept (artifact "
                     f"checkpoint/{FILENAME}, and {progress.checkpoint})")
    elif progress.epochs_done:
        kept_note = f"{progress.epochs_done} epochs done, but no checkpoint (trainer.checkpoint=false)"
    else:
        kept_note = "no checkpoint: no epoch had finished"
    if isinstance(exc, KeyboardInterrupt):
        status = "KILLED"
        reason = f"interrupted ({exc or 'Ctrl-C'}) during epoch {progress.epochs_done + 1}; {kept_note}"
        if kept:
            reason += f"; continue it with trainer.resume={run_id}"
        exc.run_id = run_id  # type: ignore[attr-defined]  # for the command line's message
    elif isinstance(exc, TrainingDiverged):
        status, reason = "FAILED", f"{exc}; training stopped there; {kept_note}"
        exc.args = (reason,)  # the command line shows the same
    elif isinstance(exc, ExperimentError | DataError):
        status, reason = "FAILED", str(exc)
    else:
        status, reason = "FAILED", f"{type(exc).__name__}: {exc}"
    try:
        tracker.end_run(run_id, status, reason)
    except Exception as store_exc:  # the store went away: say so, and keep the original error
        log.error("could not mark run %s %s in MLflow (%s): %s", run_id, status, store_exc, reason)
        return
    if status == "KILLED":
        log.warning("run %s KILLED: %s", run_id, reason)


def _keep_checkpoint(tracker: Tracker, run_id: str, checkpoint: Path | None) -> bool:
    """Put the last good checkpoint into MLflow too, so the run can be resumed anywhere."""
    if checkpoint is None or not checkpoint.exists():
        return False
    try:
        tracker.log_artifact(run_id, checkpoint, "checkpoint")
    except Exception as exc:  # the outcome matters more than this copy
        log.warning("could not store the checkpoint in MLflow: %s", exc)
    return True


def _train_and_log(cfg: DictConfig, tracker: Tracker, run_id: str, run_dir: Path,
                   resume: ResumePoint | None, progress: _Progress) -> float:
    init_seed, shuffle_seed = np.random.SeedSequence(cfg.seed).spawn(2)
    shuffle_rng = np.random.default_rng(shuffle_seed)
    d = cfg.data
    options = {"n_train": d.n_train, "n_test": d.n_test} if d.name == "synthetic" else {}
    data = load_dataset(d.name, path=d.path, limit=d.limit, seed=cfg.seed, **options)
    if data.train_images.shape[1] != cfg.model.input_dim:
        raise ExperimentError(
            f"model.input_dim={cfg.model.input_dim} but the images of data={d.name} have "
            f"{data.train_images.shape[1]} pixels: set model.input_dim={data.train_images.shape[1]}"
        )
    log.info("data: %d training and %d validation images from %s", len(data.train_images),
             len(data.test_images), data.source)

    model = build_model(cfg, np.random.default_rng(init_seed))
    optimizer = build_optimizer(cfg, model)
    schedule = build_schedule(cfg, optimizer)
    loss_fn = build_loss(cfg)
    history: dict[str, list[float]] = {k: [] for k in EPOCH_METRICS}
    first_epoch = 1
    if resume is not None:
        done, history = load_checkpoint(progress.checkpoint, model, optimizer, schedule, shuffle_rng)
        first_epoch = done + 1
        _log_missing_epochs(tracker, run_id, history)
        log.info("resuming after epoch %d from %s", done, resume.source)

    t, epochs = cfg.trainer, cfg.trainer.epochs
    steps = batches_per_epoch(len(data.train_images), t.batch_size)
    tracker.set_tags(run_id, {"steps_per_epoch": str(steps)})  # compare.py counts optimizer steps with it
    for epoch in range(first_epoch, epochs + 1):
        # Overflow on the way to a NaN/inf loss is reported as divergence, not as warnings.
        with np.errstate(over="ignore", invalid="ignore"):
            result = train_epoch(model, optimizer, loss_fn, data.train_images, t.batch_size, shuffle_rng,
                                 epoch, epochs, t.log_every_n_steps, t.progress)
            _check_finite(model, epoch, steps, optimizer.lr)
            val = validate_model(model, data.test_images)
        schedule.step()
        row = {"loss": result.loss, "recon_loss": result.recon_loss, "sparsity_loss": result.sparsity_loss,
               "val_recon_loss": val.val_recon_loss, "mean_activation": val.mean_activation,
               "near_zero_fraction": val.near_zero_fraction, "dead_units": val.dead_units,
               "lr": result.lr, "epoch_time_s": result.epoch_time_s}
        for key, value in row.items():
            history[key].append(float(value))
        with held_interrupts():  # the checkpoint and MLflow agree on which epochs are done
            if t.checkpoint:
                progress.checkpoint = save_checkpoint(run_dir / FILENAME, model, optimizer, schedule,
                                                      shuffle_rng, epoch, history)
            progress.epochs_done = epoch
            tracker.log_metrics(run_id, [(k, v, epoch) for k, v in row.items()]
                                + [("step_loss", v, s) for s, v in result.step_losses])
        log.info("epoch %d/%d  loss %.5f  recon %.5f  val_recon %.5f  mean_act %.4f  lr %.3g  (%.1fs)",
                 epoch, epochs, result.loss, result.recon_loss, val.val_recon_loss, val.mean_activation,
                 result.lr, result.epoch_time_s)

    _log_artifacts(cfg, tracker, run_id, run_dir, model, data.test_images, history)
    return history["val_recon_loss"][-1]


def _check_finite(model, epoch: int, steps: int, lr: float) -> None:
    """The loss of each step is checked as it is computed; the last step's update is checked here."""
    if not all(np.isfinite(p.data).all() for p in model.parameters()):
        raise TrainingDiverged(
            f"the weights became inf or NaN at epoch {epoch}, step {steps} of {steps} (lr={lr:g}): "
            "lower optimizer.lr or check the data"
        )


def _log_missing_epochs(tracker: Tracker, run_id: str, history: dict[str, list[float]]) -> None:
    """Epochs the checkpoint holds but MLflow lacks (the process died between the two)."""
    logged = {m.step for m in tracker.client.get_metric_history(run_id, "loss")}
    rows = [(key, values[i], i + 1) for key, values in history.items() for i in range(len(values))
            if i + 1 not in logged]
    if rows:
        tracker.log_metrics(run_id, rows)


def _log_artifacts(cfg: DictConfig, tracker: Tracker, run_id: str, run_dir: Path, model,
                   test_images: np.ndarray, history: dict[str, list[float]]) -> None:
    """Plots and weights, once, after training."""
    from sparsegrad.experiment import plots  # matplotlib: ~0.5 s to import, so not for a config error

    sample = test_images[:10]
    with no_grad():
        hidden = model.encode(Tensor(test_images[:2000])).data
        recon = model(Tensor(sample)).data
    side = int(round(np.sqrt(cfg.model.input_dim)))
    square = side * side == cfg.model.input_dim
    target = cfg.sparsity.target if cfg.sparsity.name == "kl" else None
    out = run_dir / "plots"
    plots.loss_curve(history["loss"], history["val_recon_loss"], out / "loss_curve.png")
    if square:
        plots.reconstructions(sample, recon, out / "reconstructions.png", side)
        # The decoder's rows: the image each hidden unit adds to the reconstruction. (The
        # encoder's columns show the same patterns through the noise of rarely lit pixels.)
        plots.features(model.decoder[0].weight.data, out / "features.png", side)
    plots.activation_histogram(hidden, target, out / "activations.png")
    for png in sorted(out.glob("*.png")):
        tracker.log_artifact(run_id, png, "plots")
    weights = run_dir / "weights.npz"
    np.savez(weights, **model.state_dict())
    tracker.log_artifact(run_id, weights, "model")
