"""The errors the runner reports to users in one line (no traceback), and the exit codes."""

from __future__ import annotations

import sys
from typing import NoReturn

EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


def exit_with(message: str, code: int) -> NoReturn:
    """End the program with one line on stderr and `code` (a SystemExit, which Hydra lets through)."""
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)


class ExperimentError(Exception):
    """A problem the user can fix; its message is the whole report."""


class ConfigError(ExperimentError):
    """A config value that is out of range, of the wrong kind, or unknown."""

    def __init__(self, key: str, value: object, allowed: str) -> None:
        super().__init__(f"config error: {key}={value!r} is not allowed: {allowed}")
        self.key = key


class TrainingDiverged(ExperimentError):
    """The loss became NaN or infinite."""


class TrackingUnreachable(ExperimentError):
    """The MLflow tracking store cannot be reached."""


class RunFailed(ExperimentError):
    """A run ended FAILED; the message is its `failure_reason`."""


class RunInterrupted(KeyboardInterrupt):
    """A run ended KILLED by Ctrl-C, SIGTERM or SIGHUP; the message says how to continue it."""
