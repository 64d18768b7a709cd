"""Session-wide: the background jobs of tests/harness.py, stopped at the end, and the `slow` marker.

A test is `slow` when it is marked so, or when it asks for a fixture that waits for real
subprocesses (runs and sweeps of scripts/train.py, an mlflow server, notebooks): those are
the fixtures named in SUBPROCESS_FIXTURES. `make test-fast` (`pytest -m "not slow"`) leaves
them out, and so never starts one of those processes.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Jobs, make_template, stop_all

# A shell starts a background job (`make test &` in a script, nohup) with SIGINT ignored, and every
# process it starts inherits that: the train.py runs the tests interrupt with SIGINT, as Ctrl-C
# would, then finish instead. Python's own handler here is reset to the default in each child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

# Fixtures (of the folders' conftest.py) whose value is the outcome of subprocesses.
SUBPROCESS_FIXTURES = frozenset({
    "scenarios",                                                      # reliability/
    "launched", "e2e_run",                                            # experiment/
    "basic_sweep", "joblib_sweep", "mlflow_server", "server_sweep", "submitit_sweep",  # sweeps/
    "compare_cli", "autograd_notebook", "explore_notebook",
})
# Modules whose every test is slow but that this harness does not own (they run a script themselves).
SLOW_MODULES = frozenset({"tests/test_bench.py"})  # scripts/bench.py, a subprocess per test (3-5 s each)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        module = Path(str(item.fspath)).relative_to(root).as_posix() if item.fspath else ""
        if SUBPROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())) or module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def _stop_every_process() -> Iterator[None]:
    """Whatever the harness started and is still running when the session ends is stopped, by its PID."""
    yield
    stop_all()


@pytest.fixture(scope="session")
def jobs() -> Iterator[Jobs]:
    """The session's background jobs; when it ends, every process the harness started is stopped."""
    background = Jobs()
    try:
        yield background
    finally:
        background.shutdown()


@pytest.fixture(scope="session")
def store_template(jobs: Jobs, tmp_path_factory: pytest.TempPathFactory):
    """A future of an empty MLflow sqlite store (made once, in the background): copy it with copy_store."""
    directory = tmp_path_factory.mktemp("store_template")
    return jobs.submit("store_template", lambda: make_template(directory))
