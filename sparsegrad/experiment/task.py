"""The one task wrapper: every error a user can act on becomes one line on stderr and an exit code.

    2    the config or the command line asks for what cannot be (nothing was opened)
    1    a run or a step failed (a run that opened is FAILED in MLflow, with the reason)
    130  interrupted (a run that opened is KILLED, with its last checkpoint)

`scripts/train.py`, `scripts/evaluate.py` and the sweep callback all go through `run_task`.
A bug keeps its traceback: it is what helps.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable
from typing import TypeVar

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf.errors import OmegaConfBaseException

from sparsegrad.data import DataError
from sparsegrad.experiment.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    ConfigError,
    ExperimentError,
    RunInterrupted,
    exit_with,
)

log = logging.getLogger(__name__)
T = TypeVar("T")


def report(exc: BaseException) -> tuple[str, int] | None:
    """The line and the exit code for `exc`; None for a bug."""
    from sparsegrad.experiment.cli import describe_config_error, describe_os_error

    if isinstance(exc, RunInterrupted):
        return str(exc), EXIT_INTERRUPTED
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, ConfigError):
        return str(exc), EXIT_CONFIG
    if isinstance(exc, DataError):  # (outside a run: the data asked for cannot be had)
        return f"error: {exc}", EXIT_CONFIG
    if isinstance(exc, ExperimentError):
        return f"error: {exc}", EXIT_FAILED
    if isinstance(exc, MissingConfigException | ConfigCompositionException | OverrideParseException
                  | OmegaConfBaseException):
        return describe_config_error(exc), EXIT_CONFIG
    if isinstance(exc, OSError):  # a folder that cannot be made or written (Hydra makes the run's first)
        return describe_os_error(exc)
    return None


def run_task(work: Callable[[], T], *, job_of_sweep: bool = False, during: str | None = None) -> T | float:
    """`work()`, with its errors told as one line and an exit code.

    `job_of_sweep`: a job's failure is logged and the sweep goes on (the job returns NaN);
    an interruption still ends the sweep. `during` (a Hydra callback, where Hydra would turn an
    exception into a warning and go on): a bug, too, ends the program, as one line naming it.
    """
    try:
        return work()
    except SystemExit:
        raise
    except BaseException as exc:
        told = report(exc)
        if job_of_sweep and not isinstance(exc, KeyboardInterrupt):
            log.error("job failed: %s", told[0] if told else f"{type(exc).__name__}: {exc}", exc_info=told is None)
            return math.nan
        if told is None and during is not None:
            log.exception("%s", during)
            told = (f"error: {during}: {type(exc).__name__}: {exc}", EXIT_FAILED)
        if told is None:
            raise
        sys.stderr.flush()
        exit_with(*told)
