"""The session fixture that starts every registered scenario at once (see harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.reliability.harness import SCENARIOS, TIMEOUT, Workspace, make_template


@pytest.fixture(scope="session")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Any]]:
    """scenarios(name) -> that scenario's return value (all of them started together)."""
    pool = ThreadPoolExecutor(max_workers=len(SCENARIOS) + 1, thread_name_prefix="scenario")
    template = pool.submit(make_template, tmp_path_factory.mktemp("template"))
    futures = {name: pool.submit(fn, Workspace(tmp_path_factory.mktemp(name), template))
               for name, fn in SCENARIOS.items()}

    def outcome(name: str) -> Any:
        return futures[name].result(timeout=3 * TIMEOUT)

    yield outcome
    pool.shutdown(wait=True, cancel_futures=True)
