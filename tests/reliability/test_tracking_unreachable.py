"""Row 5: an unreachable tracking server is reported at once, before data or training.

Not at the end, when a finished run would be lost: `check_reachable` runs first
(before even importing mlflow), for a single run and for a sweep alike. What makes it
quick is asserted as behaviour, not as wall time (which swings on a loaded machine): one
try with a timeout, no retries, and nothing loaded or started before the error.
"""

from __future__ import annotations

import socket
import time

import pytest

from sparsegrad.experiment.errors import TrackingUnreachable
from sparsegrad.experiment.tracking import check_reachable
from tests.harness import TINY, free_port
from tests.reliability.harness import Workspace, scenario

HANG = 30  # seconds: a guard against a check that never returns (it takes ~0.5 s), not a speed test


@scenario
def unreachable(ws: Workspace):
    uri = f"http://127.0.0.1:{free_port()}"
    single = ws.start("single", *TINY, f"tracking.uri={uri}", store=None)
    sweep = ws.start("sweep", "-m", *TINY, "seed=1,2", f"tracking.uri={uri}", store=None)
    return ws, uri, single.wait(), sweep.wait()


@pytest.mark.parametrize("case", ["single", "sweep"])
def test_an_unreachable_server_is_one_line_before_any_data(scenarios, case):
    ws, uri, *outcomes = scenarios("unreachable")
    outcome = dict(zip(["single", "sweep"], outcomes))[case]
    assert outcome.returncode == 1, outcome
    assert len(outcome.error_lines) == 1, outcome
    line = outcome.error_lines[0]
    assert f"cannot reach the MLflow tracking server at {uri}" in line, outcome
    assert "Retrying" not in outcome.stderr, "MLflow's client retried instead of the one check"
    assert "data:" not in outcome.stdout and "epoch" not in outcome.stdout, "loaded data or trained first"
    assert not list((ws.path / case).rglob("checkpoint.npz"))
    if case == "sweep":
        assert not (ws.path / "sweep" / "0").exists(), "a job started"


def test_a_refused_connection_is_reported_at_once():
    with pytest.raises(TrackingUnreachable, match="Connection refused"):
        check_reachable(f"http://127.0.0.1:{free_port()}")


def test_a_server_that_never_answers_is_reported_after_the_timeout():
    with socket.socket() as server:  # accepts connections (the kernel does) but never replies
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1]
        start = time.monotonic()
        with pytest.raises(TrackingUnreachable, match="timed out"):
            check_reachable(f"http://127.0.0.1:{port}", timeout_s=0.5)
        assert time.monotonic() - start < HANG


def test_a_sqlite_store_in_a_directory_that_cannot_be_made_is_reported(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(TrackingUnreachable, match="cannot create the MLflow store"):
        check_reachable(f"sqlite:///{blocker}/sub/mlflow.db")
