"""Row 6: the store fails under a run: a fresh store two processes start at once, a server that dies.

A fresh sqlite store is made once, under a lock, whoever comes first: nothing is lost. A
tracking server that stops answering mid-run ends the job within a minute, in one line
naming it, with the checkpoint on disk; once a server answers for the store again, the
run resumes to FINISHED.
"""

from __future__ import annotations

import time

import pytest

from tests.harness import TINY, MlflowServer, store_uri, sweep_runs, wait_for
from tests.reliability.harness import INTERRUPTIBLE, Workspace, scenario

LONG = [a for a in INTERRUPTIBLE if not a.startswith("trainer.epochs")] + ["trainer.epochs=400"]


@scenario
def fresh_store_raced(ws: Workspace):
    """Two single runs and two sweeps, all started at once on a store that does not exist yet."""
    fresh = f"tracking.uri={store_uri(ws.path / 'fresh.db')}"
    started = [ws.start(f"run{i}", *TINY, fresh, store=None) for i in range(2)]
    started += [ws.start(f"sweep{i}", "-m", *TINY, "seed=1,2", fresh, store=None) for i in range(2)]
    return ws, [p.wait() for p in started]


def test_a_fresh_store_started_by_four_processes_at_once_loses_nothing(scenarios):
    ws, outcomes = scenarios("fresh_store_raced")
    for outcome in outcomes:
        assert outcome.returncode == 0, outcome
        assert "Traceback" not in outcome.stderr, outcome
    parents, children = sweep_runs(store_uri(ws.path / "fresh.db"))
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents)
    assert len(children) == 4 and all(c.info.status == "FINISHED" for c in children)
    for parent in parents:  # each sweep's two jobs under its own parent
        assert sum(c.data.tags["mlflow.parentRunId"] == parent.info.run_id for c in children) == 2


@scenario
def server_dies(ws: Workspace):
    server = MlflowServer(ws.path / "server")
    url = server.wait_healthy()
    job = ws.start("job", *LONG, f"tracking.uri={url}", store=None)
    wait_for(ws.path / "job" / "checkpoint.npz", job)
    server.stop()
    died = time.monotonic()
    outcome = job.wait()
    seconds = time.monotonic() - died
    again = MlflowServer(ws.path / "server")  # the same store, served again (on another port)
    url = again.wait_healthy()
    run_id = (ws.path / "job" / "mlflow_run_id").read_text()
    resumed = ws.run("resumed", f"trainer.resume={run_id}", "trainer.progress=false", f"tracking.uri={url}",
                     store=None)
    from tests.harness import client_for

    final = client_for(url).get_run(run_id)
    again.stop()
    return ws, outcome, seconds, resumed, final


def test_a_server_that_dies_mid_run_ends_the_job_without_hanging_and_the_run_resumes(scenarios):
    ws, outcome, seconds, resumed, final = scenarios("server_dies")
    assert outcome.returncode == 1, outcome
    # Not a speed test (timings swing here): with MLflow's own retries (7, growing back-off) the
    # job would hang for about 4 minutes; with ours (2 tries, 1 s back-off) it ends in seconds.
    assert seconds < 120, outcome
    (line,) = outcome.error_lines
    assert "the MLflow tracking store http://127.0.0.1:" in line and "failed" in line, line
    assert "checkpoint of epoch" in line and "trainer.resume=" in line, line
    assert (ws.path / "job" / "checkpoint.npz").is_file()
    assert resumed.returncode == 0, resumed
    assert final.info.status == "FINISHED"


@scenario
def store_deleted(ws: Workspace):
    """The sqlite store's folder removed under a running job (a cleanup gone wrong, a disk unmounted)."""
    import shutil

    uri = f"tracking.uri={store_uri(ws.path / 'gone' / 'mlflow.db')}"
    job = ws.start("job", *LONG, uri, store=None)
    wait_for(ws.path / "job" / "checkpoint.npz", job)
    gone = ws.path / "gone"
    while gone.exists():  # (the job may write a file, sqlite's journal, between rmtree's unlinks and its rmdir)
        shutil.rmtree(gone, ignore_errors=True)
    return ws, job.wait()


def test_a_store_deleted_mid_run_ends_the_job_in_one_line_keeping_its_checkpoint(scenarios):
    ws, outcome = scenarios("store_deleted")
    assert outcome.returncode == 1, outcome
    assert "Traceback" not in outcome.stderr, outcome
    (line,) = outcome.error_lines  # (MLflow's database layer logged 190 lines of SQL and traceback first)
    assert line.startswith("error: the MLflow tracking store sqlite:///") and "failed: " in line, line
    assert "the checkpoint of epoch" in line and "trainer.resume=" in line, line
    assert (ws.path / "job" / "checkpoint.npz").is_file()


@pytest.mark.parametrize("uri, allowed", [
    ("sqlit:///x.db", "sqlite:///PATH"),
    ("postgresql://db/mlflow", "sqlite:///PATH"),
    ("file:///tmp/mlruns", "http(s)://HOST:PORT"),
])
def test_a_tracking_uri_of_another_kind_is_a_config_error(make_config, uri, allowed):
    from sparsegrad.experiment.errors import ConfigError
    from sparsegrad.experiment.schema import validate

    with pytest.raises(ConfigError, match="tracking.uri") as caught:
        validate(make_config(f"tracking.uri={uri}"))
    assert allowed in str(caught.value)


@pytest.fixture
def make_config():
    from tests.experiment.conftest import compose_config

    return lambda *overrides: compose_config(overrides)


def _immutable(paths, on: bool) -> bool:
    """chattr +i (or -i) on `paths`: files even root cannot write (False where chattr cannot)."""
    import shutil
    import subprocess

    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], capture_output=True).returncode == 0


@scenario
def store_read_only(ws: Workspace):
    """The sqlite store turned read-only under a running job (a full or remounted disk, a quota), then
    writable again, and the run resumed."""
    folder = ws.path / "frozen"
    uri = f"tracking.uri={store_uri(folder / 'mlflow.db')}"
    # 60 epochs: seconds of training left when the store freezes after the first, and a short resume
    job = ws.start("job", *[a for a in LONG if not a.startswith("trainer.epochs")], "trainer.epochs=60", uri,
                   store=None)
    wait_for(ws.path / "job" / "checkpoint.npz", job)
    frozen = [folder / "mlflow.db", folder]
    if not _immutable(frozen, True):
        job.signal(__import__("signal").SIGTERM)
        job.wait()
        return ws, None, None, None
    try:
        outcome = job.wait()
    finally:
        _immutable(frozen, False)
    run_id = (ws.path / "job" / "mlflow_run_id").read_text()
    resumed = ws.run("resumed", f"trainer.resume={run_id}", "trainer.progress=false", uri, store=None)
    from tests.harness import client_for

    return ws, outcome, resumed, client_for(store_uri(folder / "mlflow.db")).get_run(run_id)


def test_a_store_turned_read_only_mid_run_ends_the_job_in_one_line_and_the_run_resumes(scenarios):
    ws, outcome, resumed, final = scenarios("store_read_only")
    if outcome is None:
        pytest.skip("chattr +i is not available here (needs root and a filesystem with the immutable flag)")
    assert outcome.returncode == 1, outcome
    assert "Traceback" not in outcome.stderr, outcome
    (line,) = outcome.error_lines
    assert line.startswith("error: the MLflow tracking store sqlite:///") and "failed: " in line, line
    assert "the checkpoint of epoch" in line and "trainer.resume=" in line, line
    assert resumed.returncode == 0, resumed
    assert final.info.status == "FINISHED"
