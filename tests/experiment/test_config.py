"""Every config group option composes and validates; the defaults are the seed experiment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sparsegrad.experiment.builders import build_loss, build_model, build_optimizer, build_schedule
from sparsegrad.experiment.errors import ConfigError
from sparsegrad.experiment.schema import OPTIMIZERS, SCHEDULES, SPARSITIES, project_root, validate
from sparsegrad.experiment.tracking import sqlite_path
from sparsegrad.nn import AutoEncoder
from sparsegrad.optim import GD, SGD, Adam, ConstantLR, CosineLR, ExponentialLR, LinearLR, StepLR
from sparsegrad.tensor import Tensor

from .conftest import CONF, ROOT


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


def test_the_groups_hold_exactly_the_documented_options():
    assert options("model") == ["autoencoder"]
    assert options("optimizer") == sorted(OPTIMIZERS) == ["adam", "gd", "sgd"]
    assert options("sparsity") == sorted(SPARSITIES) == ["kl", "l1", "none"]
    assert options("schedule") == sorted(SCHEDULES) == ["constant", "cosine", "exponential", "linear", "step"]
    assert options("data") == ["fashion_mnist", "idx", "mnist", "mnist_sample", "synthetic"]


def test_defaults_reproduce_the_seed_experiment(make_config):
    cfg = make_config()
    validate(cfg)
    assert cfg.data.name == "mnist" and cfg.data.path is None and cfg.data.limit is None
    assert (cfg.model.name, cfg.model.input_dim, cfg.model.hidden_dim) == ("autoencoder", 784, 64)
    assert cfg.model.hidden_activation == "sigmoid"
    assert (cfg.sparsity.name, cfg.sparsity.target, cfg.beta) == ("kl", 0.1, 0.1)
    assert (cfg.optimizer.name, cfg.optimizer.lr) == ("adam", 0.01)
    assert (cfg.schedule.name, cfg.schedule.end_factor) == ("linear", 0.1)
    assert (cfg.trainer.batch_size, cfg.trainer.epochs, cfg.seed) == (32, 50, 0)
    assert cfg.tracking.experiment == "sparsegrad"

    model = build_model(cfg, np.random.default_rng(0))
    assert model.encoder[0].weight.data.shape == (784, 64) and model.decoder[0].weight.data.shape == (64, 784)
    optimizer = build_optimizer(cfg, model)
    schedule = build_schedule(cfg, optimizer)
    assert isinstance(optimizer, Adam) and isinstance(schedule, LinearLR)
    lrs = [optimizer.lr]
    for _ in range(cfg.trainer.epochs - 1):
        schedule.step()
        lrs.append(optimizer.lr)
    assert lrs[0] == pytest.approx(0.01, rel=1e-12) and lrs[-1] == pytest.approx(0.001, rel=1e-12)
    assert len(lrs) == 50 and all(a > b for a, b in zip(lrs, lrs[1:]))  # falls every epoch


def test_default_tracking_uri_is_an_absolute_sqlite_store_in_the_project_root(make_config, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # whatever the working directory
    uri = make_config().tracking.uri
    db = sqlite_path(uri)
    assert uri.startswith("sqlite:////") and db is not None and db.is_absolute()
    assert db == ROOT / "mlflow.db" and project_root() == ROOT


@pytest.mark.parametrize("name, kind, lr", [("gd", GD, 1.0), ("sgd", SGD, 0.5), ("adam", Adam, 0.01)])
def test_optimizer_options(make_config, name, kind, lr):
    cfg = make_config(f"optimizer={name}")
    validate(cfg)
    assert cfg.optimizer.name == name and cfg.optimizer.lr == lr
    assert type(build_optimizer(cfg, build_model(cfg, np.random.default_rng(0)))) is kind


def test_gd_trains_full_batch_unless_the_command_line_says_otherwise(make_config):
    assert make_config("optimizer=gd").trainer.batch_size is None
    assert make_config("optimizer=sgd").trainer.batch_size == 32
    assert make_config("optimizer=gd", "trainer.batch_size=16").trainer.batch_size == 16


@pytest.mark.parametrize("name", ["kl", "l1", "none"])
def test_sparsity_options(make_config, name):
    cfg = make_config(f"sparsity={name}", "model.input_dim=4", "model.hidden_dim=3")
    validate(cfg)
    assert cfg.sparsity.name == name
    model = build_model(cfg, np.random.default_rng(0))
    x = Tensor(np.random.default_rng(1).random((5, 4)).astype(np.float32))
    total, recon, sparsity = build_loss(cfg)(model, x)
    assert float(total.data) == pytest.approx(float(recon.data) + float(sparsity.data), rel=1e-5)
    assert (float(sparsity.data) == 0.0) == (name == "none")


@pytest.mark.parametrize("name, kind, first, last", [
    ("constant", ConstantLR, 0.01, 0.01),
    ("linear", LinearLR, 0.01, 0.001),
    ("exponential", ExponentialLR, 0.01, 0.01 * 0.95**9),
    ("cosine", CosineLR, 0.01, 0.001),
    ("step", StepLR, 0.01, 0.005),  # epoch 9 of 10 with step_size 5
])
def test_schedule_options(make_config, name, kind, first, last):
    extra = ["schedule.step_size=5"] if name == "step" else []
    cfg = make_config(f"schedule={name}", "trainer.epochs=10", *extra)
    validate(cfg)
    assert cfg.schedule.name == name
    optimizer = build_optimizer(cfg, build_model(cfg, np.random.default_rng(0)))
    schedule = build_schedule(cfg, optimizer)
    assert type(schedule) is kind and optimizer.lr == pytest.approx(first)
    for _ in range(9):
        schedule.step()
    assert optimizer.lr == pytest.approx(last)


def test_model_option(make_config):
    cfg = make_config("model=autoencoder", "model.hidden_dim=16")
    validate(cfg)
    assert isinstance(build_model(cfg, np.random.default_rng(0)), AutoEncoder)
    assert cfg.model.hidden_dim == 16


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "mnist_sample", "synthetic"])
def test_data_options(make_config, name):
    cfg = make_config(f"data={name}", "data.limit=100")
    validate(cfg)
    assert (cfg.data.name, cfg.data.limit, cfg.data.path) == (name, 100, None)


def test_data_idx_needs_a_path(make_config, tmp_path: Path):
    with pytest.raises(ConfigError, match="data.path") as caught:
        validate(make_config("data=idx"))
    assert caught.value.key == "data.path"
    cfg = make_config("data=idx", f"data.path={tmp_path}")
    validate(cfg)
    assert (cfg.data.name, cfg.data.path) == ("idx", str(tmp_path))


def test_synthetic_sizes_come_from_the_group(make_config):
    cfg = make_config("data=synthetic", "data.n_train=256")
    assert (cfg.data.n_train, cfg.data.n_test) == (256, 500)


@pytest.mark.parametrize("override, key", [
    ("+foo=1", "foo"),
    ("+optimizer.lrr=1", "optimizer.lrr"),  # `+` gets past Hydra's struct check: validate catches it
    ("+data.foo=1", "data.foo"),
    ("sparsity.target=0", "sparsity.target"),
    ("schedule.end_factor=0", "schedule.end_factor"),
    ("optimizer.momentum=1", "optimizer.momentum"),
    ("data.limit=0", "data.limit"),
    ("trainer.blas_threads=0", "trainer.blas_threads"),
    ("model.hidden_activation=relu", "model.hidden_activation"),  # KL needs sigmoid
])
def test_validate_names_the_key(make_config, override, key):
    with pytest.raises(ConfigError) as caught:
        validate(make_config(override))
    assert caught.value.key == key and f"config error: {key}=" in str(caught.value)
