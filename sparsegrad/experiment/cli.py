"""Turning what went wrong outside a run into one line for the user, and an exit code.

Inside a run, `Run` reports its own outcome; here: config errors (exit 2), errors
before a run opens (a store that cannot be reached, a run that cannot be resumed:
exit 1) and interruptions before or between runs (exit 130).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hydra.errors import ConfigCompositionException, MissingConfigException, OverrideParseException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sparsegrad.data import DataError
from sparsegrad.experiment.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    ConfigError,
    ExperimentError,
    exit_with,
)
from sparsegrad.experiment.interrupts import signals_as_interrupt
from sparsegrad.experiment.schema import BUILT_GROUPS, keys_of, project_root


def _chosen_node(group: str) -> DictConfig | None:
    """The config of the option of `group` that the command line (else config.yaml) chose."""
    conf = project_root() / "conf"
    chosen = [a.split("=", 1)[1] for a in sys.argv[1:] if a.lstrip("+").startswith(f"{group}=")][-1:]
    if not chosen:
        defaults = OmegaConf.load(conf / "config.yaml").get("defaults", [])
        chosen = [d[group] for d in defaults if isinstance(d, DictConfig) and group in d]
    path = conf / group / f"{chosen[0] if chosen else ''}.yaml"
    return OmegaConf.create({group: OmegaConf.load(path)}) if path.is_file() else None


def _allowed_keys(dotted: str) -> list[str] | None:
    if dotted in (*BUILT_GROUPS, "data"):
        node = _chosen_node(dotted)
        return keys_of(node, dotted) if node is not None else None
    return keys_of(None, dotted)


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
            keys = _allowed_keys(parent)
            where = f"'{parent}'" if parent else "the root"
            allowed = f": the keys of {where} are {', '.join(keys)}" if keys else ""
            return f"config error: unknown key '{key}'{allowed}"
        return f"config error: {key}: {first}"
    text = str(exc).strip().splitlines()
    return "config error: " + (" ".join(line.strip() for line in text[:2]) if text else type(exc).__name__)


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Inside a Hydra job: a user's error as one line and its exit code (an exception escaping the
    job would get Hydra's own "Error executing job" line first)."""
    try:
        yield
    except ConfigError as exc:
        exit_with(str(exc), EXIT_CONFIG)
    except (ExperimentError, DataError) as exc:
        exit_with(f"error: {exc}", EXIT_FAILED)


def run_cli(hydra_main: Callable[[], object]) -> None:
    """Call a @hydra.main function and report failures outside a run in one line with an exit code.

    Hydra prints its own multi-line errors unless HYDRA_FULL_ERROR is set, in
    which case it re-raises them: we set it and do the reporting here. SIGTERM
    is a KeyboardInterrupt for the whole program (as Ctrl-C is), so that a run or a
    sweep stopped either way is marked KILLED in MLflow.
    """
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        with signals_as_interrupt():
            hydra_main()
    except ConfigError as exc:
        exit_with(str(exc), EXIT_CONFIG)
    except (MissingConfigException, ConfigCompositionException, OverrideParseException,
            OmegaConfBaseException) as exc:
        exit_with(describe_config_error(exc), EXIT_CONFIG)
    except (ExperimentError, DataError) as exc:
        exit_with(f"error: {exc}", EXIT_FAILED)
    except KeyboardInterrupt:
        exit_with("interrupted", EXIT_INTERRUPTED)
    except OSError as exc:  # a folder that cannot be made or written (Hydra makes the run's first)
        exit_with(_describe_os_error(exc), EXIT_CONFIG if _given_folder(exc) else EXIT_FAILED)


def _given_folder(exc: OSError) -> str | None:
    """The `hydra.run.dir=` or `hydra.sweep.dir=` override the failing path belongs to, if any."""
    for arg in sys.argv[1:]:
        key, _, value = arg.partition("=")
        if key in ("hydra.run.dir", "hydra.sweep.dir") and exc.filename and str(exc.filename).startswith(value):
            return key
    return None


def _describe_os_error(exc: OSError) -> str:
    key = _given_folder(exc)
    if key:
        return f"config error: {key}={exc.filename} cannot be made: {exc.strerror}; choose a folder you can write"
    return f"error: cannot write {exc.filename or 'a file'}: {exc.strerror or exc}"
