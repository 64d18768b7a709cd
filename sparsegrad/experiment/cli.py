"""The command line: what Hydra's composition errors and unwritable folders mean, in one line each;
`run_cli`, the scripts' entry point."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from hydra.errors import MissingConfigException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from sparsegrad.experiment.errors import (
    EXIT_CONFIG,
    EXIT_FAILED,
)
from sparsegrad.experiment.interrupts import signals_as_interrupt
from sparsegrad.experiment.paths import project_root
from sparsegrad.experiment.schema import BUILT_GROUPS, keys_of


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


def run_cli(hydra_main: Callable[[], object]) -> None:
    """Call a @hydra.main function, its errors (composition included) told by `task.run_task`.

    Hydra prints its own multi-line errors unless HYDRA_FULL_ERROR is set, in which case it
    re-raises them: we set it. SIGTERM and SIGHUP are a KeyboardInterrupt for the whole program
    (as Ctrl-C is), so that a run or a sweep stopped either way is marked KILLED in MLflow.
    """
    from sparsegrad.experiment.task import run_task

    os.environ["HYDRA_FULL_ERROR"] = "1"
    with signals_as_interrupt():
        run_task(hydra_main)


def _given_folder(exc: OSError) -> str | None:
    """The `hydra.run.dir=` or `hydra.sweep.dir=` override the failing path belongs to, if any."""
    for arg in sys.argv[1:]:
        key, _, value = arg.partition("=")
        if key in ("hydra.run.dir", "hydra.sweep.dir") and exc.filename and str(exc.filename).startswith(value):
            return key
    return None


def describe_os_error(exc: OSError) -> tuple[str, int]:
    """A folder or file that cannot be made: the line, and 2 if the command line named it, else 1."""
    key = _given_folder(exc)
    if key:
        return (f"config error: {key}={exc.filename} cannot be made: {exc.strerror}; choose a folder you can "
                "write", EXIT_CONFIG)
    return f"error: cannot write {exc.filename or 'a file'}: {exc.strerror or exc}", EXIT_FAILED
