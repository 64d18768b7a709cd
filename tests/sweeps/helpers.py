"""Helpers of the sweep tests: sweeps of scripts/train.py and an MLflow server, in subprocesses."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "scripts" / "train.py"
TIMEOUT = 300  # seconds for one sweep; they take ~10-30 s, more on a busy machine
TINY = ["data=synthetic", "data.n_train=256", "data.n_test=64", "trainer.epochs=2", "trainer.progress=false"]
# Three jobs, one of which diverges in its first epoch (identity outputs, relu hidden units and no
# sparsity penalty let lr=1e4 blow the weights up; sigmoid outputs would keep the loss bounded).
DIVERGING = ["optimizer=sgd", "model.hidden_activation=relu", "model.output_activation=identity", "sparsity=none",
             "optimizer.lr=0.02,0.1,1e4"]


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment without MLflow/Hydra settings of the caller, with the project importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HYDRA_", "SPARSEGRAD_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(extra)
    return env


@dataclass
class Sweep:
    """A `python scripts/train.py -m ...` in the background, and what it left behind."""

    dir: Path
    uri: str
    process: subprocess.Popen
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""

    @property
    def sweep_dir(self) -> Path:
        return self.dir / "multirun"

    def wait(self) -> Sweep:
        if self.returncode is None:
            try:
                self.returncode = self.process.wait(timeout=TIMEOUT)
            finally:
                if self.process.poll() is None:
                    os.killpg(self.process.pid, signal.SIGKILL)
            self.stdout = (self.dir / "stdout.txt").read_text()
            self.stderr = (self.dir / "stderr.txt").read_text()
        return self

    def output(self) -> str:
        return f"--- exit {self.returncode}\n--- stdout\n{self.stdout[-6000:]}\n--- stderr\n{self.stderr[-6000:]}"


def start_sweep(directory: Path, args: Sequence[str], uri: str | None = None) -> Sweep:
    """`scripts/train.py -m ARGS` logging to `uri` (default: a new sqlite store in `directory`)."""
    directory.mkdir(parents=True, exist_ok=True)
    uri = uri or f"sqlite:///{(directory / 'mlflow.db').as_posix()}"
    command = [sys.executable, str(TRAIN), "-m", *args, f"tracking.uri={uri}",
               f"hydra.sweep.dir={(directory / 'multirun').as_posix()}"]
    with (directory / "stdout.txt").open("w") as out, (directory / "stderr.txt").open("w") as err:
        process = subprocess.Popen(command, cwd=directory, env=subprocess_env(), stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    return Sweep(directory, uri, process)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """`mlflow server` on a free loopback port, with its own sqlite store and artifacts directory."""

    dir: Path
    port: int
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_healthy(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as reply:
                    if reply.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"mlflow server not healthy after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return (self.dir / "server.log").read_text()[-4000:]

    def stop(self) -> None:
        """SIGTERM to its process group (the server and its uvicorn workers), then SIGKILL."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        try:  # workers left behind in the group
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_server(directory: Path) -> Server:
    """The command `make server` runs, on a tmp store, a free port and one worker."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    command = [sys.executable, "-m", "mlflow", "server",
               "--backend-store-uri", f"sqlite:///{(directory / 'mlflow.db').as_posix()}",
               "--artifacts-destination", str(directory / "mlartifacts"),
               "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with (directory / "server.log").open("w") as log:
        # No job runner: it is for MLflow's GenAI jobs, and spawns seven more processes.
        env = subprocess_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
        process = subprocess.Popen(command, cwd=directory, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)  # a group: stopped as one
    return Server(directory, port, process)


def client_for(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def sweep_runs(uri: str) -> tuple[list, list]:
    """(parent runs, child runs) of every sweep in the store at `uri`."""
    client = client_for(uri)
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, "", max_results=1000)
    parents = [r for r in runs if r.data.tags.get("sparsegrad.sweep") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children
