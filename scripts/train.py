"""Train a sparse autoencoder; everything about the run lands in MLflow.

    python scripts/train.py                                  # the defaults (conf/config.yaml)
    python scripts/train.py optimizer=sgd beta=0.5 trainer.epochs=10
    python scripts/train.py -m optimizer=gd,sgd,adam         # a sweep: one parent run, a child each
    mlflow ui --backend-store-uri sqlite:///mlflow.db        # look at the runs
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sparsegrad.experiment.cli import run_cli
from sparsegrad.experiment.job import Job, train
from sparsegrad.experiment.schema import register_configs
from sparsegrad.experiment.sweep import parent_run_of
from sparsegrad.experiment.task import run_task

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    """Returns the final validation reconstruction loss (what a sweeper minimises)."""
    hc = HydraConfig.get()
    in_sweep = hc.mode == RunMode.MULTIRUN
    job = Job(Path(hc.runtime.output_dir), list(hc.overrides.task),
              {k: str(v) for k, v in OmegaConf.to_container(hc.runtime.choices).items() if not k.startswith("hydra/")},
              parent_run_of(hc.sweep.dir) if in_sweep else None, hc.job.num if in_sweep else None)
    return run_task(lambda: train(cfg, job), job_of_sweep=in_sweep)


if __name__ == "__main__":
    run_cli(main)
