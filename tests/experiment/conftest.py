"""Shared helpers: the project's paths, composing configs with Hydra's compose API, and the CLI
(scripts/train.py run by tests/harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from sparsegrad.experiment.schema import register_configs
from tests.harness import CONF, ROOT, TINY, Outcome, Process, store_uri, train  # noqa: F401  (ROOT: for test modules)


def compose_config(overrides: Sequence[str] = ()) -> DictConfig:
    """conf/config.yaml with `overrides`, as `scripts/train.py` would see it (no hydra node)."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.fixture
def make_config() -> Callable[..., DictConfig]:
    """make_config("optimizer=sgd", "beta=0.5") -> the composed config."""
    return lambda *overrides: compose_config(overrides)


# --- scripts/train.py in subprocesses, all started together -----------------------------------

# Config errors on the command line: (overrides, the key the one-line error must name, a piece of
# what is allowed). More cases (`+optimizer.lrr=1`, `data=idx` without a path) are checked
# in-process in test_config.py: each process here costs ~1 s of CPU.
CONFIG_ERRORS = {
    "wrong type": (["optimizer.lr=abc"], "optimizer.lr", "a number"),
    "lr zero": (["optimizer.lr=0"], "optimizer.lr", "> 0"),
    "target above 1": (["sparsity.target=1.5"], "sparsity.target", "between 0 and 1"),
    "negative beta": (["beta=-1"], "beta", ">= 0"),
    "no epochs": (["trainer.epochs=0"], "trainer.epochs", ">= 1"),
    "batch zero": (["trainer.batch_size=0"], "trainer.batch_size", ">= 1"),
    "no hidden units": (["model.hidden_dim=0"], "model.hidden_dim", ">= 1"),
    "unknown nested key": (["optimizer.lrr=1"], "optimizer.lrr", "lr, betas, eps, weight_decay"),
    "unknown root key": (["foo=1"], "foo", "model, optimizer, sparsity"),
    "added root key": (["+foo=1"], "foo", "model, optimizer, sparsity"),
    "unknown option": (["optimizer=adamw"], "optimizer=adamw", "adam, gd, sgd"),
    "removed key": (["~beta"], "beta", "cannot be removed"),
    "lr infinite": (["optimizer.lr=inf"], "optimizer.lr", "finite"),
    "eps infinite": (["optimizer.eps=inf"], "optimizer.eps", "finite"),
    "negative seed": (["seed=-1"], "seed", "[0, 2^32)"),
    "huge model": (["model.hidden_dim=100000000"], "model.hidden_dim", "at most"),
    "uri typo": (["tracking.uri=sqlit:///x.db"], "tracking.uri", "sqlite:///PATH"),
    "long experiment name": ([f"tracking.experiment={'x' * 600}"], "tracking.experiment", "1 to 256"),
    "run dir cannot be made": (["hydra.run.dir=/proc/sparsegrad-cannot"], "hydra.run.dir", "cannot be made"),
}
# The end-to-end run: 2 epochs of 8 steps on small synthetic digits.
E2E_OVERRIDES = [*TINY, "trainer.log_every_n_steps=2", "tracking.experiment=e2e"]


@dataclass
class Launched:
    """The train.py processes of this session. Each job has a folder: its cwd is `<folder>/cwd`,
    its MLflow store `<folder>/mlflow.db`, and the e2e job's Hydra run dir `<folder>/run`."""

    base: Path
    processes: dict[str, Process] = field(default_factory=dict)

    def folder(self, job: str) -> Path:
        return self.base / job.replace(" ", "_")

    def start(self, job: str) -> None:
        if job in self.processes:
            return
        folder = self.folder(job)
        if job == "e2e":
            args = [*E2E_OVERRIDES, f"tracking.uri={store_uri(folder)}", f"hydra.run.dir={folder / 'run'}"]
        else:
            args = [f"tracking.uri={store_uri(folder)}", *CONFIG_ERRORS[job][0]]  # (its own uri last: it wins)
        self.processes[job] = train(args, folder / "cwd")

    def result(self, job: str) -> Outcome:
        self.start(job)
        return self.processes[job].wait()


def jobs_of(item: pytest.Item) -> list[str]:
    """The train.py jobs a selected test waits for."""
    if "launched" not in getattr(item, "fixturenames", ()):
        return []
    case = getattr(item, "callspec", None) and item.callspec.params.get("case")
    return (["e2e"] if "e2e_run" in item.fixturenames else []) + ([case] if case in CONFIG_ERRORS else [])


@pytest.fixture(scope="session")
def launched(tmp_path_factory: pytest.TempPathFactory) -> Launched:
    """The session's train.py jobs (any still running at its end is stopped by tests/conftest.py)."""
    return Launched(tmp_path_factory.mktemp("train_cli"))


@pytest.fixture(scope="session", autouse=True)
def _start_train_processes_early(request: pytest.FixtureRequest) -> None:
    """Start the train.py jobs of the selected tests before the first test, the slowest first,
    so that they run while the in-process tests do."""
    jobs = sorted({job for item in request.session.items for job in jobs_of(item)}, key=lambda j: j != "e2e")
    if jobs:
        runs = request.getfixturevalue("launched")
        for job in jobs:
            runs.start(job)
