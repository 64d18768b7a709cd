"""`Run`: one MLflow run's life, from open (or resume) to the one place that records how it ended.

    with Run(tracker, run_dir, name="optimizer=sgd", params=..., config_text=...) as run:
        ...train, handing run.on_epoch_end each finished epoch...

On entering, the run is opened (or a KILLED/FAILED one reopened, to resume) with
interruptions held back, so a run once opened is always ended. Each finished epoch
writes the checkpoint, then the epoch's metrics: from a copy of the state, on the run's
one background thread, while the next epoch trains (at most one epoch in flight: the
next epoch's end, and the exit, first wait for it and raise its error). On exit, once
that last write is done, the run is FINISHED;
KILLED by Ctrl-C or SIGTERM; FAILED with the tag `failure_reason` by anything
else; the last good checkpoint is stored with it. Then `on_failure` says what the
process does: "exit" (a single run: one line on stderr and the exit code; a bug
keeps its traceback), "continue" (a sweep's job: the sweep goes on; Ctrl-C still
stops it), or "record" (the caller reads `status` and decides). A sweep's job whose
training finished may end in the background (`ends_in_background`): its last writes
and its FINISHED go on while the next job trains, and the sweep's end, like the
process's exit, waits for them (`wait_for_ending_runs`).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import Literal

import numpy as np

from sparsegrad.data import DataError
from sparsegrad.experiment.checkpoint import FILENAME, save_checkpoint
from sparsegrad.experiment.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    ExperimentError,
    TrackingUnreachable,
    TrainingDiverged,
    exit_with,
)
from sparsegrad.experiment.interrupts import held_interrupts
from sparsegrad.experiment.resume import RUN_ID_FILE, ResumePoint
from sparsegrad.experiment.tracking import OWNER_TAG, RESUMED_AFTER_TAG, RESUMED_FROM_TAG, RUN_DIR_TAG, Tracker
from sparsegrad.experiment.trainer import TrainState

log = logging.getLogger(__name__)

OnFailure = Literal["exit", "continue", "record"]

_ending: list[threading.Thread] = []  # runs ending in the background (not daemons: exit waits for them)


def wait_for_ending_runs() -> None:
    """Wait until every run this process ends in the background has stored its last artifacts and
    recorded its outcome (a sweep's end does, before it compares its jobs)."""
    while _ending:
        _ending.pop(0).join()


class _Frozen:
    """What `state_dict()` gave at the moment it was taken (the object itself moves on)."""

    def __init__(self, saved: Mapping[str, object]) -> None:
        self.saved = dict(saved)

    def state_dict(self) -> dict[str, object]:
        return self.saved


def snapshot(state: TrainState) -> TrainState:
    """A copy of a finished epoch's state that the next epoch's training cannot change."""
    rng = np.random.default_rng()
    rng.bit_generator.state = state.rng.bit_generator.state
    return TrainState(_Frozen(state.model.state_dict()), _Frozen(state.optimizer.state_dict()),  # type: ignore[arg-type]
                      _Frozen(state.schedule.state_dict()), rng, state.epoch,  # type: ignore[arg-type]
                      {k: list(v) for k, v in state.history.items()}, list(state.step_losses))


class Run:
    """A context manager that owns one MLflow run: open or resume, each epoch, the outcome."""

    def __init__(self, tracker: Tracker, run_dir: Path, *, name: str | None = None,
                 tags: Mapping[str, str] | None = None, params: Mapping[str, str] | None = None,
                 config_text: str | None = None, parent_run_id: str | None = None,
                 resume: ResumePoint | None = None, trains: bool = True, checkpoints: bool = True,
                 epochs: int | None = None, on_failure: OnFailure = "exit",
                 ends_in_background: bool = False) -> None:
        self.tracker, self.run_dir, self.name = tracker, run_dir, name
        self.tags, self.params, self.config_text = dict(tags or {}), dict(params or {}), config_text
        self.parent_run_id, self.resume = parent_run_id, resume
        self.trains, self.checkpoints = trains, trains and checkpoints  # a sweep's parent does neither
        self.on_failure, self.epochs = on_failure, epochs  # epochs: how many the run trains
        if ends_in_background and on_failure != "continue":
            raise ValueError("only a run whose failure lets the caller go on (a sweep's job) can end in the background")
        self.ends_in_background = ends_in_background  # a sweep's job: see `wait_for_ending_runs`
        self.run_id = ""
        self.epochs_done = resume.epoch if resume else 0
        self.checkpoint: Path | None = None  # the last good one
        self.status: str | None = None  # FINISHED, FAILED or KILLED, once ended
        self.reason = ""
        self._writer: ThreadPoolExecutor | None = None  # the one background thread, made on first use
        self._in_flight: list[Future[None]] = []  # the last epoch's writes, in order

    def __getstate__(self) -> dict[str, object]:
        """What a copy in another process gets (a parallel launcher pickles the sweep's callback, and
        its parent run with it): everything but the background writer, which stays here."""
        return {**self.__dict__, "_writer": None, "_in_flight": []}

    # --- open ------------------------------------------------------------------------------------

    def __enter__(self) -> Run:
        if not self.run_id:  # (a sweep's parent is opened at the sweep's start, ended at its end)
            self.open()
        return self

    def open(self) -> None:
        """Start the MLflow run, or reopen the one to resume."""
        with held_interrupts():  # a run, once opened, is always ended: no interruption in between
            self.run_dir.mkdir(parents=True, exist_ok=True)
            tags = {RUN_DIR_TAG: str(self.run_dir), OWNER_TAG: f"{socket.gethostname()}:{os.getpid()}", **self.tags}
            if self.resume is not None:
                self.run_id = self.resume.run_id
                self.checkpoint = self._copy_in(self.resume.checkpoint)
                self.tracker.reopen(self.run_id, {**tags, RESUMED_FROM_TAG: self.resume.source,
                                                  RESUMED_AFTER_TAG: str(self.resume.epoch)})
            else:
                self.run_id = self.tracker.start_run(self.name, tags, self.parent_run_id)
                self.later(self.tracker.log_params, self.run_id, self.params)  # (written while training starts)
                if self.config_text is not None:
                    self.later(self.tracker.log_text, self.run_id, self.config_text, "config.yaml")
            if self.trains:  # what `trainer.resume=<run dir>` reads
                (self.run_dir / RUN_ID_FILE).write_text(self.run_id)
        log.info("MLflow %s", self.tracker.run_url_hint(self.run_id))

    def _copy_in(self, checkpoint: Path) -> Path:
        """The checkpoint to resume from, copied into this run's directory (unless already there)."""
        target = self.run_dir / FILENAME
        if not (target.exists() and target.samefile(checkpoint)):
            shutil.copyfile(checkpoint, target)
        return target

    # --- each epoch ------------------------------------------------------------------------------

    def on_epoch_end(self, state: TrainState) -> None:
        """Checkpoint, then the epoch's metrics (the two agree on which epochs are done), written in
        the background from a copy of the state, once the previous epoch's writes are done."""
        with held_interrupts():
            self.flush()
            frozen = snapshot(state)
            self.later(self._write_epoch, frozen)

    def _write_epoch(self, state: TrainState) -> None:
        if self.checkpoints:
            self.checkpoint = save_checkpoint(self.run_dir / FILENAME, state, self.run_id)
        self.epochs_done = state.epoch
        self.tracker.log_metrics(self.run_id, [(k, v, state.epoch) for k, v in state.last().items()]
                                 + [("step_loss", v, s) for s, v in state.step_losses])

    def later(self, work: Callable[..., None], *args: object) -> None:
        """Do `work(*args)` on the run's background thread, after what this epoch already handed it."""
        if self._writer is None:
            self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"run-{self.run_id[:8]}")
        self._in_flight.append(self._writer.submit(work, *args))

    def flush(self) -> None:
        """Wait for the background writes; the first that failed raises its error here."""
        pending, self._in_flight = self._in_flight, []
        errors = [f.exception() for f in pending]  # (every one waited for, whatever the first did)
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first

    def log_missing_epochs(self, history: Mapping[str, list[float]]) -> None:
        """Epochs a resumed checkpoint holds but MLflow lacks (the process died between the two)."""
        logged = {step for step, _ in self.tracker.metric_history(self.run_id, "loss")}
        rows = [(key, values[i], i + 1) for key, values in history.items() for i in range(len(values))
                if i + 1 not in logged]
        if rows:
            self.tracker.log_metrics(self.run_id, rows)

    # --- the outcome -----------------------------------------------------------------------------

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc is None and self.ends_in_background:
            # Training is done: what is left (storing the plots and weights, recording the
            # outcome) goes on while the caller moves on, e.g. to a sweep's next job.
            ending = threading.Thread(target=self._end_in_background, name=f"end-run-{self.run_id[:8]}")
            _ending.append(ending)
            ending.start()
            return False
        with held_interrupts():
            outcome = self._end(exc)
        if outcome is None:
            return False
        handled = self._handle(outcome)
        if outcome is not exc and not handled:  # a background write failed: its error is raised
            raise outcome
        return handled

    def _end(self, exc: BaseException | None) -> BaseException | None:
        """Wait for the background writes (the no-loss guarantee: every epoch's metrics and its
        checkpoint written first), then record the outcome; returns the error that decided it."""
        try:
            self.flush()
        except Exception as late:
            if exc is None:
                exc = late
            else:  # the first error is the outcome; this one is logged
                log.error("the background write of epoch %d failed too: %s", self.epochs_done + 1, late)
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        self.status, self.reason = self._outcome(exc)
        try:
            self.tracker.end_run(self.run_id, self.status, self.reason or None)
        except Exception as store_exc:  # the store went away: say so, and keep the original error
            log.error("could not mark run %s %s in MLflow (%s): %s", self.run_id, self.status, store_exc,
                      self.reason)
        if exc is None:  # (named: a run ending in the background logs this into the next job's log)
            log.info("run %s%s FINISHED", self.run_id, f" ({self.name})" if self.name else "")
        return exc

    def _end_in_background(self) -> None:
        outcome = self._end(None)
        if outcome is not None:
            self._handle(outcome)  # (on_failure="continue": logged, and the sweep goes on)

    def _handle(self, exc: BaseException) -> bool:
        """What the process does after a failed run: True to go on (the exception is swallowed)."""
        if self.status == "KILLED":
            log.warning("run %s KILLED: %s", self.run_id, self.reason)
        if self.on_failure == "record":
            return True
        if self.on_failure == "continue":  # a sweep's job: the others go on, unless this was Ctrl-C
            if isinstance(exc, KeyboardInterrupt):
                return False
            log.error("job failed: %s", self.reason, exc_info=not isinstance(exc, ExperimentError | DataError))
            return True
        if isinstance(exc, KeyboardInterrupt):
            exit_with(self.interrupted_message(), EXIT_INTERRUPTED)
        if isinstance(exc, ExperimentError | DataError):
            exit_with(f"error: {self.reason}", EXIT_FAILED)
        return False  # a bug: its traceback is what helps

    def _outcome(self, exc: BaseException | None) -> tuple[str, str]:
        """(status, failure reason) for how the block ended."""
        if exc is None:
            return "FINISHED", ""
        if isinstance(exc, KeyboardInterrupt) and not self.trains:
            return "KILLED", str(exc)
        if isinstance(exc, KeyboardInterrupt):
            when = (f"after its last epoch ({self.epochs}), while storing its plots and weights"
                    if self.epochs is not None and self.epochs_done >= self.epochs
                    else f"during epoch {self.epochs_done + 1}")
            reason = f"interrupted ({exc or 'Ctrl-C'}) {when}; {self._kept()}"
            if self.checkpoint is not None:
                reason += f"; continue it with trainer.resume={self.run_id}"
            return "KILLED", reason
        if isinstance(exc, TrackingUnreachable):
            return "FAILED", (f"{exc}; {self._kept()}; once the store answers again, continue with "
                              f"trainer.resume={self.run_id}")
        if isinstance(exc, TrainingDiverged):
            return "FAILED", f"{exc}; training stopped there; {self._kept()}"
        if isinstance(exc, ExperimentError | DataError):
            return "FAILED", str(exc)
        return "FAILED", f"{type(exc).__name__}: {exc}"

    def _kept(self) -> str:
        """Store the last good checkpoint with the run too (so it resumes anywhere), and say where it is."""
        if self.checkpoint is None or not self.checkpoint.exists():
            if self.epochs_done and not self.checkpoints:
                return f"{self.epochs_done} epochs done, but no checkpoint (trainer.checkpoint=false)"
            return "no checkpoint: no epoch had finished"
        where = str(self.checkpoint)
        try:
            self.tracker.log_artifact(self.run_id, self.checkpoint, "checkpoint")
            where = f"artifact checkpoint/{FILENAME}, and {where}"
        except Exception as exc:  # the outcome matters more than this copy
            log.warning("could not store the checkpoint in MLflow: %s", exc)
        return f"the checkpoint of epoch {self.epochs_done} is kept ({where})"

    def interrupted_message(self) -> str:
        if self.checkpoint is None:
            return f"interrupted: run {self.run_id} is KILLED in MLflow; no checkpoint to continue from"
        return (f"interrupted: run {self.run_id} is KILLED in MLflow, with the checkpoint of its last finished "
                f"epoch; continue it with trainer.resume={self.run_id}")
