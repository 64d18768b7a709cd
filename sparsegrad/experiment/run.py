"""One training run, start to finish, recorded in MLflow.

`run_experiment(cfg, run_dir)`: validate the config, reach the tracking store,
open (or reopen, to resume) the MLflow run, load data, train with a checkpoint
after every epoch, log metrics per epoch and the plots and weights at the end.
Whatever ends the run, MLflow says how: FINISHED, FAILED with `failure_reason`,
or KILLED (Ctrl-C, SIGTERM) with the last completed epoch's checkpoint kept.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sparsegrad.data import DataError, load_dataset
from sparsegrad.experiment import plots
from sparsegrad.experiment.builders import build_loss, build_model, build_optimizer, build_schedule
from sparsegrad.experiment.checkpoint import FILENAME, load_checkpoint, save_checkpoint
from sparsegrad.experiment.errors import ExperimentError
from sparsegrad.experiment.resume import ResumePoint, find_resume_point
from sparsegrad.experiment.schema import validate
from sparsegrad.experiment.tracking import Tracker, flatten
from sparsegrad.experiment.trainer import train_epoch, validate_model
from sparsegrad.function import no_grad
from sparsegrad.tensor import Tensor

log = logging.getLogger(__name__)

EPOCH_METRICS = ("loss", "recon_loss", "sparsity_loss", "val_recon_loss", "mean_activation",
                 "near_zero_fraction", "dead_units", "lr", "epoch_time_s")
RUN_ID_FILE = "mlflow_run_id"


def run_name(overrides: Sequence[str]) -> str:
    """A run's name from its command-line overrides: `optimizer=sgd,beta=0.5` (or `default`)."""
    shown = [o for o in overrides if not o.startswith(("tracking.", "trainer.progress", "hydra"))]
    return ",".join(shown) or "default"


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C inside this block, so both end the run the same way."""
    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_experiment(cfg: DictConfig, run_dir: Path, overrides: Sequence[str] = (),
                   parent_run_id: str | None = None) -> float:
    """Train as `cfg` says; returns the final validation reconstruction loss."""
    validate(cfg)
    tracker = Tracker(cfg.tracking.uri, cfg.tracking.experiment)
    resume = find_resume_point(cfg.trainer.resume, tracker) if cfg.trainer.resume else None
    run_dir.mkdir(parents=True, exist_ok=True)
    if resume is not None:
        cfg = resume.config
        run_id = resume.run_id
        tracker.client.update_run(run_id, status="RUNNING")
        tracker.set_tags(run_id, {"run_dir": str(run_dir), "resumed_from": str(resume.checkpoint)})
    else:
        run_id = tracker.start_run(cfg.tracking.run_name or run_name(overrides),
                                   tags={"run_dir": str(run_dir)}, parent_run_id=parent_run_id)
        tracker.log_params(run_id, flatten(cfg))
        tracker.log_text(run_id, OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
    (run_dir / RUN_ID_FILE).write_text(run_id)
    log.info("MLflow %s", tracker.run_url_hint(run_id))

    checkpoint = run_dir / FILENAME
    try:
        with sigterm_as_interrupt():
            result = _train_and_log(cfg, tracker, run_id, run_dir, resume)
    except KeyboardInterrupt:
        _keep_checkpoint(tracker, run_id, checkpoint)
        tracker.end_run(run_id, "KILLED", "interrupted (Ctrl-C or SIGTERM); resume with "
                        f"trainer.resume={run_id}")
        log.warning("run %s KILLED; continue it with trainer.resume=%s", run_id, run_id)
        raise
    except (ExperimentError, DataError) as exc:
        _keep_checkpoint(tracker, run_id, checkpoint)
        tracker.end_run(run_id, "FAILED", str(exc))
        raise
    except BaseException as exc:
        _keep_checkpoint(tracker, run_id, checkpoint)
        tracker.end_run(run_id, "FAILED", f"{type(exc).__name__}: {exc}")
        raise
    tracker.end_run(run_id, "FINISHED")
    log.info("run %s FINISHED: val_recon_loss %.5f", run_id, result)
    return result


def _keep_checkpoint(tracker: Tracker, run_id: str, checkpoint: Path) -> None:
    """Put the last good checkpoint into MLflow too, so the run can be resumed anywhere."""
    if checkpoint.exists():
        try:
            tracker.log_artifact(run_id, checkpoint, "checkpoint")
        except Exception as exc:  # the outcome matters more than this copy
            log.warning("could not store the checkpoint in MLflow: %s", exc)


def _train_and_log(cfg: DictConfig, tracker: Tracker, run_id: str, run_dir: Path,
                   resume: ResumePoint | None) -> float:
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
        done, history = load_checkpoint(resume.checkpoint, model, optimizer, schedule, shuffle_rng)
        first_epoch = done + 1
        log.info("resuming after epoch %d from %s", done, resume.checkpoint)

    t, epochs = cfg.trainer, cfg.trainer.epochs
    for epoch in range(first_epoch, epochs + 1):
        result = train_epoch(model, optimizer, loss_fn, data.train_images, t.batch_size, shuffle_rng,
                             epoch, epochs, t.log_every_n_steps, t.progress)
        val = validate_model(model, data.test_images)
        schedule.step()
        row = {"loss": result.loss, "recon_loss": result.recon_loss, "sparsity_loss": result.sparsity_loss,
               "val_recon_loss": val.val_recon_loss, "mean_activation": val.mean_activation,
               "near_zero_fraction": val.near_zero_fraction, "dead_units": val.dead_units,
               "lr": result.lr, "epoch_time_s": result.epoch_time_s}
        for key, value in row.items():
            history[key].append(float(value))
        tracker.log_metrics(run_id, [(k, v, epoch) for k, v in row.items()]
                            + [("step_loss", v, s) for s, v in result.step_losses])
        log.info("epoch %d/%d  loss %.5f  recon %.5f  val_recon %.5f  mean_act %.4f  lr %.3g  (%.1fs)",
                 epoch, epochs, result.loss, result.recon_loss, val.val_recon_loss, val.mean_activation,
                 result.lr, result.epoch_time_s)
        if t.checkpoint:
            save_checkpoint(run_dir / FILENAME, model, optimizer, schedule, shuffle_rng, epoch, history)

    _log_artifacts(cfg, tracker, run_id, run_dir, model, data.test_images, history)
    return history["val_recon_loss"][-1]


def _log_artifacts(cfg: DictConfig, tracker: Tracker, run_id: str, run_dir: Path, model,
                   test_images: np.ndarray, history: dict[str, list[float]]) -> None:
    """Plots and weights, once, after training."""
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
        plots.features(model.encoder[0].weight.data, out / "features.png", side)
    plots.activation_histogram(hidden, target, out / "activations.png")
    for png in sorted(out.glob("*.png")):
        tracker.log_artifact(run_id, png, "plots")
    weights = run_dir / "weights.npz"
    np.savez(weights, **model.state_dict())
    tracker.log_artifact(run_id, weights, "model")
