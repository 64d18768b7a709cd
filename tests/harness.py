"""The one harness for tests that run the project for real, in subprocesses.

Everything a test needs to run `scripts/train.py`, `scripts/compare.py`, a notebook or
`mlflow server` as a user does, and to read back what it left:

- `start(...)`/`train(...)`/`compare(...)`: a command in the background, in a process group
  of its own, stdout and stderr going to files; `Process.wait()` gives an `Outcome`. One
  timeout policy for every command (`TIMEOUT`); one that overruns is stopped, by its PID.
- `TINY`: the overrides of a run that takes a second or two (small synthetic digits).
- `free_port()`, `MlflowServer`: a real tracking server on a free loopback port, its own sqlite
  store and artifacts folder, stopped by its PID (its whole process group).
- `store_uri`, `make_template`/`copy_store` (a fresh sqlite store costs MLflow seconds of schema
  migrations, a copy of an empty one nothing), `run_statuses`, `client_for`, `sweep_runs`,
  `history`, `npz_arrays`.
- `Jobs`: named background jobs, each started at most once per session, so that the
  slow ones overlap and run while the in-process tests do.

`stop_all()` (called when the session ends, by tests/conftest.py) stops whatever is still running.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
TRAIN = ROOT / "scripts" / "train.py"
COMPARE = ROOT / "scripts" / "compare.py"

# Seconds any one command (a run, a sweep, compare.py, a notebook, a server's start) may take
# before it is stopped and its test fails: far above what any takes (~2-30 s), even with the
# whole suite's processes sharing two cores.
TIMEOUT = 300
# A run of a second or two: 2 epochs of 8 batches of small synthetic digits, no progress bar.
TINY = ("data=synthetic", "data.n_train=256", "data.n_test=64", "trainer.epochs=2", "trainer.progress=false")

_MLFLOW_INFO = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d INFO ")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # the tests' own downloads


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment without the caller's MLflow/Hydra/sparsegrad settings, the project importable,
    one BLAS thread per process (many share the cores), unbuffered output; then `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HYDRA_", "SPARSEGRAD_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.update(PYTHONUNBUFFERED="1", OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
    env.update(extra)
    return env


# --- commands in the background -------------------------------------------------------------

@dataclass
class Outcome:
    """A finished command: exit code, output, wall time."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False

    @property
    def error_lines(self) -> list[str]:
        """stderr without MLflow's own INFO lines (its schema set-up on a fresh store)."""
        return [line for line in self.stderr.splitlines() if line.strip() and not _MLFLOW_INFO.match(line)]

    def __str__(self) -> str:
        late = f" (stopped: still running after {TIMEOUT} s)" if self.timed_out else ""
        return (f"exit {self.returncode}{late} after {self.seconds:.1f}s: {' '.join(self.args)}\n"
                f"--- stdout (end)\n{self.stdout[-6000:]}\n--- stderr (end)\n{self.stderr[-6000:]}")

    output = __str__


_LIVE: set[Process] = set()
_LIVE_LOCK = threading.Lock()


