"""Find what `trainer.resume=<run id or run directory>` points at."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sparsegrad.experiment.checkpoint import FILENAME
from sparsegrad.experiment.errors import ExperimentError
from sparsegrad.experiment.tracking import Tracker


@dataclass
class ResumePoint:
    run_id: str
    checkpoint: Path
    config: DictConfig  # the run's own config: a resumed run trains exactly as it began


def find_resume_point(target: str, tracker: Tracker) -> ResumePoint:
    """A run directory (holding checkpoint.npz and mlflow_run_id) or an MLflow run id."""
    from mlflow.exceptions import MlflowException

    directory = Path(target)
    if directory.is_dir():
        id_file = directory / "mlflow_run_id"
        if not id_file.is_file():
            raise ExperimentError(f"trainer.resume={target}: no mlflow_run_id file in that directory")
        run_id = id_file.read_text().strip()
    else:
        run_id = target
    try:
        run = tracker.client.get_run(run_id)
    except MlflowException:
        raise ExperimentError(
            f"trainer.resume={target}: neither a run directory nor a run id in {tracker.uri}"
        ) from None
    if run.info.status == "FINISHED":
        raise ExperimentError(f"trainer.resume={target}: run {run_id} already FINISHED")

    staging = Path(tempfile.mkdtemp(prefix="sparsegrad-resume-"))
    candidates = [directory / FILENAME] if directory.is_dir() else []
    if "run_dir" in run.data.tags:
        candidates.append(Path(run.data.tags["run_dir"]) / FILENAME)
    checkpoint = next((c for c in candidates if c.is_file()), None)
    if checkpoint is None:
        try:
            checkpoint = Path(tracker.client.download_artifacts(run_id, f"checkpoint/{FILENAME}", str(staging)))
        except (MlflowException, OSError):
            raise ExperimentError(
                f"trainer.resume={target}: run {run_id} has no checkpoint (it stopped before "
                "finishing its first epoch): start it again instead"
            ) from None
    config_file = Path(tracker.client.download_artifacts(run_id, "config.yaml", str(staging)))
    config = OmegaConf.load(config_file)
    return ResumePoint(run_id, checkpoint, config)
