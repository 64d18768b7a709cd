"""Sweeps end to end: multiruns of scripts/train.py in subprocesses, on tiny synthetic data.

Every subprocess spends seconds importing Hydra, MLflow and matplotlib (and a fresh
sqlite store seconds more in MLflow's schema migrations), much of it waiting rather
than computing. So the expensive things (a basic-launcher sweep, a joblib sweep, a
tracking server and a sweep against it, scripts/compare.py on the first sweep, the
notebooks) are started together as background jobs (tests/harness.py) when the first
test of this folder runs, if any selected test needs them; the quick in-process tests
run first, meanwhile, and each end-to-end test then waits for what it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.harness import (
    ROOT,
    TINY,
    Jobs,
    MlflowServer,
    Outcome,
    compare,
    notebook,
    store_uri,
    train,
)
from tests.sweeps.helpers import DIVERGING

HEAVY = ("basic_sweep", "joblib_sweep", "mlflow_server", "server_sweep", "submitit_sweep", "compare_cli",
         "autograd_notebook",
         "explore_notebook")
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Within this folder's share of the run, the tests that need no background process go first."""
    slots = [i for i, item in enumerate(items) if Path(str(item.fspath)).parent == HERE]
    mine = [items[i] for i in slots]
    mine.sort(key=lambda item: any(name in HEAVY for name in getattr(item, "fixturenames", ())))
    for slot, item in zip(slots, mine):
        items[slot] = item


@dataclass
class Sweep:
    """A finished `python scripts/train.py -m ...` and where it left things."""

    dir: Path
    uri: str
    outcome: Outcome

    @property
    def returncode(self) -> int:
        return self.outcome.returncode

    @property
    def stdout(self) -> str:
        return self.outcome.stdout

    @property
    def stderr(self) -> str:
        return self.outcome.stderr

    @property
    def sweep_dir(self) -> Path:
        return self.dir / "multirun"

    def output(self) -> str:
        return str(self.outcome)


