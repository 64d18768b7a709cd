"""Score a finished training run: reconstruction, top-k codes decoded dense and sparse, a linear probe.

    python scripts/evaluate.py run=<run id>                       # on the data it trained on
    python scripts/evaluate.py run=<run id> data=fashion_mnist    # a model of MNIST on Fashion-MNIST
    python scripts/evaluate.py run=<run id> tracking.uri=http://HOST:5000
"""

from __future__ import annotations

from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sparsegrad.experiment.cli import run_cli
from sparsegrad.experiment.evaluate import evaluate
from sparsegrad.experiment.schema import register_configs
from sparsegrad.experiment.task import run_task

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="evaluate")
def main(cfg: DictConfig) -> None:
    run_task(lambda: evaluate(cfg, Path(HydraConfig.get().runtime.output_dir)))


if __name__ == "__main__":
    run_cli(main)
