"""Row 2: a bad data file stops the run with one line naming the file and what is wrong.

The run is FAILED in MLflow with the same words as `failure_reason`. (The loaders'
own tests (tests/data) cover every kind of bad file, pickled npz included; here two
of them go through the command line.)
"""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from tests.harness import TINY

BRIEF = [o for o in TINY if not o.startswith("data")]  # TINY's run, on other data than its synthetic digits
from tests.reliability.harness import Workspace, scenario


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
    }
    return ws, {name: process.wait() for name, process in started.items()}


@pytest.mark.parametrize("case, file, problem", [
    ("missing", "nowhere", "no such file or directory"),
    ("truncated", "idx/train-images-idx3-ubyte.gz", "corrupted gzip"),
])
def test_a_data_error_is_one_line_naming_the_file_and_the_run_is_failed(scenarios, case, file, problem):
    ws, outcomes = scenarios("data_errors")
    outcome = outcomes[case]
    assert outcome.returncode == 1, outcome
    assert len(outcome.error_lines) == 1, outcome
    line = outcome.error_lines[0]
    assert str(ws.path / file) in line and problem in line, outcome
    run = ws.run_of(case)
    assert run.info.status == "FAILED"
    assert run.data.tags["failure_reason"] == line.removeprefix("error: ")
