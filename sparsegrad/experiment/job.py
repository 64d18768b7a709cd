"""One training job, start to finish: config -> `Run` -> data -> `fit` -> plots and weights.

`train(cfg, job)`: validate the config (a single run: before anything is opened),
reach the tracking store, find what `trainer.resume` points at, then inside one
`Run`: load the data, build the objects, restore a checkpoint, `fit` with the run
as the epoch callback, and log the plots and weights.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sparsegrad.data import DataError, Dataset, check_available, load_dataset
from sparsegrad.experiment import painter
from sparsegrad.experiment.build import build
from sparsegrad.experiment.checkpoint import load_checkpoint
from sparsegrad.experiment.errors import EXIT_CONFIG, EXIT_FAILED, ConfigError, ExperimentError, exit_with
from sparsegrad.experiment.instruments import GradientMonitor, ImageLog
from sparsegrad.experiment.pictures import side_of
from sparsegrad.experiment.resume import ResumePoint, find_resume_point
from sparsegrad.experiment.run import Run
from sparsegrad.experiment.schema import defines_the_run, validate
from sparsegrad.experiment.sweep import ends_here
from sparsegrad.experiment.tracking import (
    CHOICES_TAG,
    OVERRIDES_TAG,
    STEPS_TAG,
    SWEEP_JOB_TAG,
    SWEEP_TAG,
    Tracker,
    flatten,
    provenance_tags,
)
from sparsegrad.experiment.trainer import (
    Settings,
    TrainState,
    batches_per_epoch,
    blas_threads,
    fit,
    resolve_blas_threads,
)

log = logging.getLogger(__name__)


@dataclass
class Job:
    """Where and as what a run happens (from Hydra): its folder, overrides, and sweep if any."""

    run_dir: Path
    overrides: Sequence[str] = ()
    choices: dict[str, str] = field(default_factory=dict)  # config-group choices (optimizer: sgd, ...)
    parent_run_id: str | None = None  # a sweep's job: its parent run
    number: int | None = None  # a sweep's job: its number
    entry_point: str = "scripts/train.py"

    @property
    def name(self) -> str:
        """`optimizer=sgd,beta=0.5` from the overrides that define the run (else `default`)."""
        return ",".join(o for o in self.overrides if defines_the_run(o)) or "default"

    def tags(self) -> dict[str, str]:
        tags = provenance_tags(self.entry_point)
        if self.parent_run_id is None:
            return tags
        return {**tags, SWEEP_TAG: "child", SWEEP_JOB_TAG: str(self.number),
                OVERRIDES_TAG: json.dumps(list(self.overrides)), CHOICES_TAG: json.dumps(self.choices)}


def train(cfg: DictConfig, job: Job) -> float:
    """Train as `cfg` says; returns the final validation reconstruction loss (NaN if a sweep's job failed)."""
    in_sweep = job.parent_run_id is not None
    data: Future[Dataset] | None = None
    with tempfile.TemporaryDirectory(prefix="sparsegrad-resume-") as staging:
        try:
            if not in_sweep:  # (a sweep checked its config and data once, before its first job)
                validate(cfg)  # a config error: one line, exit 2, and no run opened
            if not cfg.trainer.resume:  # (a resumed run's data is in its own config, read from the store)
                if not in_sweep:
                    check_available(cfg.data.name, cfg.data.get("path"))  # cannot be had: exit 2, no run
                data = _loading(cfg)  # read while MLflow is imported (~2 s) and the run opened
            tr = cfg.tracking
            tracker = Tracker(tr.uri, tr.experiment, tr.timeout_s, tr.retries)  # fails in seconds if unreachable
            resume = find_resume_point(cfg.trainer.resume, tracker, Path(staging)) if cfg.trainer.resume else None
            if resume is not None:
                cfg = _resumed_config(resume, cfg, job.overrides)
                if not in_sweep:
                    check_available(cfg.data.name, cfg.data.get("path"))
        except (ExperimentError, DataError) as exc:  # no run to record it in
            if in_sweep:
                log.error("job failed before its run opened: %s", exc)
                return float("nan")
            if isinstance(exc, ConfigError | DataError):  # the command line asks for what cannot be
                exit_with(str(exc) if isinstance(exc, ConfigError) else f"error: {exc}", EXIT_CONFIG)
            exit_with(f"error: {exc}", EXIT_FAILED)
        painter.start()  # (it imports matplotlib while the run trains)
        run = Run(tracker, job.run_dir, name=cfg.tracking.run_name or job.name, tags=job.tags(),
                  params=flatten(cfg), config_text=OmegaConf.to_yaml(cfg, resolve=True),
                  parent_run_id=job.parent_run_id, resume=resume, checkpoints=cfg.trainer.checkpoint,
                  epochs=cfg.trainer.epochs,
                  on_failure="continue" if in_sweep else "exit", ends_in_background=ends_here(job.parent_run_id))
        result = float("nan")
        with run:
            if in_sweep:
                validate(cfg)  # a value out of range in a sweep: this job FAILED, the others go on
            result = _train_in(run, cfg, resume, data.result() if data is not None else load_data(cfg))
    return result


def _loading(cfg: DictConfig) -> Future[Dataset]:
    """`load_data(cfg)` on a thread of its own (its gzip and NumPy work leave the GIL free); a data
    error is raised by `.result()`, inside the run, as when loaded there."""
    loaded: Future[Dataset] = Future()

    def load() -> None:
        try:
            loaded.set_result(load_data(cfg))
        except BaseException as exc:  # noqa: BLE001 (handed over whole, to be raised where it is awaited)
            loaded.set_exception(exc)

    threading.Thread(target=load, name="load-data", daemon=True).start()
    return loaded


def _train_in(run: Run, cfg: DictConfig, resume: ResumePoint | None, data: Dataset) -> float:
    init_seed, shuffle_seed = np.random.SeedSequence(cfg.seed).spawn(2)
    parts = build(cfg, np.random.default_rng(init_seed))
    rng = np.random.default_rng(shuffle_seed)
    epochs_done, history = 0, None
    if resume is not None:
        epochs_done, history = load_checkpoint(run.checkpoint, parts.model, parts.optimizer, parts.schedule, rng)
        run.log_missing_epochs(history)
        log.info("resuming after epoch %d from %s", epochs_done, resume.source)
    else:
        run.later(run.tracker.log_datasets, run.run_id, {  # (their digests are computed while training starts)
            "training": (f"{data.name}-train", data.source, data.train_images, data.train_labels),
            "validation": (f"{data.name}-validation", data.source, data.test_images, data.test_labels)})
    t = cfg.trainer
    steps = batches_per_epoch(len(data.train_images), t.batch_size)
    run.later(run.tracker.set_tags, run.run_id, {STEPS_TAG: str(steps)})
    settings = Settings(t.epochs, t.batch_size, t.log_every_n_steps, t.progress, t.clip_grad_norm)
    caption = f"run {run.name or ''} ({run.run_id[:8]}), data={data.name}"
    callbacks = [GradientMonitor(parts.model, t.watch_every_n_steps), run, _EpochLog(t.epochs)]
    if side_of(cfg.model.input_dim):  # (images that are square pictures)
        def log_image(key: str, picture: np.ndarray, epoch: int) -> None:  # (written while training goes on)
            run.later(run.tracker.log_image, run.run_id, picture, key, epoch)

        callbacks.append(ImageLog(data.test_images[:10], t.epochs, log_image, t.images_every_n_epochs, caption))
    threads = resolve_blas_threads(t.blas_threads, t.batch_size or len(data.train_images), cfg.model.input_dim,
                                   cfg.model.hidden_dim)
    with blas_threads(threads):
        state = fit(parts.model, parts.optimizer, parts.schedule, data, callbacks, objective=parts.objective,
                    settings=settings, rng=rng, epochs_done=epochs_done, history=history)
    _log_artifacts(run, cfg, parts.model, data.test_images, state.history, caption)
    return state.history["val_recon_loss"][-1]


@dataclass
class _EpochLog:
    """One line per epoch in the job's log."""

    epochs: int

    def on_epoch_end(self, state: TrainState) -> None:
        m = state.last()
        log.info("epoch %d/%d  loss %.5f  recon %.5f  val_recon %.5f  mean_act %.4f  lr %.3g  (%.1fs)",
                 state.epoch, self.epochs, m["loss"], m["recon_loss"], m["val_recon_loss"],
                 m["mean_activation"], m["lr"], m["epoch_time_s"])


_last_data: list[tuple[str, Dataset]] = []  # the last dataset this process loaded, by its config


def load_data(cfg: DictConfig) -> Dataset:
    """The dataset `cfg.data` names, read-only; the jobs of a sweep in one process share it."""
    d = cfg.data
    key = json.dumps([OmegaConf.to_container(d, resolve=True), cfg.seed], sort_keys=True, default=str)
    if _last_data and _last_data[0][0] == key:
        return _last_data[0][1]
    options = {k: d[k] for k in d if k not in ("name", "path", "limit")}
    data = load_dataset(d.name, path=d.path, limit=d.limit, seed=cfg.seed, **options)
    pixels = data.train_images.shape[1]
    if pixels != cfg.model.input_dim:
        raise ExperimentError(f"model.input_dim={cfg.model.input_dim} but the images of data={d.name} have "
                              f"{pixels} pixels: set model.input_dim={pixels}")
    log.info("data: %d training and %d validation images from %s", len(data.train_images),
             len(data.test_images), data.source)
    for array in (data.train_images, data.train_labels, data.test_images, data.test_labels):
        array.flags.writeable = False  # shared, and its digest computed once (tracking.log_datasets)
    _last_data[:] = [(key, data)]
    return data


def _resumed_config(resume: ResumePoint, given: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """The run's own config (a resumed run computes exactly what it began computing).

    What only says how to run and record it (progress bars, checkpoints, tracking)
    comes from the command line that resumes it; any other override is ignored, with a warning.
    """
    cfg = resume.config.copy()
    for key in ("trainer.progress", "trainer.checkpoint", "trainer.blas_threads", "tracking"):
        OmegaConf.update(cfg, key, OmegaConf.select(given, key), force_add=True, merge=False)
    ignored = [o for o in overrides if defines_the_run(o)]
    if ignored:
        log.warning("resuming run %s with its own config: ignoring %s", resume.run_id, " ".join(ignored))
    validate(cfg)
    return cfg


def _log_artifacts(run: Run, cfg: DictConfig, model, test_images: np.ndarray,
                   history: dict[str, list[float]], caption: str) -> None:
    """Plots and weights, once, after training: the figures drawn by the painter, both stored by the
    run's background writer (the run's end waits for them)."""
    from sparsegrad.function import no_grad
    from sparsegrad.tensor import Tensor

    with no_grad():
        hidden = model.encode(Tensor(test_images[:2000])).data
        pictures = {}
        if side_of(cfg.model.input_dim):
            sample = test_images[:10]
            pictures = dict(images=sample, recon=model(Tensor(sample)).data, decoder=model.decoder[0].weight.data)
    figures = painter.paint(painter.Figures(run.run_dir / "plots", caption, history, hidden,
                                            cfg.sparsity.get("target"), **pictures))
    run.later(_store_figures, run, figures)
    weights = run.run_dir / "weights.npz"
    np.savez(weights, **model.state_dict())
    run.later(run.tracker.log_artifact, run.run_id, weights, "model")


def _store_figures(run: Run, figures: Future[list[Path]]) -> None:
    try:
        drawn = figures.result()
    except BrokenProcessPool as exc:  # killed, or out of memory: the run's figures are lost, not its model
        raise ExperimentError(f"the painter process drawing this run's figures died ({exc}); the run's weights "
                              "are stored (model/weights.npz) and its last checkpoint is kept") from exc
    for png in sorted(drawn):
        run.tracker.log_artifact(run.run_id, png, "plots")
