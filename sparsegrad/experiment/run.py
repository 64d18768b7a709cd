"""`Run`: opens (or resumes) one MLflow run, and records how it ended. Nothing else.

    with Run(tracker, run_dir, name="optimizer=sgd", tags=...) as run:
        run.recorder.log_config(cfg)    # every write goes through the run's recorder
        ...train...

On entering, the run is opened (or a KILLED/FAILED one reopened, to resume) with
interruptions held back, so a run once opened is always ended. On exit, once the
recorder is flushed: FINISHED; KILLED by Ctrl-C, SIGTERM or SIGHUP; FAILED with the tag
`failure_reason` by anything else. A run that did not finish stores its last checkpoint
with it, and the exit raises what the user is told: `RunInterrupted` (a KeyboardInterrupt)
or `RunFailed` (one line); a bug's own exception goes on, with its traceback.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from sparsegrad.data import DataError
from sparsegrad.experiment.checkpoint import FILENAME
from sparsegrad.experiment.errors import (
    ExperimentError,
    RunFailed,
    RunInterrupted,
    TrackingUnreachable,
    TrainingDiverged,
)
from sparsegrad.experiment.interrupts import held_interrupts
from sparsegrad.experiment.recorder import Recorder
from sparsegrad.experiment.resume import RUN_ID_FILE, ResumePoint
from sparsegrad.experiment.tracking import OWNER_TAG, RESUMED_AFTER_TAG, RESUMED_FROM_TAG, RUN_DIR_TAG, Tracker

log = logging.getLogger(__name__)


class Run:
    """A context manager that owns one MLflow run: open or resume it, then record its outcome.

    `trains` is false for a run that holds no training (a sweep's parent, an evaluation):
    it writes no `mlflow_run_id` file and has no checkpoint to speak of. `epochs` is how many
    epochs the run trains (to say whether an interruption came after the last).
    """

    def __init__(self, tracker: Tracker, run_dir: Path, *, name: str | None = None,
                 tags: Mapping[str, str] | None = None, parent_run_id: str | None = None,
                 resume: ResumePoint | None = None, trains: bool = True, epochs: int | None = None) -> None:
        self.tracker, self.run_dir, self.name, self.tags = tracker, run_dir.resolve(), name, dict(tags or {})
        self.parent_run_id, self.resume, self.trains, self.epochs = parent_run_id, resume, trains, epochs
        self.run_id = ""
        self.recorder: Recorder | None = None  # made when the run opens
        self.status: str | None = None  # FINISHED, FAILED or KILLED, once ended
        self.reason = ""

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
                self.tracker.reopen(self.run_id, {**tags, RESUMED_FROM_TAG: self.resume.source,
                                                  RESUMED_AFTER_TAG: str(self.resume.epoch)})
            else:
                self.run_id = self.tracker.start_run(self.name, tags, self.parent_run_id)
            self.recorder = Recorder(self.tracker, self.run_id, self.run_dir, self.name or "")
            if self.resume is not None:
                self.recorder.checkpoint = self._copy_in(self.resume.checkpoint)
                self.recorder.checkpoint_epoch = self.recorder.epochs_logged = self.resume.epoch
            if self.trains:  # what `trainer.resume=<run dir>` reads
                (self.run_dir / RUN_ID_FILE).write_text(self.run_id)
        log.info("MLflow %s", self.tracker.run_url_hint(self.run_id))

    def _copy_in(self, checkpoint: Path) -> Path:
        """The checkpoint to resume from, copied into this run's directory (unless already there)."""
        target = self.run_dir / FILENAME
        if not (target.exists() and target.samefile(checkpoint)):
            shutil.copyfile(checkpoint, target)
        return target

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        with held_interrupts():
            if exc is None:
                try:
                    self.recorder.flush()
                    if self.resume is not None and self.recorder.checkpoint is not None:
                        self.recorder.store_checkpoint()  # the final one, over the interrupted one's
                except Exception as late:  # the last writes failed: that is the outcome
                    exc = late
            self.status, self.reason = self._outcome(exc)
            try:
                self.tracker.end_run(self.run_id, self.status, self.reason or None)
            except Exception as store_exc:  # the store went away: say so, and keep the original error
                log.error("could not mark run %s %s in MLflow (%s)", self.run_id, self.status, store_exc)
        if exc is None:
            log.info("run %s%s FINISHED", self.run_id, f" ({self.name})" if self.name else "")
            return False
        if isinstance(exc, KeyboardInterrupt):
            log.warning("run %s KILLED: %s", self.run_id, self.reason)
            raise RunInterrupted(self.interrupted_message()) from exc
        if isinstance(exc, ExperimentError | DataError):
            raise RunFailed(self.reason) from exc
        if exc_type is None:  # an error of the last writes that is no user's error: its traceback
            raise exc
        return False  # a bug: its traceback is what helps

    def _outcome(self, exc: BaseException | None) -> tuple[str, str]:
        """(status, failure reason) for how the block ended."""
        if exc is None:
            return "FINISHED", ""
        if isinstance(exc, KeyboardInterrupt) and not self.trains:
            return "KILLED", str(exc)
        if isinstance(exc, KeyboardInterrupt):
            done = self.recorder.epochs_logged if self.recorder else 0
            when = (f"after its last epoch ({self.epochs}), while storing its plots and weights"
                    if self.epochs is not None and done >= self.epochs else f"during epoch {done + 1}")
            reason = f"interrupted ({exc or 'Ctrl-C'}) {when}; {self._kept()}"
            if self._checkpoint() is not None:
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

    def _checkpoint(self) -> Path | None:
        r = self.recorder
        return r.checkpoint if r is not None and r.checkpoint is not None and r.checkpoint.exists() else None

    def _kept(self) -> str:
        """Store the last good checkpoint with the run too (so it resumes anywhere), and say where it is."""
        if self._checkpoint() is None:
            done = self.recorder.epochs_logged if self.recorder else 0
            if done:
                return f"{done} epochs done, but no checkpoint (trainer.checkpoint=false)"
            return "no checkpoint: no epoch had finished"
        return f"the checkpoint of epoch {self.recorder.checkpoint_epoch} is kept ({self.recorder.store_checkpoint()})"

    def interrupted_message(self) -> str:
        if self._checkpoint() is None:
            return f"interrupted: run {self.run_id} is KILLED in MLflow; no checkpoint to continue from"
        return (f"interrupted: run {self.run_id} is KILLED in MLflow, with the checkpoint of its last finished "
                f"epoch; continue it with trainer.resume={self.run_id}")
