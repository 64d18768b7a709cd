"""Turning what went wrong into one line for the user, and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf.errors import OmegaConfBaseException

from sparsegrad.data import DataError
from sparsegrad.experiment.errors import ConfigError, ExperimentError
from sparsegrad.experiment.interrupts import signals_as_interrupt, signals_ignored
from sparsegrad.experiment.schema import schema_keys
from sparsegrad.experiment.tracking import kill_orphaned_children

EXIT_CONFIG, EXIT_FAILED, EXIT_INTERRUPTED = 2, 1, 130


def describe_config_error(exc: BaseException) -> str:
    """One line naming the key and what is allowed, for Hydra's and OmegaConf's errors."""
    if isinstance(exc, MissingConfigException) and exc.options is not None and exc.missing_cfg_file:
        group, _, option = exc.missing_cfg_file.rpartition("/")
        return (f"config error: {group}={option} is not an option: choose one of "
                f"{', '.join(sorted(exc.options))}")
    cause = exc.__cause__ or exc.__context__
    omega = exc if isinstance(exc, OmegaConfBaseException) else (
        cause if isinstance(cause, OmegaConfBaseException) else None)
    if omega is not None and getattr(omega, "full_key", None):
        key = omega.full_key
        first = str(omega).splitlines()[0]
        if "not in struct" in first or "Missing key" in first or " not in '" in first:
            parent = key.rpartition(".")[0]
            keys = schema_keys(parent)
            where = f"'{parent}'" if parent else "the root"
            allowed = f": the keys of {where} are {', '.join(keys)}" if keys else ""
            return f"config error: unknown key '{key}'{allowed}"
        return f"config error: {key}: {first}"
    text = str(exc).strip().splitlines()
    return "config error: " + (" ".join(line.strip() for line in text[:2]) if text else type(exc).__name__)


class JobOutcome:
    """The user-facing error of the last single (non-sweep) run in this process.

    A job that raises makes Hydra print its own lines first; instead the job
    records its error here and returns, and `run_cli` reports it in one line.
    """

    error: BaseException | None = None


def run_cli(hydra_main: Callable[[], object]) -> None:
    """Call a @hydra.main function and report failures in one line with an exit code.

    Hydra prints its own multi-line errors unless HYDRA_FULL_ERROR is set, in
    which case it re-raises them: we set it and do the reporting here. SIGTERM
    is a KeyboardInterrupt for the whole program (as Ctrl-C is), so that a run or a
    sweep stopped either way is marked KILLED in MLflow.
    """
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        with signals_as_interrupt():
            hydra_main()
        if JobOutcome.error is not None:
            raise JobOutcome.error
    except ConfigError as exc:
        exit_with(str(exc), EXIT_CONFIG)
    except (MissingConfigException, ConfigCompositionException, OverrideParseException,
            OmegaConfBaseException) as exc:
        exit_with(describe_config_error(exc), EXIT_CONFIG)
    except (ExperimentError, DataError) as exc:
        exit_with(f"error: {exc}", EXIT_FAILED)
    except KeyboardInterrupt as exc:
        # run_experiment marked its run KILLED (and named it on the exception); the jobs of a
        # parallel sweep, killed with their workers, are marked here; the sweep's parent run by
        # MlflowSweepCallback's exit hook.
        run_id = getattr(exc, "run_id", None)
        with signals_ignored():  # a second Ctrl-C must not stop this bookkeeping half way
            orphans = _kill_orphans()
        if orphans:
            message = (f"interrupted: the sweep's unfinished jobs are KILLED in MLflow ({', '.join(orphans)}); "
                       "continue each with trainer.resume=<its run id>")
        elif run_id:
            message = (f"interrupted: run {run_id} is KILLED in MLflow, with the checkpoint of its last "
                       f"finished epoch; continue it with trainer.resume={run_id}")
        else:
            message = "interrupted"
        exit_with(message, EXIT_INTERRUPTED)


def _kill_orphans() -> list[str]:
    try:
        return kill_orphaned_children("interrupted with its sweep (Ctrl-C or SIGTERM)")
    except Exception as exc:  # the store went away: reporting the interruption matters more
        print(f"warning: could not mark the sweep's unfinished jobs KILLED: {exc}", file=sys.stderr)
        return []


def exit_with(message: str, code: int) -> NoReturn:
    """End the program with one line on stderr and `code` (a SystemExit, which Hydra lets through)."""
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)
