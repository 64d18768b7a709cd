"""Find what `trainer.resume=<run id or run directory>` points at.

A run directory is one a run wrote (it holds `mlflow_run_id` and `checkpoint.npz`);
a run id is looked up in the tracking store. The checkpoint used is the most
advanced one among: the given directory, the run's latest directory (tag
`run_dir`), and, when neither is on this machine, the run's MLflow artifact
`checkpoint/checkpoint.npz`.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sparsegrad.experiment.checkpoint import FILENAME, checkpoint_epoch, checkpoint_run
from sparsegrad.experiment.errors import ExperimentError
from sparsegrad.experiment.tracking import OWNER_TAG, RUN_DIR_TAG, Tracker

RUN_ID_FILE = "mlflow_run_id"
log = logging.getLogger(__name__)


@dataclass
class ResumePoint:
    run_id: str
    checkpoint: Path
    config: DictConfig  # the run's own config: a resumed run trains exactly as it began
    epoch: int  # epochs the checkpoint has finished
    source: str  # where the checkpoint came from, for the run's tag `resumed_from`


def find_resume_point(target: str, tracker: Tracker, staging: Path, requeued: bool = False) -> ResumePoint:
    """A run directory (holding checkpoint.npz and mlflow_run_id) or an MLflow run id.

    Downloads (config.yaml, a checkpoint not on this machine) land in `staging`, a
    directory the caller owns: it copies the checkpoint where it keeps checkpoints.
    `requeued`: the run's own SLURM job, started again, whose earlier process is gone
    even if it had no time to end the run (it may have run on another node).
    """
    from mlflow.exceptions import MlflowException

    directory = Path(str(target)).expanduser()
    if directory.is_dir():
        id_file = directory / RUN_ID_FILE
        if not id_file.is_file():
            raise ExperimentError(f"trainer.resume={target}: no {RUN_ID_FILE} file in that directory, so "
                                  "not a run directory; give a run directory or an MLflow run id")
        run_id = id_file.read_text().strip()
    else:
        run_id = str(target)
    try:
        run = tracker.get_run(run_id)
    except MlflowException:
        raise ExperimentError(
            f"trainer.resume={target}: neither a run directory nor a run id in {tracker.uri}"
        ) from None
    if run.info.status == "FINISHED":
        raise ExperimentError(f"trainer.resume={target}: run {run_id} already FINISHED; nothing to resume")
    if run.info.status == "RUNNING" and not requeued:
        _refuse_if_held(target, run_id, run.data.tags.get(OWNER_TAG, ""))

    candidates = [directory / FILENAME] if directory.is_dir() else []
    if RUN_DIR_TAG in run.data.tags:
        candidates.append(Path(run.data.tags[RUN_DIR_TAG]) / FILENAME)
    found = [(checkpoint_epoch(c), c) for c in dict.fromkeys(candidates) if c.is_file() and _belongs(c, run_id)]
    if found:
        epoch, checkpoint = max(found, key=lambda pair: pair[0])
        source = str(checkpoint)
    else:
        try:
            checkpoint = tracker.download(run_id, f"checkpoint/{FILENAME}", staging)
        except (MlflowException, OSError):
            raise ExperimentError(
                f"trainer.resume={target}: run {run_id} has no checkpoint (it stopped before "
                "finishing its first epoch): start it again instead"
            ) from None
        epoch = checkpoint_epoch(checkpoint)
        source = f"artifact checkpoint/{FILENAME}"
        if not _belongs(checkpoint, run_id):
            raise ExperimentError(f"trainer.resume={target}: run {run_id}'s checkpoint artifact belongs to "
                                  f"run {checkpoint_run(checkpoint)}: start the run again instead")
    try:
        config_file = tracker.download(run_id, "config.yaml", staging)
    except (MlflowException, OSError):
        raise ExperimentError(f"trainer.resume={target}: run {run_id} has no config.yaml artifact, so it "
                              "was not started by this program") from None
    config = OmegaConf.load(config_file)
    return ResumePoint(run_id, checkpoint, config, epoch, source)


def _belongs(checkpoint: Path, run_id: str) -> bool:
    """Is this checkpoint the run's own? (Another run may have written into the same folder.)"""
    owner = checkpoint_run(checkpoint)
    if owner != run_id:
        log.warning("not resuming from %s: it is the checkpoint of run %s, not of run %s", checkpoint,
                    owner or "(unknown)", run_id)
    return owner == run_id


def _refuse_if_held(target: str, run_id: str, owner: str) -> None:
    """A RUNNING run may be resumed only when the process that trained it is gone."""
    host, _, pid = owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit() and not _alive(int(pid)):
        return  # it died without ending the run (SIGKILL, a power cut): take it over
    where = f"process {pid} on {host}" if pid else "another process"
    raise ExperimentError(f"trainer.resume={target}: run {run_id} is still RUNNING in {where}: two processes "
                          "must not train one run; stop that one first (Ctrl-C, or kill -TERM its PID), "
                          "which leaves the run KILLED and resumable")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
