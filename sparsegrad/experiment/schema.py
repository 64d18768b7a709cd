"""The config schema: structured configs in Hydra's ConfigStore, plus range checks.

Hydra checks types and unknown keys while composing (the dataclasses below make
every node typed and closed); `validate` checks values and ranges before any
data is loaded, and raises `ConfigError` naming the key and what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import get_type_hints

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from sparsegrad.data import DATASETS
from sparsegrad.experiment.errors import ConfigError
from sparsegrad.nn.activation import ACTIVATIONS

OPTIMIZERS = ("gd", "sgd", "adam")
SPARSITIES = ("kl", "l1", "none")
SCHEDULES = ("constant", "linear", "exponential", "cosine", "step")


@dataclass
class ModelConfig:
    name: str = "autoencoder"
    input_dim: int = 784
    hidden_dim: int = 64
    hidden_activation: str = "sigmoid"
    output_activation: str = "sigmoid"


@dataclass
class OptimizerConfig:
    name: str = "adam"
    lr: float = 0.01
    momentum: float = 0.0  # sgd
    nesterov: bool = False  # sgd
    weight_decay: float = 0.0  # sgd, adam
    beta1: float = 0.9  # adam
    beta2: float = 0.999  # adam
    eps: float = 1e-8  # adam


@dataclass
class SparsityConfig:
    name: str = "kl"
    target: float = 0.1  # rho: the mean activation each hidden unit should have (kl)


@dataclass
class ScheduleConfig:
    name: str = "linear"
    end_factor: float = 0.1  # linear, cosine: the last epoch's lr is lr * end_factor
    gamma: float = 0.95  # exponential, step
    step_size: int = 10  # step: epochs between two multiplications by gamma


@dataclass
class DataConfig:
    name: str = "mnist"
    path: str | None = None  # a directory or file instead of the default location
    limit: int | None = None  # keep the first N training images
    n_train: int = 2000  # synthetic
    n_test: int = 500  # synthetic


@dataclass
class TrainerConfig:
    epochs: int = 50
    batch_size: int | None = 32  # null: full batch (gradient descent)
    log_every_n_steps: int = 50  # step_loss is recorded every N steps
    progress: bool = True  # a progress bar per epoch
    checkpoint: bool = True  # save a checkpoint at the end of every epoch
    resume: str | None = None  # a run id or run directory to continue
    blas_threads: int | None = 1  # BLAS threads while training; null: the BLAS library's default


@dataclass
class TrackingConfig:
    uri: str = "sqlite:///${project_root:}/mlflow.db"
    experiment: str = "sparsegrad"
    run_name: str | None = None


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    sparsity: SparsityConfig = field(default_factory=SparsityConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    beta: float = 0.1  # weight of the sparsity penalty in the loss
    seed: int = 0


def project_root() -> Path:
    """The checkout this package runs from (where conf/ lives), else the working directory."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "conf" / "config.yaml").is_file() else Path.cwd()


def register_configs() -> None:
    """Put the schema into Hydra's ConfigStore and the `${project_root:}` resolver into OmegaConf."""
    ConfigStore.instance().store(name="base_config", node=Config)
    if not OmegaConf.has_resolver("project_root"):
        OmegaConf.register_new_resolver("project_root", lambda: project_root().as_posix())


def _check(ok: bool, key: str, value: object, allowed: str) -> None:
    if not ok:
        raise ConfigError(key, value, allowed)


def _one_of(key: str, value: str, choices: tuple[str, ...]) -> None:
    _check(value in choices, key, value, f"one of {', '.join(choices)}")


def schema_keys(dotted: str) -> list[str] | None:
    """The keys the schema allows in the node at `dotted` ("" is the root); None if there is no such node."""
    node: object = Config
    for part in filter(None, dotted.split(".")):
        node = get_type_hints(node).get(part) if is_dataclass(node) else None
    return [f.name for f in fields(node)] if is_dataclass(node) else None


