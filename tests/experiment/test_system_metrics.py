"""System metrics (callbacks/system_metrics.py): MLflow's system/ metrics from fit's own thread, in real runs."""

from __future__ import annotations

import time

import numpy as np
import pytest

from sparsegrad.data import Dataset
from sparsegrad.experiment.build import build
from sparsegrad.experiment.callbacks import SystemMetrics
from sparsegrad.experiment.callbacks.system_metrics import CPU, MEMORY_MB, MEMORY_PERCENT, PROCESS_RSS_MB
from sparsegrad.experiment.errors import EXIT_CONFIG
from sparsegrad.experiment.job import Job, train
from sparsegrad.experiment.run import Run
from sparsegrad.experiment.task import run_task
from sparsegrad.experiment.tracking import Tracker
from sparsegrad.experiment.trainer import Settings, fit
from tests.harness import TINY, client_for, copy_store

from .conftest import compose_config

KEYS = {CPU, MEMORY_MB, MEMORY_PERCENT, PROCESS_RSS_MB}


def test_every_run_logs_mlflows_system_metrics_each_sample_at_its_own_time(store_template, tmp_path):
    store = copy_store(store_template.result(), tmp_path / "store" / "mlflow.db")
    assert "system_metrics" in compose_config().callbacks  # in the default list: every run has it
    cfg = compose_config([*TINY, "trainer.epochs=3", f"tracking.uri={store}",
                          "callbacks=[system_metrics,metric_logger]",
                          "data.n_train=1024", "callbacks.system_metrics.interval_s=0.01"])
    started = time.time()
    train(cfg, Job(tmp_path / "run"))
    ended = time.time()
    client = client_for(store)
    (run,) = client.search_runs([client.get_experiment_by_name("sparsegrad").experiment_id])
    assert {k for k in run.data.metrics if k.startswith("system/")} == KEYS
    history = {key: sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step) for key in KEYS}
    cpu = history[CPU]
    assert len(cpu) >= 3
    assert [m.step for m in cpu] == list(range(len(cpu)))  # the sample's index, as MLflow's monitor numbers them
    stamps = [m.timestamp for m in cpu]
    assert all(a < b for a, b in zip(stamps, stamps[1:]))  # each its own time, not the batch's
    assert started * 1000 - 1 <= stamps[0] and stamps[-1] <= ended * 1000 + 1
    for key in KEYS:  # one sample: all four metrics, same step and time
        assert [(m.step, m.timestamp) for m in history[key]] == [(m.step, m.timestamp) for m in cpu], key
    assert all(0 <= m.value <= 100 for m in cpu + history[MEMORY_PERCENT])
    for used, rss in zip(history[MEMORY_MB], history[PROCESS_RSS_MB]):
        assert 10 < rss.value < used.value  # this process holds tens of MB at least, and less than all in use


def tiny_fit(callbacks, epochs: int, epochs_done: int = 0, recorder=None, batch_size: int = 8):
    cfg = compose_config(["model.input_dim=16", "model.hidden_dim=4"])
    images = np.random.default_rng(1).random((400, 16)).astype(np.float32)
    labels = np.zeros(400, dtype=np.int64)
    data = Dataset("tiny", "random pixels", images, labels, images[:16], labels[:16])
    parts = build(cfg, np.random.default_rng(0))
    return fit(parts.model, parts.optimizer, parts.schedule, data, callbacks, objective=parts.objective,
               settings=Settings(epochs, batch_size, 50, progress=False), rng=np.random.default_rng(0),
               epochs_done=epochs_done, recorder=recorder)


def test_a_step_only_reads_the_clock_samples_follow_the_interval_and_a_resumed_fit_goes_on_numbering(
        store_template, tmp_path):
    store = copy_store(store_template.result(), tmp_path / "store" / "mlflow.db")
    tracker = Tracker(store, "sparsegrad")
    with Run(tracker, tmp_path / "run") as run:
        rare = SystemMetrics(interval_s=3600)
        tiny_fit([rare], epochs=4, recorder=run.recorder)  # 200 steps
        assert rare.samples == 1  # the end's: none of the 200 steps took one
        often = SystemMetrics(interval_s=0.005)
        started = time.monotonic()
        tiny_fit([often], epochs=8, epochs_done=4, recorder=run.recorder)  # 200 more steps, as a resumed run's
        elapsed = time.monotonic() - started
        assert 2 <= often.samples <= elapsed / 0.005 + 1  # one per interval at most, and the end's
    steps = [step for step, _ in tracker.metric_history(run.run_id, CPU)]
    assert steps == list(range(1 + often.samples))  # the second fit's samples after the first's, none lost


@pytest.mark.parametrize("value, shown", [("0", "0"), ("-1", "-1"), ("inf", "inf"), ("abc", "'abc'")])
def test_a_bad_interval_is_one_config_error_line_and_opens_no_run(value, shown, tmp_path, capsys):
    store = tmp_path / "store" / "mlflow.db"
    cfg = compose_config([*TINY, f"tracking.uri=sqlite:///{store}", f"callbacks.system_metrics.interval_s={value}"])
    with pytest.raises(SystemExit) as exit_:
        run_task(lambda: train(cfg, Job(tmp_path / "run")))
    assert exit_.value.code == EXIT_CONFIG
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == f"config error: callbacks.system_metrics.interval_s={shown} is not allowed: a number of seconds > 0"
    assert not store.exists()
