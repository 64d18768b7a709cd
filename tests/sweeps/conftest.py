"""Sweeps end to end: multiruns of scripts/train.py in subprocesses, on tiny synthetic data.

Every subprocess spends seconds importing Hydra, MLflow and matplotlib (and a fresh
sqlite store seconds more in MLflow's schema migrations), much of it waiting rather
than computing. So the expensive things (a basic-launcher sweep, a joblib sweep, a
tracking server and a sweep against it, scripts/compare.py on the first sweep) are
started together in the background when the first test of this folder runs, if any
selected test needs them; the quick in-process tests run first, meanwhile, and each
end-to-end test then waits for what it needs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.sweeps.helpers import (
    DIVERGING,
    ROOT,
    TIMEOUT,
    TINY,
    Server,
    Sweep,
    start_server,
    start_sweep,
    subprocess_env,
)

HEAVY = ("basic_sweep", "joblib_sweep", "mlflow_server", "server_sweep", "compare_cli", "autograd_notebook",
         "explore_notebook")
# Runs a notebook top to bottom (a kernel of its own) and saves it with its outputs.
RUN_NOTEBOOK = """import sys, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(notebook, sys.argv[2])
"""
HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Within this folder's share of the run, the tests that need no background process go first."""
    slots = [i for i, item in enumerate(items) if Path(str(item.fspath)).parent == HERE]
    mine = [items[i] for i in slots]
    mine.sort(key=lambda item: any(name in HEAVY for name in getattr(item, "fixturenames", ())))
    for slot, item in zip(slots, mine):
        items[slot] = item


class Background:
    """The expensive things, each started at most once per session, as soon as anything needs it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.pool = ThreadPoolExecutor(max_workers=len(HEAVY), thread_name_prefix="sweep-test")
        self.futures: dict[str, Future] = {}
        self.sweeps: list[Sweep] = []
        self.server: Server | None = None
        self.processes: list[subprocess.Popen] = []

    def _submit(self, name: str, fn: Callable[[], Any]) -> None:
        if name not in self.futures:
            self.futures[name] = self.pool.submit(fn)

    def get(self, name: str) -> Any:
        self.start({name})
        return self.futures[name].result(timeout=2 * TIMEOUT)

    def start(self, needed: set[str]) -> None:
        if needed & {"basic_sweep", "compare_cli"}:
            self._submit("basic_sweep", lambda: self._sweep("basic", [*TINY, *DIVERGING]))
        if "joblib_sweep" in needed:
            self._submit("joblib_sweep", lambda: self._sweep("joblib", [
                *TINY, "optimizer=sgd,adam", "beta=0,0.1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]))
        if needed & {"mlflow_server", "server_sweep"}:
            self._submit("mlflow_server", self._server)
        if "server_sweep" in needed:
            self._submit("server_sweep", lambda: self._sweep(
                "server_sweep", [*TINY, "optimizer=sgd,adam"], uri=self.futures["mlflow_server"].result().url))
        if "compare_cli" in needed:
            self._submit("compare_cli", self._compare_cli)
        if "autograd_notebook" in needed:
            self._submit("autograd_notebook", lambda: self._notebook("autograd_walkthrough.ipynb"))
        if "explore_notebook" in needed:
            self._submit("basic_sweep", lambda: self._sweep("basic", [*TINY, *DIVERGING]))
            self._submit("explore_notebook", lambda: self._notebook(
                "explore_runs.ipynb", SPARSEGRAD_TRACKING_URI=self.futures["basic_sweep"].result().uri))

    def _sweep(self, name: str, args: list[str], uri: str | None = None) -> Sweep:
        sweep = start_sweep(self.base / name, args, uri=uri)
        self.sweeps.append(sweep)
        return sweep.wait()

    def _server(self) -> Server:
        self.server = start_server(self.base / "server")
        self.server.wait_healthy()
        return self.server

    def _run(self, command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
        process = subprocess.Popen(command, cwd=cwd, env=subprocess_env(**env), stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        self.processes.append(process)
        stdout, stderr = process.communicate(timeout=TIMEOUT)
        return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)

    def _compare_cli(self) -> subprocess.CompletedProcess:
        """`python scripts/compare.py` (the latest sweep) on the basic sweep's store, as a user runs it."""
        sweep = self.futures["basic_sweep"].result()
        out = self.base / "compare_cli"
        out.mkdir()
        return self._run([sys.executable, str(ROOT / "scripts" / "compare.py"), "--uri", sweep.uri, "--out", str(out)],
                         cwd=out)

    def _notebook(self, name: str, **env: str) -> tuple[subprocess.CompletedProcess, Path]:
        """notebooks/NAME executed (in a subprocess, so that it runs beside the rest); the executed copy."""
        executed = self.base / "notebooks" / name
        executed.parent.mkdir(exist_ok=True)
        notebooks = ROOT / "notebooks"
        done = self._run([sys.executable, "-c", RUN_NOTEBOOK, str(notebooks / name), str(executed), str(notebooks)],
                         cwd=notebooks, **env)
        return done, executed

    def stop(self) -> None:
        for process in [s.process for s in self.sweeps] + self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        if self.server is not None:
            self.server.stop()
        self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="session", autouse=True)
def _background(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Background]:
    background = Background(tmp_path_factory.mktemp("sweeps"))
    try:
        # Start everything the selected tests will need, now, so that it all runs at once.
        background.start({name for item in request.session.items for name in getattr(item, "fixturenames", ())})
        yield background
    finally:
        background.stop()  # the server (its whole process group) and anything still running


@pytest.fixture(scope="session")
def basic_sweep(_background: Background) -> Sweep:
    """Basic launcher, 3 jobs (sgd lr 0.02, 0.1 and 1e4, which diverges), a fresh sqlite store."""
    return _background.get("basic_sweep")


@pytest.fixture(scope="session")
def joblib_sweep(_background: Background) -> Sweep:
    """Joblib launcher, 2 jobs at a time, 4 jobs (optimizer x beta), a fresh sqlite store."""
    return _background.get("joblib_sweep")


@pytest.fixture(scope="session")
def mlflow_server(_background: Background) -> Server:
    """A real tracking server, healthy; stopped (its whole process group) when the session ends."""
    return _background.get("mlflow_server")


@pytest.fixture(scope="session")
def server_sweep(_background: Background, mlflow_server: Server) -> Sweep:
    """Two jobs (sgd, adam) logging to the server over HTTP."""
    return _background.get("server_sweep")


@pytest.fixture(scope="session")
def compare_cli(_background: Background, basic_sweep: Sweep) -> subprocess.CompletedProcess:
    """`python scripts/compare.py --uri <basic sweep's store> --out DIR`, finished."""
    return _background.get("compare_cli")


@pytest.fixture(scope="session")
def autograd_notebook(_background: Background) -> tuple[subprocess.CompletedProcess, Path]:
    """notebooks/autograd_walkthrough.ipynb, executed: (the run, the executed notebook)."""
    return _background.get("autograd_notebook")


@pytest.fixture(scope="session")
def explore_notebook(_background: Background, basic_sweep: Sweep) -> tuple[subprocess.CompletedProcess, Path]:
    """notebooks/explore_runs.ipynb, executed with SPARSEGRAD_TRACKING_URI=<the basic sweep's store>."""
    return _background.get("explore_notebook")
