"""Helpers for the reliability tests: run scripts/train.py for real, many at once.

Each test module registers its scenarios (functions that run the command line,
maybe several times in a row, and return what happened) with `@scenario`. The
session fixture `scenarios` starts every registered scenario at once in threads,
so the subprocesses (each pays seconds of imports) overlap; a test asks for a
scenario's outcome by name and waits only for that one.

Every scenario works in its own directory with its own sqlite store, a copy of
one made once per session (creating MLflow's schema costs seconds).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "scripts" / "train.py"
TIMEOUT = 240  # seconds for one command; far above what any takes
TINY = ("data=synthetic", "data.n_train=256", "data.n_test=64", "trainer.epochs=2", "trainer.progress=false")
# Long enough (10 epochs of 32 steps) to be interrupted in the middle, short enough to run to the end.
INTERRUPTIBLE = ("data=synthetic", "data.n_train=1024", "data.n_test=64", "trainer.epochs=10",
                 "trainer.log_every_n_steps=8", "trainer.progress=false", "seed=3")
ENV = {
    "PYTHONUNBUFFERED": "1",
    # One BLAS thread per process: many processes share the cores.
    "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # the tests' own downloads
_MLFLOW_INFO = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d INFO ")

SCENARIOS: dict[str, Callable[[Workspace], Any]] = {}


def scenario(fn: Callable[[Workspace], Any]) -> Callable[[Workspace], Any]:
    """Register `fn(workspace)` to run (concurrently with the others) once per session."""
    SCENARIOS[fn.__name__] = fn
    return fn


@dataclass
class Outcome:
    """A finished command: exit code, output, wall time."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        """stderr without MLflow's own INFO lines (its schema set-up on a fresh store)."""
        return [line for line in self.stderr.splitlines() if line.strip() and not _MLFLOW_INFO.match(line)]

    def __str__(self) -> str:
        return (f"exit {self.returncode} after {self.seconds:.1f}s: {' '.join(self.args)}\n"
                f"--- stdout (end)\n{self.stdout[-3000:]}\n--- stderr (end)\n{self.stderr[-3000:]}")


class Process:
    """scripts/train.py running in the background, its output going to files."""

    def __init__(self, args: Sequence[str], directory: Path, name: str) -> None:
        self.args = [sys.executable, str(TRAIN), *args]
        self.out, self.err = directory / f"{name}.stdout", directory / f"{name}.stderr"
        self.start = time.monotonic()
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.popen = subprocess.Popen(self.args, cwd=directory, stdout=out, stderr=err,
                                          env={**os.environ, **ENV})

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float = TIMEOUT) -> Outcome:
        try:
            code = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            code = -9
        return Outcome(self.args[1:], code, self.out.read_text(), self.err.read_text(),
                       time.monotonic() - self.start)


class Workspace:
    """A scenario's directory, holding run directories and sqlite stores by name."""

    def __init__(self, path: Path, template: Future[Path]) -> None:
        self.path = path
        self._template = template
        self._lock = threading.Lock()

    def uri(self, store: str) -> str:
        """The store called `store`: a copy of the session's empty store, made on first use."""
        db = self.path / f"{store}.db"
        with self._lock:
            if not db.exists():
                shutil.copyfile(self._template.result(TIMEOUT), db)
        return f"sqlite:///{db}"

    def start(self, name: str, *args: str, store: str | None = "") -> Process:
        """Start train.py with `args` in run (or sweep) directory `name`.

        It tracks to the store `store` (by default one named like the run, so that
        concurrent commands never share a store); None: leave tracking.uri to `args`.
        """
        where = [f"hydra.run.dir={self.path / name}", f"hydra.sweep.dir={self.path / name}"]
        tracking = [] if store is None else [f"tracking.uri={self.uri(store or name)}"]
        return Process([*args, *tracking, *where], self.path, name)

    def run(self, name: str, *args: str, store: str | None = "") -> Outcome:
        return self.start(name, *args, store=store).wait()

    def client(self, store: str):
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.uri(store))

    def run_of(self, run_dir: str, store: str | None = None) -> Any:
        """The MLflow run that wrote `run_dir` (its id is in the directory)."""
        run_id = (self.path / run_dir / "mlflow_run_id").read_text().strip()
        return self.client(store or run_dir).get_run(run_id)


def wait_for(path: Path, process: Process, timeout: float = TIMEOUT) -> None:
    """Poll until `path` exists (fail if the process ends first)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.popen.poll() is not None:
            raise AssertionError(f"{process.args} ended before {path} appeared:\n{process.wait()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout}s")
        time.sleep(0.02)


def interrupt_after_first_epoch(ws: Workspace, name: str, signum: int, *args: str,
                                checkpoint: str = "checkpoint.npz") -> Outcome:
    """Start a run, and send `signum` once its checkpoint of epoch 1 exists (in epoch 2, or so)."""
    process = ws.start(name, *args)
    wait_for(ws.path / name / checkpoint, process)
    process.signal(signum)
    return process.wait()


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz, loaded the only way we allow: without pickle."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    """A metric's (step, value) pairs, in step order."""
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def make_template(directory: Path) -> Path:
    """An MLflow sqlite store with its schema and nothing else."""
    from mlflow.tracking import MlflowClient

    db = directory / "template.db"
    MlflowClient(tracking_uri=f"sqlite:///{db}").search_experiments()
    return db


@scenario
def reference(ws: Workspace) -> tuple[Workspace, Outcome]:
    """The run that interruption tests must reproduce, uninterrupted."""
    return ws, ws.run("run", *INTERRUPTIBLE)