def _check_keys(node: DictConfig, schema: type, prefix: str = "") -> None:
    """Reject keys the schema lacks, at every level (`+optimizer.lrr=1` gets past Hydra's struct mode)."""
    known = {f.name for f in fields(schema)}
    types = get_type_hints(schema)
    for key in node.keys():
        if not prefix and key == "hydra":
            continue
        if key not in known:
            where = f"'{prefix[:-1]}'" if prefix else "the config"
            raise ConfigError(f"{prefix}{key}", node[key],
                              f"not a key of {where}; the keys are {', '.join(f.name for f in fields(schema))}")
        if is_dataclass(types[key]) and isinstance(node[key], DictConfig):
            _check_keys(node[key], types[key], f"{prefix}{key}.")


def validate(cfg: DictConfig) -> None:
    """Range and choice checks that types alone cannot express; raises ConfigError."""
    _check_keys(cfg, Config)
    m, o, s, sch, d, t = cfg.model, cfg.optimizer, cfg.sparsity, cfg.schedule, cfg.data, cfg.trainer
    _one_of("model.name", m.name, ("autoencoder",))
    _check(m.input_dim >= 1, "model.input_dim", m.input_dim, "an integer >= 1")
    _check(m.hidden_dim >= 1, "model.hidden_dim", m.hidden_dim, "an integer >= 1")
    _one_of("model.hidden_activation", m.hidden_activation, tuple(ACTIVATIONS))
    _one_of("model.output_activation", m.output_activation, tuple(ACTIVATIONS))

    _one_of("optimizer.name", o.name, OPTIMIZERS)
    _check(o.lr > 0, "optimizer.lr", o.lr, "a number > 0")
    _check(0 <= o.momentum < 1, "optimizer.momentum", o.momentum, "a number in [0, 1)")
    _check(not o.nesterov or o.momentum > 0, "optimizer.nesterov", o.nesterov,
           "true only with optimizer.momentum > 0")
    _check(o.weight_decay >= 0, "optimizer.weight_decay", o.weight_decay, "a number >= 0")
    _check(0 <= o.beta1 < 1, "optimizer.beta1", o.beta1, "a number in [0, 1)")
    _check(0 <= o.beta2 < 1, "optimizer.beta2", o.beta2, "a number in [0, 1)")
    _check(o.eps > 0, "optimizer.eps", o.eps, "a number > 0")

    _one_of("sparsity.name", s.name, SPARSITIES)
    _check(0 < s.target < 1, "sparsity.target", s.target, "a number strictly between 0 and 1")
    _check(cfg.beta >= 0, "beta", cfg.beta, "a number >= 0")
    _check(s.name != "kl" or m.hidden_activation == "sigmoid", "model.hidden_activation",
           m.hidden_activation, "sigmoid with sparsity=kl (KL needs activations in (0, 1))")

    _one_of("schedule.name", sch.name, SCHEDULES)
    _check(0 < sch.end_factor <= 1, "schedule.end_factor", sch.end_factor, "a number in (0, 1]")
    _check(0 < sch.gamma <= 1, "schedule.gamma", sch.gamma, "a number in (0, 1]")
    _check(sch.step_size >= 1, "schedule.step_size", sch.step_size, "an integer >= 1")

    _one_of("data.name", d.name, DATASETS)
    _check(d.limit is None or d.limit >= 1, "data.limit", d.limit, "null or an integer >= 1")
    _check(d.n_train >= 1, "data.n_train", d.n_train, "an integer >= 1")
    _check(d.n_test >= 1, "data.n_test", d.n_test, "an integer >= 1")
    _check(d.name != "idx" or d.path is not None, "data.path", d.path,
           "a directory of IDX files with data=idx")

    _check(t.epochs >= 1, "trainer.epochs", t.epochs, "an integer >= 1")
    _check(t.batch_size is None or t.batch_size >= 1, "trainer.batch_size", t.batch_size,
           "null (full batch) or an integer >= 1")
    _check(t.log_every_n_steps >= 1, "trainer.log_every_n_steps", t.log_every_n_steps, "an integer >= 1")
    _check(t.blas_threads is None or t.blas_threads >= 1, "trainer.blas_threads", t.blas_threads,
           "null (the BLAS library's default) or an integer >= 1")
    _check(bool(cfg.tracking.experiment), "tracking.experiment", cfg.tracking.experiment, "a non-empty name")
