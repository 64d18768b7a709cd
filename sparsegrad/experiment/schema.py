"""What a config may hold, checked before any data is loaded or any run opened.

Every default lives once, in conf/. The schema has two halves:
- the runner's own keys (`trainer`, `tracking`, `beta`, `seed`): typed dataclasses in
  Hydra's ConfigStore, so composing rejects a wrong type or an unknown key;
- the groups Hydra builds objects from (`model`, `optimizer`, `schedule`, `sparsity`):
  each option's schema is its `_target_`'s signature. Its keys are the arguments, its
  types their annotations, its ranges what the class itself checks (`ArgumentError`),
  found by building the object once on a stand-in. Adding an optimizer is a class and
  a YAML file.
`validate` raises ConfigError naming the key, its value and what is allowed.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, get_type_hints

import numpy as np
from hydra.core.config_store import ConfigStore
from hydra.utils import get_method
from omegaconf import DictConfig, ListConfig

from sparsegrad.checks import ArgumentError
from sparsegrad.data import DATASETS
from sparsegrad.data.registry import OPTIONS as DATA_OPTIONS
from sparsegrad.experiment.errors import ConfigError
from sparsegrad.experiment.paths import register_resolvers
from sparsegrad.experiment.tracking import URI_SCHEMES

BUILT_GROUPS = ("model", "optimizer", "schedule", "sparsity")  # made by hydra.utils.instantiate
# Keys that say how to run and record a run, not what it computes: they name no run, tell no
# two jobs of a sweep apart, and a resumed run takes them from its command line.
HOW_NOT_WHAT = ("trainer.progress", "trainer.checkpoint", "trainer.resume", "trainer.blas_threads",
                "tracking.", "hydra.", "hydra/", "callbacks.", "callbacks=", "+callbacks")
MAX_WEIGHTS = 10**8  # float32 weights in the model: 400 MB per copy; Adam keeps three


def defines_the_run(key: str) -> bool:
    """False for keys (or `key=value` overrides, `hydra/launcher` choices) in HOW_NOT_WHAT."""
    return not key.lstrip("+~").startswith(HOW_NOT_WHAT)


@dataclass
class TrainerConfig:
    """The `trainer` block of conf/config.yaml: fit's settings and the runner's."""

    epochs: int
    batch_size: int | None  # null: full batch (gradient descent)
    log_every_n_steps: int
    progress: bool
    checkpoint: bool
    resume: str | None
    blas_threads: Any  # "auto", an integer >= 1, or null (BLAS's default): OmegaConf 2.3 has no int | str
    clip_grad_norm: float | None


@dataclass
class TrackingConfig:
    """conf/tracking/default.yaml: where runs are recorded, and how long a store may keep one waiting."""

    uri: str
    experiment: str
    run_name: str | None
    timeout_s: float
    retries: int
    register_model: str | None  # the registered model a FINISHED run adds a version to; null: none


@dataclass
class Config:
    """The root. A field without a default is required: its value comes from conf/ (OmegaConf's MISSING)."""

    model: Any
    optimizer: Any
    sparsity: Any
    schedule: Any
    data: Any
    callbacks: Any  # {name: {_target_: a Callback subclass, its arguments}}: conf/callbacks/
    trainer: TrainerConfig
    tracking: TrackingConfig
    beta: float
    seed: int


def register_configs() -> None:
    """The schema into Hydra's ConfigStore, and the resolvers the configs use (paths.py)."""
    ConfigStore.instance().store(name="base_config", node=Config)
    register_resolvers()


# --- keys -----------------------------------------------------------------------------------

def _signature(node: DictConfig) -> inspect.Signature | None:
    target = node.get("_target_")
    return inspect.signature(get_method(target)) if target else None


def _built_keys(node: DictConfig) -> list[str]:
    """The keys an instantiated option takes: its target's arguments (less those the run passes)."""
    signature = _signature(node)
    if signature is None:
        return []
    return [name for name, p in signature.parameters.items()
            if name not in PASSED_BY_THE_RUN and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


PASSED_BY_THE_RUN = ("params", "optimizer", "rng", "self")


def keys_of(cfg: DictConfig | None, dotted: str) -> list[str] | None:
    """The keys allowed in the node at `dotted` ("" is the root); None if unknown."""
    if dotted in BUILT_GROUPS and cfg is not None:
        return _built_keys(cfg[dotted])
    if dotted == "data" and cfg is not None:
        return ["name", "path", "limit", *DATA_OPTIONS.get(cfg.data.name, ())]
    node: object = Config
    for part in filter(None, dotted.split(".")):
        node = get_type_hints(node).get(part) if is_dataclass(node) else None
    return [f.name for f in fields(node)] if is_dataclass(node) else None


def _check_keys(cfg: DictConfig) -> None:
    """Reject keys the schema lacks (`+optimizer.lrr=1` gets past Hydra's struct mode) or that were removed."""
    for dotted in ["", "trainer", "tracking"]:
        node = cfg if not dotted else cfg.get(dotted)
        for key in keys_of(cfg, dotted) or []:
            if node is None or key not in node:
                full = f"{dotted}.{key}" if dotted else key
                raise ConfigError(full, "(removed)", f"a value: {full} cannot be removed (~{full}); set it instead")
    for dotted in ["", "trainer", "tracking", "data", *BUILT_GROUPS]:
        node = cfg if not dotted else cfg[dotted]
        allowed = keys_of(cfg, dotted) or []
        for key in node:
            if key in ("_target_", "_partial_") or (not dotted and key == "hydra"):
                continue
            if key not in allowed:
                full = f"{dotted}.{key}" if dotted else key
                where = f"'{dotted}'" if dotted else "the config"
                raise ConfigError(full, node[key], f"not a key of {where}; the keys are {', '.join(allowed)}")


# --- types and ranges of the built groups ----------------------------------------------------------

def _fits(value: object, hint: object) -> bool:
    """Does a config value fit a constructor's annotation (float, int, bool, str, tuple, X | None)?"""
    if hint is inspect.Parameter.empty or hint is Any:
        return True
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is tuple or hint is tuple:
        args = typing.get_args(hint)
        return isinstance(value, ListConfig | list | tuple) and (
            not args or len(args) == len(value) and all(_fits(v, a) for v, a in zip(value, args)))
    return isinstance(hint, type) and isinstance(value, hint)


def _describe(hint: object) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string", type(None): "null"}
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(h) for h in typing.get_args(hint))
    if origin is tuple:
        return "a list [" + ", ".join(_describe(a) for a in typing.get_args(hint)) + "]"
    return names.get(hint, str(hint))


def _check_types(cfg: DictConfig, group: str) -> None:
    node = cfg[group]
    signature = _signature(node)
    if signature is None:
        return
    target = get_method(node._target_)
    hints = get_type_hints(target.__init__ if inspect.isclass(target) else target)
    for key in _built_keys(node):
        if key in node and not _fits(node[key], hints.get(key, inspect.Parameter.empty)):
            raise ConfigError(f"{group}.{key}", node[key], _describe(hints[key]))


def _check_ranges(cfg: DictConfig) -> None:
    """Build each object once on a stand-in: the classes check their own arguments."""
    from hydra.utils import instantiate

    from sparsegrad.nn import Parameter

    m = cfg.model
    weights = m.get("input_dim", 1) * m.get("hidden_dim", 1)
    if isinstance(weights, int) and weights > MAX_WEIGHTS:
        raise ConfigError("model.hidden_dim", m.hidden_dim,
                          f"at most {MAX_WEIGHTS // m.input_dim} with model.input_dim={m.input_dim} "
                          f"(the weights would take {2 * weights * 4 / 1e9:.3g} GB)")
    made: dict[str, object] = {}
    stand_in = [Parameter(np.zeros(1, dtype=np.float32))]
    passed = {"model": (), "optimizer": (stand_in,), "schedule": (None,), "sparsity": ()}
    for group in BUILT_GROUPS:
        if not cfg[group].get("_target_"):
            continue
        args = (made["optimizer"],) if group == "schedule" else passed[group]
        try:
            built = instantiate(cfg[group], _convert_="all")
            made[group] = built(*args) if cfg[group].get("_partial_") else built
        except Exception as exc:  # hydra wraps what the constructor raised
            cause = exc
            while cause is not None and not isinstance(cause, ArgumentError | ValueError):
                cause = cause.__cause__
            if isinstance(cause, ArgumentError):
                raise ConfigError(f"{group}.{cause.name}", cause.value, cause.allowed) from None
            detail = str(cause or exc).splitlines()[0]
            raise ConfigError(group, cfg[group].get("_target_"), f"it cannot be built: {detail}") from None
    penalty = made.get("sparsity")
    if getattr(penalty, "needs_unit_interval", False) and m.get("hidden_activation") != "sigmoid":
        raise ConfigError("model.hidden_activation", m.get("hidden_activation"),
                          "sigmoid with this sparsity penalty (it needs activations in (0, 1))")


# --- everything ------------------------------------------------------------------------------------

def _check(ok: bool, key: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(key, value, allowed)


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate(cfg: DictConfig) -> None:
    """Keys, types and ranges of the whole config; raises ConfigError."""
    _check_keys(cfg)
    for group in BUILT_GROUPS:
        _check_types(cfg, group)
    _check(_number(cfg.beta) and cfg.beta >= 0, "beta", cfg.beta, "a finite number >= 0")
    _check(0 <= cfg.seed < 2**32, "seed", cfg.seed, "an integer in [0, 2^32)")

    d, t = cfg.data, cfg.trainer
    _check(d.get("name") in DATASETS, "data.name", d.get("name"), f"one of {', '.join(DATASETS)}")
    limit = d.get("limit")
    _check(limit is None or isinstance(limit, int) and limit >= 1, "data.limit", limit, "null or an integer >= 1")
    for key in DATA_OPTIONS.get(d.name, ()):
        _check(isinstance(d[key], int) and d[key] >= 1, f"data.{key}", d[key], "an integer >= 1")
    _check(d.name != "idx" or d.get("path") is not None, "data.path", d.get("path"),
           "a directory of IDX files with data=idx")

    _check(t.epochs >= 1, "trainer.epochs", t.epochs, "an integer >= 1")
    _check(t.batch_size is None or t.batch_size >= 1, "trainer.batch_size", t.batch_size,
           "null (full batch) or an integer >= 1")
    _check(t.log_every_n_steps >= 1, "trainer.log_every_n_steps", t.log_every_n_steps, "an integer >= 1")
    _check(t.clip_grad_norm is None or _number(t.clip_grad_norm) and t.clip_grad_norm > 0, "trainer.clip_grad_norm",
           t.clip_grad_norm, "null (no clipping) or a number > 0")
    _check(t.blas_threads is None or t.blas_threads == "auto" or isinstance(t.blas_threads, int)
           and not isinstance(t.blas_threads, bool) and t.blas_threads >= 1, "trainer.blas_threads", t.blas_threads,
           "auto (one thread for small products, every core for big ones), an integer >= 1, or null "
           "(the BLAS library's default)")
    tr = cfg.tracking
    _check(tr.uri.startswith(URI_SCHEMES), "tracking.uri", tr.uri,
           "sqlite:///PATH (a store file) or http(s)://HOST:PORT (a tracking server)")
    _check(0 < len(tr.experiment) <= 256, "tracking.experiment", tr.experiment, "a name of 1 to 256 characters")
    _check(tr.run_name is None or len(tr.run_name) <= 250, "tracking.run_name", tr.run_name,
           "null or a name of at most 250 characters")
    _check(_number(tr.timeout_s) and 1 <= tr.timeout_s <= 600, "tracking.timeout_s", tr.timeout_s,
           "seconds in [1, 600]")
    _check(0 <= tr.retries <= 10, "tracking.retries", tr.retries, "an integer in [0, 10]")
    _check_ranges(cfg)
    _check_callbacks(cfg)


def _check_callbacks(cfg: DictConfig) -> None:
    """Each callback: a `_target_` that is a Callback subclass, built once with its arguments."""
    from hydra.utils import instantiate

    from sparsegrad.experiment.callback import Callback

    callbacks = cfg.get("callbacks") or {}
    _check(isinstance(callbacks, DictConfig), "callbacks", callbacks,
           "a mapping of names to callbacks (conf/callbacks/)")
    for name, node in callbacks.items():
        key = f"callbacks.{name}"
        target = node.get("_target_") if isinstance(node, DictConfig) else None
        _check(isinstance(target, str), f"{key}._target_", target,
               "a class: +callbacks.NAME._target_=package.module.Class")
        try:
            cls = get_method(target)
        except Exception:
            raise ConfigError(f"{key}._target_", target, "an importable class (package.module.Class)") from None
        _check(inspect.isclass(cls) and issubclass(cls, Callback), f"{key}._target_", target,
               "a subclass of sparsegrad.experiment.Callback")
        allowed = [p for p in inspect.signature(cls).parameters if p != "self"]
        for arg in node:
            _check(arg == "_target_" or arg in allowed, f"{key}.{arg}", node[arg],
                   f"not an argument of {target}; its arguments are {', '.join(allowed) or '(none)'}")
        try:
            instantiate(node, _convert_="all")
        except Exception as exc:
            cause = exc
            while cause is not None and not isinstance(cause, ArgumentError):
                cause = cause.__cause__
            if isinstance(cause, ArgumentError):
                raise ConfigError(f"{key}.{cause.name}", cause.value, cause.allowed) from None
            detail = str(exc.__cause__ or exc).splitlines()[0]
            raise ConfigError(key, target, f"it cannot be built: {detail}") from None
