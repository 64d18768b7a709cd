"""Sweeps on a real SLURM cluster: a one-node one that `scripts/slurm_local.sh` starts, a real
`mlflow server`, `scripts/train.py -m hydra/launcher=slurm` in subprocesses.

Every test in this folder is marked `slurm` (and `slow`): `pytest -m slurm` runs them alone,
`-m "not slurm"` leaves them out. The cluster is started once per session, in a folder of the
session's tmp dir (installing Debian's packages first when they are missing, as root), and
stopped at its end, with its jobs, by the PIDs the script wrote. When it cannot be had here
(not root and the packages missing, no apt-get) the tests skip and say why; under `CI=true`
they fail instead.

The scenarios (a sweep and what a test does to its jobs) run as background jobs of
tests/harness.py, all at once, so that they share the cluster's time; each test waits for its
own. To add one, say an Optuna study on the cluster: a test that asks for `cluster` and
`cluster_server` and runs `cluster.sweep("study", [...args...], cluster_server.url, base)`
(a harness `Process`; `.wait()` gives its outcome), or a scenario here beside the others.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness import ROOT, TIMEOUT, Jobs, MlflowServer, Process, train

SCRIPT = ROOT / "scripts" / "slurm_local.sh"
HERE = Path(__file__).parent
# A SLURM sweep's settings in the tests: one CPU and 1 GB per job, 10 minutes (USR2 then counts as
# a time-out for submitit, which requeues up to max_num_timeout times).
ON_SLURM = ("hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
            "hydra.launcher.timeout_min=10")
# The node offers 4 CPUs on whatever the machine has: the jobs mostly wait (imports, the server, a pace).
CPUS = "4"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).parent == HERE:
            item.add_marker(pytest.mark.slurm)
            item.add_marker(pytest.mark.slow)


@dataclass
class Cluster:
    """The running cluster: its `slurm.conf`, and what the tests ask of it."""

    dir: Path

    @property
    def conf(self) -> Path:
        return self.dir / "etc" / "slurm.conf"

    def command(self, *args: str) -> str:
        """A SLURM command (squeue, scancel, scontrol...) against this cluster; its stdout."""
        # (The whole suite loads both cores: slurmctld then answers slowly, and a command retries.)
        done = subprocess.run(list(args), env={**os.environ, "SLURM_CONF": str(self.conf)}, capture_output=True,
                              text=True, timeout=TIMEOUT)
        if done.returncode:
            raise AssertionError(f"{' '.join(args)}: exit {done.returncode}: {done.stderr}")
        return done.stdout

    def sweep(self, name: str, args: Sequence[str], uri: str, base: Path) -> Process:
        """`scripts/train.py -m hydra/launcher=slurm ARGS` in the background, in `base/name`."""
        directory = base / name
        return train(["-m", *ON_SLURM, *args, f"tracking.uri={uri}", f"hydra.sweep.dir={directory / 'multirun'}"],
                     directory, SLURM_CONF=str(self.conf))

    def job_id(self, sweep_dir: Path, number: int, process: Process) -> str:
        """The SLURM id (`123_4`) of the sweep's job `number`, once submitted."""
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            found = sorted((sweep_dir / ".submitit").glob(f"*_{number}"))
            if found:
                return found[0].name
            if process.poll() is not None:
                raise AssertionError(f"the sweep ended before job {number} was submitted:\n{process.wait()}")
            time.sleep(0.1)
        raise AssertionError(f"job {number} of {sweep_dir} was not submitted within {TIMEOUT}s")

    def job_state(self, job_id: str) -> dict[str, str]:
        """`scontrol show job`'s fields (JobState, Reason, Restarts...)."""
        text = self.command("scontrol", "show", "job", "-o", job_id)
        return dict(field.split("=", 1) for field in text.split() if "=" in field)

    def start_requeued_now(self, job_id: str) -> None:
        """SLURM holds a requeued job for two minutes (its BeginTime): an administrator's `scontrol update
        StartTime=now` lets it start at once."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = self.job_state(job_id)
            if state.get("JobState") == "PENDING" and int(state.get("Restarts", 0)) > 0:
                self.command("scontrol", "update", f"JobId={job_id}", "StartTime=now")
                return
            if int(state.get("Restarts", 0)) > 0 and state.get("JobState") in ("RUNNING", "COMPLETED"):
                return
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} was not requeued within 60 s: {self.job_state(job_id)}")


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _start_server(base: Path) -> MlflowServer:
    server = MlflowServer(base)
    server.wait_healthy()
    return server


@pytest.fixture(scope="session")
def cluster(jobs: Jobs, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A one-node SLURM cluster with accounting, for the session; stopped (with its jobs) at its end."""
    server_dir = tmp_path_factory.mktemp("cluster_server")
    jobs.submit("cluster:server", lambda: _start_server(server_dir))  # (starts meanwhile: ~15-30 s)
    directory = tmp_path_factory.mktemp("slurm")
    started = time.monotonic()
    try:
        done = subprocess.run(["bash", str(SCRIPT), "start", str(directory)], capture_output=True, text=True,
                              timeout=600, env={**os.environ, "SLURM_LOCAL_CPUS": CPUS})
    except subprocess.TimeoutExpired:
        subprocess.run(["bash", str(SCRIPT), "stop", str(directory)], capture_output=True, timeout=120)
        pytest.fail(f"scripts/slurm_local.sh start took over 600 s (logs in {directory / 'log'})")
    if done.returncode:
        subprocess.run(["bash", str(SCRIPT), "stop", str(directory)], capture_output=True, timeout=120)
        why = f"no SLURM cluster here: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done}"
        if done.returncode == 3 and not _in_ci():
            pytest.skip(why)
        pytest.fail(f"{why}\n(exit {done.returncode}; logs in {directory / 'log'})\n{done.stderr[-3000:]}")
    print(f"\nSLURM cluster up in {time.monotonic() - started:.1f} s ({directory})")
    try:
        yield Cluster(directory)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop", str(directory)], capture_output=True, timeout=120)


@pytest.fixture(scope="session")
def cluster_server(jobs: Jobs, cluster: Cluster) -> MlflowServer:
    """The tracking server of the cluster's jobs (never sqlite over a shared filesystem); stopped, by its
    PID, when the session ends."""
    return jobs.get("cluster:server")
