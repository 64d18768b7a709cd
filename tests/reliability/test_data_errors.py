"""Row 2: a bad data file stops the run with one line naming the file and what is wrong.

The run is FAILED in MLflow with the same words as `failure_reason`. (The loaders'
own tests (tests/data) cover every kind of bad file, pickled npz included; here two
of them go through the command line.)
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from tests.harness import TINY, run_statuses
from tests.reliability.harness import Workspace, scenario

BRIEF = [o for o in TINY if not o.startswith("data")]  # TINY's run, on other data than its synthetic digits


def _idx(magic: int, dims: tuple[int, ...]) -> bytes:
    return magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims) + bytes(int(np.prod(dims)))


@scenario
def data_errors(ws: Workspace):
    idx = ws.path / "idx"
    idx.mkdir()
    images, labels = _idx(2051, (10, 28, 28)), _idx(2049, (10,))
    (idx / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(images)[:-40])  # truncated download
    (idx / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    (idx / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(images))
    (idx / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    started = {
        "missing": ws.start("missing", *BRIEF, "data=mnist", f"data.path={ws.path / 'nowhere'}"),
        "truncated": ws.start("truncated", *BRIEF, "data=idx", f"data.path={idx}"),
        "sweep_missing": ws.start("sweep_missing", "-m", *BRIEF, "seed=1,2,3", "data=idx",
                                  f"data.path={ws.path / 'nowhere'}"),
    }
    return ws, {name: process.wait() for name, process in started.items()}


@pytest.mark.parametrize("case, file, problem, code", [
    ("missing", "nowhere", "no such", 2),  # data that cannot be had: found before any run opens
    ("truncated", "idx/train-images-idx3-ubyte.gz", "corrupted gzip", 1),  # a bad file: the run FAILED
])
def test_a_data_error_is_one_line_naming_the_file(scenarios, case, file, problem, code):
    ws, outcomes = scenarios("data_errors")
    outcome = outcomes[case]
    assert outcome.returncode == code, outcome
    assert len(outcome.error_lines) == 1, outcome
    line = outcome.error_lines[0]
    assert str(ws.path / file) in line and problem in line, outcome
    if code == 2:
        assert not (ws.path / case / "mlflow_run_id").exists(), "a run was opened"
        return
    run = ws.run_of(case)
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"] == line.removeprefix("error: ")


def test_a_sweep_on_data_that_cannot_be_had_stops_once_before_any_job(scenarios):
    ws, outcomes = scenarios("data_errors")
    outcome = outcomes["sweep_missing"]
    assert outcome.returncode == 2, outcome
    (line,) = outcome.error_lines
    assert str(ws.path / "nowhere") in line, line
    assert run_statuses(ws.path / "sweep_missing.db") == [], "a run was opened"
    assert not (ws.path / "sweep_missing" / "0").exists(), "a job started"
