"""Adding a metric, a figure and a callback takes one class each (tests/experiment/extensions.py) and the
command line (or a YAML file in conf/callbacks/): no file of the runner changes. A real run, in-process."""

from __future__ import annotations

import pytest
from omegaconf import open_dict

from sparsegrad.experiment.errors import ConfigError
from sparsegrad.experiment.job import Job, train
from sparsegrad.experiment.schema import validate
from tests.harness import TINY, client_for, copy_store

from .conftest import compose_config

MINE = "tests.experiment.extensions"


def test_a_users_metric_figure_and_stopping_callback_from_the_command_line(store_template, tmp_path):
    store = copy_store(store_template.result(), tmp_path / "store" / "mlflow.db")
    cfg = compose_config([*TINY, "trainer.epochs=3", f"tracking.uri={store}",
                          f"+callbacks.bias._target_={MINE}.DecoderBiasMean",
                          f"+callbacks.weights._target_={MINE}.WeightHistogram", "+callbacks.weights.bins=20",
                          f"+callbacks.stop._target_={MINE}.StopAfter", "+callbacks.stop.epochs=2"])
    train(cfg, Job(tmp_path / "run"))
    client = client_for(store)
    (run,) = client.search_runs([client.get_experiment_by_name("sparsegrad").experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["sparsegrad.stopped"] == "stop_after: 2 epochs at epoch 2"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "decoder_bias_mean")] == [1, 2]
    assert [m.step for m in client.get_metric_history(run.info.run_id, "train/loss")] == [1, 2]  # stopped after 2 of 3
    plots = {f.path for f in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/encoder_weights.png" in plots and "plots/loss_curve.png" in plots


def test_early_stopping_is_listed_beside_the_defaults_and_checked_before_anything_runs():
    cfg = compose_config(["callbacks=[default,early_stopping]", "callbacks.early_stopping.patience=3"])
    assert list(cfg.callbacks) == ["gradient_monitor", "image_log", "figures", "system_metrics", "checkpoint",
                                   "metric_logger", "early_stopping"]
    validate(cfg)
    assert "early_stopping" not in compose_config().callbacks  # off by default
    bad = compose_config(["callbacks=[default,early_stopping]", "callbacks.early_stopping.mode=median"])
    with pytest.raises(ConfigError, match="callbacks.early_stopping.mode='median' is not allowed: min or max"):
        validate(bad)


@pytest.mark.parametrize("target, allowed", [
    ("nowhere.Thing", "an importable class"),
    ("sparsegrad.nn.Linear", "a subclass of sparsegrad.experiment.Callback"),
])
def test_a_callback_that_is_not_one_is_a_config_error(target, allowed):
    cfg = compose_config([f"+callbacks.mine._target_={target}"])
    with pytest.raises(ConfigError, match=allowed):
        validate(cfg)


def test_an_argument_a_callback_does_not_take_is_named():
    cfg = compose_config()
    with open_dict(cfg):
        cfg.callbacks.image_log.every = 3
    with pytest.raises(ConfigError, match="callbacks.image_log.every=3 is not allowed: not an argument of "
                                          "sparsegrad.experiment.callbacks.ImageLog; its arguments are "
                                          "every_n_epochs, n_images"):
        validate(cfg)
