"""Every config group option composes and validates; the defaults are the seed experiment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sparsegrad.experiment.build import build
from sparsegrad.experiment.errors import ConfigError
from sparsegrad.experiment.paths import options, project_root
from sparsegrad.experiment.schema import validate
from sparsegrad.experiment.tracking import flatten, sqlite_path
from sparsegrad.nn import AutoEncoder
from sparsegrad.nn.sparsity import KLSparsity, L1Sparsity
from sparsegrad.optim import GD, SGD, Adam, ConstantLR, CosineLR, ExponentialLR, LinearLR, StepLR
from sparsegrad.tensor import Tensor

from .conftest import ROOT


def built(cfg):
    return build(cfg, np.random.default_rng(0))


def test_the_groups_hold_exactly_the_documented_options():
    assert options("model") == ["autoencoder"]
    assert options("optimizer") == ["adam", "gd", "sgd"]
    assert options("sparsity") == ["kl", "l1", "none"]
    assert options("schedule") == ["constant", "cosine", "exponential", "linear", "step"]
    assert options("data") == ["fashion_mnist", "idx", "mnist", "mnist_sample", "synthetic"]


def test_defaults_reproduce_the_seed_experiment(make_config):
    cfg = make_config()
    validate(cfg)
    assert cfg.data.name == "mnist" and cfg.data.path is None and cfg.data.limit is None
    assert (cfg.model.input_dim, cfg.model.hidden_dim) == (784, 64)
    assert cfg.model.hidden_activation == "sigmoid"
    assert (cfg.sparsity.target, cfg.beta) == (0.1, 0.1)
    assert cfg.optimizer.lr == 0.01
    assert cfg.schedule.end_factor == 0.1
    assert (cfg.trainer.batch_size, cfg.trainer.epochs, cfg.seed) == (32, 50, 0)
    assert cfg.tracking.experiment == "sparsegrad"

    parts = built(cfg)
    model, optimizer, schedule = parts.model, parts.optimizer, parts.schedule
    assert model.encoder[0].weight.data.shape == (784, 64) and model.decoder[0].weight.data.shape == (64, 784)
    assert isinstance(optimizer, Adam) and isinstance(schedule, LinearLR)
    assert isinstance(parts.objective.penalty, KLSparsity) and parts.objective.beta == 0.1
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
    assert cfg.optimizer.lr == lr
    assert type(built(cfg).optimizer) is kind


def test_each_option_logs_only_its_own_arguments(make_config):
    sgd, adam = flatten(make_config("optimizer=sgd")), flatten(make_config("optimizer=adam"))
    assert "optimizer.momentum" in sgd and not any(k.startswith("optimizer.betas") for k in sgd)
    assert "optimizer.betas" in adam and "optimizer.momentum" not in adam
    assert "data.n_train" not in flatten(make_config()) and "data.n_train" in flatten(make_config("data=synthetic"))


def test_adding_an_optimizer_is_a_class_and_a_yaml_file(make_config, tmp_path):
    """Any importable class whose first argument is the parameters: its signature is its schema."""
    cfg = make_config("optimizer=sgd", "+optimizer.dampening=0.5")
    with pytest.raises(ConfigError, match="optimizer.dampening"):
        validate(cfg)  # SGD takes no dampening
    cfg.optimizer._target_ = "tests.experiment.test_config.SGDWithDampening"
    validate(cfg)
    assert built(cfg).optimizer.dampening == 0.5


class SGDWithDampening(SGD):
    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, dampening: float = 0.0) -> None:
        super().__init__(params, lr, momentum, nesterov, weight_decay)
        self.dampening = dampening


def test_gd_trains_full_batch_unless_the_command_line_says_otherwise(make_config):
    assert make_config("optimizer=gd").trainer.batch_size is None
    assert make_config("optimizer=sgd").trainer.batch_size == 32
    assert make_config("optimizer=gd", "trainer.batch_size=16").trainer.batch_size == 16


@pytest.mark.parametrize("name", ["kl", "l1", "none"])
def test_sparsity_options(make_config, name):
    cfg = make_config(f"sparsity={name}", "model.input_dim=4", "model.hidden_dim=3")
    validate(cfg)
    parts = built(cfg)
    assert type(parts.objective.penalty) is {"kl": KLSparsity, "l1": L1Sparsity, "none": type(None)}[name]
    x = Tensor(np.random.default_rng(1).random((5, 4)).astype(np.float32))
    total, recon, sparsity = parts.objective(parts.model, x)
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
    parts = built(cfg)
    optimizer, schedule = parts.optimizer, parts.schedule
    assert type(schedule) is kind and optimizer.lr == pytest.approx(first)
    for _ in range(9):
        schedule.step()
    assert optimizer.lr == pytest.approx(last)


def test_model_option(make_config):
    cfg = make_config("model=autoencoder", "model.hidden_dim=16")
    validate(cfg)
    assert isinstance(built(cfg).model, AutoEncoder)
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
    ("+optimizer.momentum=0.5", "optimizer.momentum"),  # SGD's, not Adam's
    ("optimizer.lr=abc", "optimizer.lr"),  # the type, from Adam's signature
    ("optimizer.lr=-1", "optimizer.lr"),  # the range, from Adam's own check
    ("+data.foo=1", "data.foo"),
    ("sparsity.target=0", "sparsity.target"),
    ("schedule.end_factor=0", "schedule.end_factor"),
    ("optimizer=sgd optimizer.momentum=1", "optimizer.momentum"),
    ("schedule=step schedule.gamma=2", "schedule.gamma"),
    ("model.hidden_dim=100000000", "model.hidden_dim"),
    ("beta=inf", "beta"),
    ("seed=-1", "seed"),
    ("data.limit=0", "data.limit"),
    ("trainer.blas_threads=0", "trainer.blas_threads"),
    ("model.hidden_activation=relu", "model.hidden_activation"),  # KL needs sigmoid
])
def test_validate_names_the_key(make_config, override, key):
    with pytest.raises(ConfigError) as caught:
        validate(make_config(*override.split()))
    assert caught.value.key == key and f"config error: {key}=" in str(caught.value)


def test_a_relative_data_path_is_stored_resolved_against_where_it_was_typed(make_config, monkeypatch, tmp_path):
    from sparsegrad.experiment.paths import resolve_data_path

    monkeypatch.chdir(tmp_path)
    cfg = make_config("data=idx", "data.path=../shared/data/mnist")
    resolve_data_path(cfg)  # (what job.train and evaluate do before anything is stored)
    assert cfg.data.path == str((tmp_path / ".." / "shared" / "data" / "mnist").resolve())
    home = make_config("data=idx", "data.path=x")
    home.data.path = "~/digits"
    resolve_data_path(home)
    assert home.data.path == str(Path.home() / "digits")
    unset = make_config()
    resolve_data_path(unset)
    assert unset.data.path is None


def test_the_tracking_uri_follows_sparsegrad_tracking_uri_as_the_docs_say(make_config, monkeypatch):
    monkeypatch.setenv("SPARSEGRAD_TRACKING_URI", "http://127.0.0.1:5999")
    assert make_config().tracking.uri == "http://127.0.0.1:5999"
    assert make_config("tracking.uri=sqlite:////tmp/x.db").tracking.uri == "sqlite:////tmp/x.db"  # (the command line)
    monkeypatch.delenv("SPARSEGRAD_TRACKING_URI")
    assert make_config().tracking.uri.startswith("sqlite:///") and make_config().tracking.uri.endswith("/mlflow.db")
