"""Row 1: a config error ends the program at once, in one line naming the key and what is allowed.

No traceback, exit code 2, and no MLflow run left RUNNING: the store is never even
opened. (tests/experiment covers more cases, and sweeps.)
"""

from __future__ import annotations

import pytest

from tests.harness import TINY
from tests.reliability.harness import Workspace, scenario

CASES = {  # override -> what the one line must name
    "out_of_range": (("optimizer.lr=-1",), ("optimizer.lr", "> 0")),
    "wrong_type": (("trainer.epochs=abc",), ("trainer.epochs", "Integer")),
    "unknown_key": (("trainer.foo=1",), ("trainer.foo", "epochs, batch_size")),
    "unknown_option": (("optimizer=rmsprop",), ("optimizer=rmsprop", "adam, gd, sgd")),
}


@scenario
def config_errors(ws: Workspace):
    untouched = f"tracking.uri=sqlite:///{ws.path / 'untouched.db'}"
    started = {name: ws.start(name, *TINY, *override, untouched, store=None)
               for name, (override, _) in CASES.items()}
    return ws, {name: process.wait() for name, process in started.items()}


@pytest.mark.parametrize("case", CASES)
def test_a_config_error_is_one_line_naming_the_key_and_what_is_allowed(scenarios, case):
    ws, outcomes = scenarios("config_errors")
    outcome = outcomes[case]
    assert outcome.returncode == 2, outcome
    assert len(outcome.error_lines) == 1, outcome
    line = outcome.error_lines[0]
    assert line.startswith("config error:"), outcome
    for part in CASES[case][1]:
        assert part in line, outcome
    assert "Traceback" not in outcome.stdout + outcome.stderr
    assert not (ws.path / "untouched.db").exists(), "the store was opened: a run may be left behind"
