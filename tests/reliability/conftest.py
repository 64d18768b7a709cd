"""The session fixture that starts every registered scenario at once (see harness.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.harness import Jobs
from tests.reliability.harness import SCENARIOS, Workspace


@pytest.fixture(scope="session")
def scenarios(jobs: Jobs, store_template, tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Any]:
    """scenarios(name) -> that scenario's return value (all of them started together, as background jobs)."""
    for name, fn in SCENARIOS.items():
        workspace = Workspace(tmp_path_factory.mktemp(name), store_template)
        jobs.submit(f"reliability:{name}", lambda fn=fn, workspace=workspace: fn(workspace))
    return lambda name: jobs.get(f"reliability:{name}")
