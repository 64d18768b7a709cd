"""Train a sparse autoencoder; everything about the run lands in MLflow.

    python scripts/train.py                                  # the defaults (conf/config.yaml)
    python scripts/train.py optimizer=sgd beta=0.5 trainer.epochs=10
    python scripts/train.py -m optimizer=gd,sgd,adam         # a sweep: one parent run, a child each
    mlflow ui --backend-store-uri sqlite:///mlflow.db        # look at the runs
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from sparsegrad.data import DataError
from sparsegrad.experiment.cli import JobOutcome, run_cli
from sparsegrad.experiment.errors import ExperimentError
from sparsegrad.experiment.run import run_experiment
from sparsegrad.experiment.schema import register_configs
from sparsegrad.experiment.sweep import parent_run_of

log = logging.getLogger("train")
register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Returns the final validation reconstruction loss (what a sweeper minimises)."""
    hc = HydraConfig.get()
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        return run_experiment(cfg, Path(hc.runtime.output_dir), overrides=list(hc.overrides.task),
                              parent_run_id=parent_run_of(hc.sweep.dir) if multirun else None)
    except KeyboardInterrupt as exc:
        if multirun:
            raise  # Ctrl-C stops the whole sweep
        JobOutcome.error = exc
        return math.nan
    except (ExperimentError, DataError) as exc:
        if multirun:
            # One failed job must not stop the sweep: it is FAILED in MLflow already.
            log.error("job failed: %s", exc)
        else:
            JobOutcome.error = exc  # run_cli reports it in one line
        return math.nan


if __name__ == "__main__":
    run_cli(main)
