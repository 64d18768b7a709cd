"""Reliability scenarios: scripts/train.py run for real (tests/harness.py), many at once.

Each test module registers its scenarios (functions that run the command line, maybe
several times in a row, and return what happened) with `@scenario`. The session fixture
`scenarios` (conftest.py) starts every registered scenario at once as background jobs, so
the subprocesses (each pays seconds of imports) overlap; a test asks for a scenario's
outcome by name and waits only for that one.

Every scenario works in its own directory with its own sqlite stores, copies of one
empty store made once per session (creating MLflow's schema costs seconds).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from tests.harness import (  # noqa: F401  (history, npz_arrays, Outcome, TINY: the scenarios' vocabulary)
    TIMEOUT,
    TINY,
    Outcome,
    Process,
    client_for,
    copy_store,
    history,
    npz_arrays,
    store_uri,
    train,
    wait_for,
)

# Long enough (10 epochs of 32 steps) to be interrupted in the middle, short enough to run to the end.
INTERRUPTIBLE = ("data=synthetic", "data.n_train=1024", "data.n_test=64", "trainer.epochs=10",
                 "trainer.log_every_n_steps=8", "trainer.progress=false", "seed=3")

SCENARIOS: dict[str, Callable[[Workspace], Any]] = {}


def scenario(fn: Callable[[Workspace], Any]) -> Callable[[Workspace], Any]:
    """Register `fn(workspace)` to run (concurrently with the others) once per session."""
    SCENARIOS[fn.__name__] = fn
    return fn


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
                copy_store(self._template.result(TIMEOUT), db)
        return store_uri(db)

    def start(self, name: str, *args: str, store: str | None = "") -> Process:
        """Start train.py with `args` in run (or sweep) directory `name`, working directory `self.path`.

        It tracks to the store `store` (by default one named like the run, so that
        concurrent commands never share a store); None: leave tracking.uri to `args`.
        """
        where = [f"hydra.run.dir={self.path / name}", f"hydra.sweep.dir={self.path / name}"]
        tracking = [] if store is None else [f"tracking.uri={self.uri(store or name)}"]
        return train([*args, *tracking, *where], self.path, name=name.replace("/", "_"))

    def run(self, name: str, *args: str, store: str | None = "") -> Outcome:
        return self.start(name, *args, store=store).wait()

    def client(self, store: str):
        return client_for(self.uri(store))

    def run_of(self, run_dir: str, store: str | None = None) -> Any:
        """The MLflow run that wrote `run_dir` (its id is in the directory)."""
        run_id = (self.path / run_dir / "mlflow_run_id").read_text().strip()
        return self.client(store or run_dir).get_run(run_id)


def interrupt_after_first_epoch(ws: Workspace, name: str, signum: int, *args: str,
                                checkpoint: str = "checkpoint.npz") -> Outcome:
    """Start a run, and send `signum` once its checkpoint of epoch 1 exists (in epoch 2, or so)."""
    process = ws.start(name, *args)
    wait_for(ws.path / name / checkpoint, process)
    process.signal(signum)
    return process.wait()


@scenario
def reference(ws: Workspace) -> tuple[Workspace, Outcome]:
    """The run that interruption tests must reproduce, uninterrupted."""
    return ws, ws.run("run", *INTERRUPTIBLE)