class Process:
    """A command running in the background in a new session (so a process group led by its PID),
    its output going to `<directory>/<name>.stdout` and `.stderr`."""

    def __init__(self, command: Sequence[str], directory: Path, name: str, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.args = [str(a) for a in command]
        self.out, self.err = directory / f"{name}.stdout", directory / f"{name}.stderr"
        self.start = time.monotonic()
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.popen = subprocess.Popen(self.args, cwd=cwd or directory, stdout=out, stderr=err,
                                          stdin=subprocess.DEVNULL, env=dict(env or subprocess_env()),
                                          start_new_session=True)
        self.pid = self.popen.pid
        with _LIVE_LOCK:
            _LIVE.add(self)
        self._outcome: Outcome | None = None

    def signal(self, signum: int) -> None:
        """`signum` to the command itself (as Ctrl-C or `kill PID` would), not to its children."""
        self.popen.send_signal(signum)

    def poll(self) -> int | None:
        return self.popen.poll()

    def wait(self, timeout: float = TIMEOUT) -> Outcome:
        """Its outcome, once it ends; one still running after `timeout` s is stopped (and says so)."""
        if self._outcome is None:
            timed_out = False
            try:
                code = self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                self.stop()
                code = self.popen.returncode
            self.stop()  # anything it left in its group (joblib workers, uvicorn workers)
            self._outcome = Outcome(self.args[1:], code, self.out.read_text(), self.err.read_text(),
                                    time.monotonic() - self.start, timed_out)
        return self._outcome

    def stop(self, grace: float = 10) -> None:
        """SIGTERM to its process group (the group's id is its PID), SIGKILL after `grace` s, then to
        whatever of the group is left."""
        if self.popen.poll() is None:
            _killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                _killpg(self.pid, signal.SIGKILL)
                self.popen.wait()
        _killpg(self.pid, signal.SIGKILL)
        with _LIVE_LOCK:
            _LIVE.discard(self)


def _killpg(pgid: int, signum: int) -> None:
    try:
        os.killpg(pgid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the group is gone


def stop_all() -> None:
    """Stop every command this harness started that is still running (at the end of the session)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for process in live:
        process.stop(grace=5)


def start(args: Sequence[str], directory: Path, name: str = "command", cwd: Path | None = None,
          **env: str) -> Process:
    """`python ARGS` in the background (a script and its arguments, or `-c CODE ...`)."""
    return Process([sys.executable, *args], directory, name, subprocess_env(**env), cwd=cwd)


def train(args: Sequence[str], directory: Path, name: str = "train", cwd: Path | None = None, **env: str) -> Process:
    """`python scripts/train.py ARGS` in the background, output in `directory/name.std{out,err}`."""
    return start([str(TRAIN), *args], directory, name, cwd=cwd, **env)


def compare(args: Sequence[str], directory: Path, name: str = "compare", cwd: Path | None = None,
            **env: str) -> Process:
    """`python scripts/compare.py ARGS` in the background."""
    return start([str(COMPARE), *args], directory, name, cwd=cwd, **env)


# Runs a notebook top to bottom (a kernel of its own) and saves it with its outputs.
_RUN_NOTEBOOK = """import sys, nbformat
from nbclient import NotebookClient
notebook = nbformat.read(sys.argv[1], as_version=4)
NotebookClient(notebook, timeout=180, kernel_name="python3", resources={"metadata": {"path": sys.argv[3]}}).execute()
nbformat.write(notebook, sys.argv[2])
"""


def notebook(path: Path, executed: Path, **env: str) -> Process:
    """Execute the notebook `path` (in its own folder) into `executed`, in the background."""
    return start(["-c", _RUN_NOTEBOOK, str(path), str(executed), str(path.parent)], executed.parent,
                 executed.stem, cwd=path.parent, **env)


def wait_for(path: Path, process: Process, timeout: float = TIMEOUT) -> None:
    """Poll until `path` exists (fail if the process ends first)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"{process.args} ended before {path} appeared:\n{process.wait()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout}s")
        time.sleep(0.02)


# --- a real tracking server -----------------------------------------------------------------

def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MlflowServer:
    """`mlflow server` (as `make server` runs it, with its --allowed-hosts) on a free loopback port,
    with its own sqlite store and artifacts folder in `directory`, one worker, no job runner."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        allowed = subprocess.run(["make", "-s", "--no-print-directory", "allowed-hosts", f"PORT={self.port}"],
                                 cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
        command = ["-m", "mlflow", "server", "--backend-store-uri", store_uri(directory),
                   "--artifacts-destination", str(directory / "mlartifacts"),
                   "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1", "--allowed-hosts", allowed]
        # No job runner: it is for MLflow's GenAI jobs, and spawns seven more processes.
        self.process = start(command, directory, "server", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")

    def wait_healthy(self, timeout: float = TIMEOUT) -> str:
        """The server's URL, once /health answers 200."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {self.process.poll()}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/health", timeout=2) as reply:
                    if reply.status == 200:
                        return self.url
            except OSError:
                time.sleep(0.3)
        raise TimeoutError(f"mlflow server not healthy after {timeout} s:\n{self.log()}")

    def log(self) -> str:
        return (self.process.out.read_text() + self.process.err.read_text())[-4000:]

    def stop(self) -> None:
        """SIGTERM to the server's process group (it and its uvicorn worker), then SIGKILL."""
        self.process.stop()


# --- stores and what is in them -------------------------------------------------------------

def store_uri(where: Path) -> str:
    """The sqlite store `where` (a .db file, or a folder: its mlflow.db)."""
    db = where if where.suffix == ".db" else where / "mlflow.db"
    return f"sqlite:///{db.as_posix()}"


def make_template(directory: Path) -> Path:
    """An MLflow sqlite store with its schema and nothing else (seconds of migrations, done once)."""
    from mlflow.tracking import MlflowClient

    directory.mkdir(parents=True, exist_ok=True)
    db = directory / "template.db"
    MlflowClient(tracking_uri=store_uri(db)).search_experiments()
    return db


def copy_store(template: Path, db: Path) -> str:
    """A new empty store at `db`, copied from `template`; its URI."""
    db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, db)
    return store_uri(db)


def run_statuses(db: Path) -> list[str]:
    """The status of every run in an MLflow sqlite store, read with sqlite3 (no MLflow import)."""
    if not db.exists():
        return []
    with closing(sqlite3.connect(db)) as connection:
        has_runs = connection.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='runs'").fetchone()
        return [row[0] for row in connection.execute("SELECT status FROM runs")] if has_runs else []


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


def history(client, run_id: str, key: str) -> list[tuple[int, float]]:
    """A metric's (step, value) pairs, in step order."""
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """Every array of an .npz, loaded the only way we allow: without pickle."""
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


# --- slow things, started early and once ----------------------------------------------------

class Jobs:
    """Named background jobs (functions in threads, which mostly wait for subprocesses), each
    submitted at most once; `get(name)` waits for one."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="test-job")
        self.futures: dict[str, Future] = {}
        self.lock = threading.Lock()

    def submit(self, name: str, fn: Callable[[], Any]) -> Future:
        with self.lock:
            if name not in self.futures:
                self.futures[name] = self.pool.submit(fn)
            return self.futures[name]

    def get(self, name: str, fn: Callable[[], Any] | None = None) -> Any:
        """The result of job `name` (submitting `fn` as it, if it was not yet)."""
        future = self.submit(name, fn) if fn is not None else self.futures[name]
        return future.result(timeout=3 * TIMEOUT)

    def shutdown(self) -> None:
        stop_all()  # what the jobs wait for ends, so the threads do
        self.pool.shutdown(wait=True, cancel_futures=True)