class Background:
    """The expensive things, each started at most once per session (as a job), as soon as anything needs it."""

    def __init__(self, jobs: Jobs, base: Path) -> None:
        self.jobs = jobs
        self.base = base

    def _submit(self, name: str, fn: Callable[[], Any]) -> None:
        self.jobs.submit(f"sweeps:{name}", fn)

    def get(self, name: str) -> Any:
        self.start({name})
        return self.jobs.get(f"sweeps:{name}")

    def start(self, needed: set[str]) -> None:
        if needed & {"basic_sweep", "compare_cli", "explore_notebook"}:
            self._submit("basic_sweep", lambda: self._sweep("basic", [*TINY, *DIVERGING]))
        if "joblib_sweep" in needed:
            self._submit("joblib_sweep", lambda: self._sweep("joblib", [
                *TINY, "optimizer=sgd,adam", "beta=0,0.1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]))
        if needed & {"mlflow_server", "server_sweep", "submitit_sweep"}:
            self._submit("mlflow_server", self._server)
        if "server_sweep" in needed:
            self._submit("server_sweep", lambda: self._sweep(
                "server_sweep", [*TINY, "optimizer=sgd,adam"], uri=self.get("mlflow_server").url))
        if "submitit_sweep" in needed:  # separate processes, as on SLURM (the same launcher code)
            self._submit("submitit_sweep", lambda: self._sweep(
                "submitit_sweep", [*TINY, "seed=1,2", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10"],
                uri=self.get("mlflow_server").url))
        if "compare_cli" in needed:
            self._submit("compare_cli", self._compare_cli)
        if "autograd_notebook" in needed:
            self._submit("autograd_notebook", lambda: self._notebook("autograd_walkthrough.ipynb"))
        if "explore_notebook" in needed:
            self._submit("explore_notebook", lambda: self._notebook(
                "explore_runs.ipynb", SPARSEGRAD_TRACKING_URI=self.get("basic_sweep").uri))

    def _sweep(self, name: str, args: list[str], uri: str | None = None) -> Sweep:
        """`scripts/train.py -m ARGS` logging to `uri` (default: a new sqlite store in its folder)."""
        directory = self.base / name
        uri = uri or store_uri(directory)
        process = train(["-m", *args, f"tracking.uri={uri}", f"hydra.sweep.dir={directory / 'multirun'}"], directory)
        return Sweep(directory, uri, process.wait())

    def _server(self) -> MlflowServer:
        server = MlflowServer(self.base / "server")
        server.wait_healthy()
        return server  # stopped (by its PID) with every other process when the session ends

    def _compare_cli(self) -> Outcome:
        """`python scripts/compare.py` (the latest sweep) on the basic sweep's store, as a user runs it."""
        sweep = self.get("basic_sweep")
        out = self.base / "compare_cli"
        return compare(["--uri", sweep.uri, "--out", str(out)], out).wait()

    def _notebook(self, name: str, **env: str) -> tuple[Outcome, Path]:
        """notebooks/NAME executed (in a subprocess, so that it runs beside the rest); the executed copy."""
        executed = self.base / "notebooks" / name
        return notebook(ROOT / "notebooks" / name, executed, **env).wait(), executed


@pytest.fixture(scope="session")
def _background(jobs: Jobs, tmp_path_factory: pytest.TempPathFactory) -> Background:
    return Background(jobs, tmp_path_factory.mktemp("sweeps"))


@pytest.fixture(scope="session", autouse=True)
def _start_early(request: pytest.FixtureRequest) -> None:
    """Start everything the selected tests will need, now, so that it all runs at once."""
    needed = {name for item in request.session.items for name in getattr(item, "fixturenames", ())}
    if needed & set(HEAVY):
        request.getfixturevalue("_background").start(needed)


@pytest.fixture(scope="session")
def basic_sweep(_background: Background) -> Sweep:
    """Basic launcher, 3 jobs (sgd lr 0.02, 0.1 and 1e4, which diverges), a fresh sqlite store."""
    return _background.get("basic_sweep")


@pytest.fixture(scope="session")
def joblib_sweep(_background: Background) -> Sweep:
    """Joblib launcher, 2 jobs at a time, 4 jobs (optimizer x beta), a fresh sqlite store."""
    return _background.get("joblib_sweep")


@pytest.fixture(scope="session")
def mlflow_server(_background: Background) -> MlflowServer:
    """A real tracking server, healthy; stopped (its whole process group) when the session ends."""
    return _background.get("mlflow_server")


@pytest.fixture(scope="session")
def server_sweep(_background: Background, mlflow_server: MlflowServer) -> Sweep:
    """Two jobs (sgd, adam) logging to the server over HTTP."""
    return _background.get("server_sweep")


@pytest.fixture(scope="session")
def submitit_sweep(_background: Background, mlflow_server: MlflowServer) -> Sweep:
    """Two jobs on Hydra's submitit_local launcher (each its own process), logging to the server."""
    return _background.get("submitit_sweep")


@pytest.fixture(scope="session")
def compare_cli(_background: Background, basic_sweep: Sweep) -> Outcome:
    """`python scripts/compare.py --uri <basic sweep's store> --out DIR`, finished."""
    return _background.get("compare_cli")


@pytest.fixture(scope="session")
def autograd_notebook(_background: Background) -> tuple[Outcome, Path]:
    """notebooks/autograd_walkthrough.ipynb, executed: (the run, the executed notebook)."""
    return _background.get("autograd_notebook")


@pytest.fixture(scope="session")
def explore_notebook(_background: Background, basic_sweep: Sweep) -> tuple[Outcome, Path]:
    """notebooks/explore_runs.ipynb, executed with SPARSEGRAD_TRACKING_URI=<the basic sweep's store>."""
    return _background.get("explore_notebook")
