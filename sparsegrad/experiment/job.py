"""One training job, start to finish: config -> `Run` -> data, objects, callbacks -> `fit` -> weights.

`train(cfg, job)`: check the config (a single run: before anything is opened), reach the
tracking store, find what `trainer.resume` points at (or, in a SLURM job requeued, the run its
folder holds: slurm.py), then inside one `Run`: record the
config, load the data, build the objects and the callbacks, restore a checkpoint, `fit`,
and store the weights. Errors become lines and exit codes in `task.run_task`, not here.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sparsegrad.data import check_available, load_data
from sparsegrad.experiment.blas import blas_threads, resolve_blas_threads
from sparsegrad.experiment.build import build, build_callbacks
from sparsegrad.experiment.checkpoint import load_checkpoint
from sparsegrad.experiment.model_registry import publish
from sparsegrad.experiment.paths import resolve_data_path
from sparsegrad.experiment.resume import ResumePoint, find_resume_point
from sparsegrad.experiment.run import Run
from sparsegrad.experiment.schema import defines_the_run, validate
from sparsegrad.experiment.slurm import requeue_as_interruption, requeued_run
from sparsegrad.experiment.tracking import Tracker, job_tags, provenance_tags
from sparsegrad.experiment.trainer import Settings, batches_per_epoch, fit

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
        return {**tags, **job_tags(self.number, self.overrides, self.choices)}


def train(cfg: DictConfig, job: Job) -> float:
    """Train as `cfg` says; returns the final validation reconstruction loss."""
    in_sweep = job.parent_run_id is not None
    resolve_data_path(cfg)
    if not in_sweep:  # (a sweep checked its jobs' configs and data once, before its parent run opened)
        validate(cfg)
        if not cfg.trainer.resume:
            check_available(cfg.data.name, cfg.data.get("path"))
    tr = cfg.tracking
    tracker = Tracker(tr.uri, tr.experiment, tr.timeout_s, tr.retries)  # fails in seconds if unreachable
    requeued = None if cfg.trainer.resume else requeued_run(job.run_dir)  # SLURM started this job again
    target = cfg.trainer.resume or requeued
    with tempfile.TemporaryDirectory(prefix="sparsegrad-resume-") as staging:
        resume = find_resume_point(target, tracker, Path(staging), requeued=bool(requeued)) if target else None
        if resume is not None:
            cfg = _resumed_config(resume, cfg, () if requeued else job.overrides)
            check_available(cfg.data.name, cfg.data.get("path"))
        with requeue_as_interruption(), Run(tracker, job.run_dir, name=cfg.tracking.run_name or job.name,
                                            tags=job.tags(), parent_run_id=job.parent_run_id, resume=resume,
                                            epochs=cfg.trainer.epochs) as run:
            return _train_in(run, cfg, resume, check=in_sweep)


def _train_in(run: Run, cfg: DictConfig, resume: ResumePoint | None, check: bool) -> float:
    recorder = run.recorder
    if resume is None:
        recorder.log_config(cfg)
    if check:
        validate(cfg)  # a value out of range in a sweep: this job FAILED, the others go on
    data = load_data(cfg)
    log.info("data: %d training and %d validation images from %s", len(data.train_images),
             len(data.test_images), data.source)
    t = cfg.trainer
    if resume is None:
        recorder.log_data(data, batches_per_epoch(len(data.train_images), t.batch_size))
    init_seed, shuffle_seed = np.random.SeedSequence(cfg.seed).spawn(2)
    parts = build(cfg, np.random.default_rng(init_seed))
    rng = np.random.default_rng(shuffle_seed)
    epochs_done, history = 0, None
    if resume is not None:
        epochs_done, history = load_checkpoint(recorder.checkpoint, parts.model, parts.optimizer, parts.schedule,
                                               rng)
        recorder.log_missing_epochs(history)
        log.info("resuming after epoch %d from %s", epochs_done, resume.source)
    settings = Settings(t.epochs, t.batch_size, t.log_every_n_steps, t.progress, t.clip_grad_norm)
    threads = resolve_blas_threads(t.blas_threads, t.batch_size or len(data.train_images), cfg.model.input_dim,
                                   cfg.model.hidden_dim)
    with blas_threads(threads):
        state = fit(parts.model, parts.optimizer, parts.schedule, data, build_callbacks(cfg),
                    objective=parts.objective, settings=settings, rng=rng, epochs_done=epochs_done,
                    history=history, recorder=recorder)
    if state.should_stop:
        recorder.stopped(state.stop_reason, state.epoch)
    weights = recorder.log_weights(parts.model)
    publish(recorder, cfg, parts.model, weights, state.history, data.test_images[:2])  # pyfunc model, registered
    return state.history["val/recon_loss"][-1]


def _resumed_config(resume: ResumePoint, given: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """The run's own config (a resumed run computes exactly what it began computing).

    What only says how to run and record it (progress bars, checkpoints, tracking)
    comes from the command line that resumes it; any other override is ignored, with a warning.
    """
    cfg = resume.config.copy()
    for key in ("trainer.progress", "trainer.checkpoint", "trainer.blas_threads", "tracking"):
        OmegaConf.update(cfg, key, OmegaConf.select(given, key), force_add=True, merge=False)
    if "callbacks" not in cfg:  # a run begun before callbacks were configured: today's, less its old keys
        cfg.callbacks = given.callbacks
        for old in ("watch_every_n_steps", "images_every_n_epochs"):
            cfg.trainer.pop(old, None)
    ignored = [o for o in overrides if defines_the_run(o)]
    if ignored:
        log.warning("resuming run %s with its own config: ignoring %s", resume.run_id, " ".join(ignored))
    validate(cfg)
    return cfg

