"""Pieces of the runner on their own: flattening, artifact location, error lines, comparison, training loop."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
from hydra.errors import HydraException
from omegaconf import OmegaConf

from sparsegrad.data import Dataset
from sparsegrad.experiment.blas import blas_threads, resolve_blas_threads
from sparsegrad.experiment.build import build
from sparsegrad.experiment.callback import Callback
from sparsegrad.experiment.cli import describe_config_error
from sparsegrad.experiment.compare import JobSummary, add_speedups, format_table
from sparsegrad.experiment.errors import TrainingDiverged
from sparsegrad.experiment.metrics import measure
from sparsegrad.experiment.schema import keys_of
from sparsegrad.experiment.tracking import artifact_location, flatten, sqlite_path
from sparsegrad.experiment.trainer import Settings, fit

from .conftest import compose_config

EPOCH_METRICS = ("train/loss", "train/recon_loss", "train/sparsity_loss", "val/recon_loss", "explained_variance", "l0",
                 "mean_activation", "near_zero_fraction", "dead_units", "dense_units", "lr", "epoch_time_s")

# --- tracking ---------------------------------------------------------------------------------


def test_flatten_gives_dotted_string_params_with_interpolations_resolved():
    cfg = OmegaConf.create({"a": {"b": 1, "c": {"d": None}}, "lr": 0.5, "ok": True,
                            "name": "x", "copy": "${a.b}"})
    assert flatten(cfg) == {"a.b": "1", "a.c.d": "null", "lr": "0.5", "ok": "True", "name": "x", "copy": "1"}
    assert flatten(cfg, exclude=("a", "copy")) == {"lr": "0.5", "ok": "True", "name": "x"}


def test_flatten_of_the_default_config_covers_every_schema_key():
    cfg = compose_config()
    flat = flatten(cfg)
    for section in ("model", "optimizer", "sparsity", "schedule", "data", "trainer", "tracking"):
        for key in keys_of(cfg, section):
            assert f"{section}.{key}" in flat
    assert flat["optimizer._target_"] == "sparsegrad.optim.Adam"
    assert flat["beta"] == "0.1" and flat["optimizer.lr"] == "0.01" and flat["trainer.resume"] == "null"
    assert "${" not in flat["tracking.uri"]


def test_artifact_location_is_beside_the_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    db = tmp_path / "store" / "mlflow.db"
    uri = f"sqlite:///{db.as_posix()}"
    assert sqlite_path(uri) == db
    assert artifact_location(uri, "sweep 1/b") == (tmp_path / "store" / "mlartifacts" / "sweep_1_b").as_uri()
    monkeypatch.chdir(tmp_path)  # a relative store: still an absolute location, resolved once
    assert artifact_location("sqlite:///rel.db", "e") == (tmp_path / "mlartifacts" / "e").as_uri()
    assert artifact_location("http://127.0.0.1:5000", "e") is None
    assert sqlite_path("http://127.0.0.1:5000") is None


# --- cli ----------------------------------------------------------------------------------------


def composition_error(*overrides: str) -> BaseException:
    with pytest.raises(HydraException) as caught:
        compose_config(overrides)
    return caught.value


def test_describe_unknown_group_option():
    line = describe_config_error(composition_error("optimizer=adamw"))
    assert line == "config error: optimizer=adamw is not an option: choose one of adam, gd, sgd"


def test_describe_unknown_key_lists_the_keys_of_its_node():
    line = describe_config_error(composition_error("optimizer.lrr=1"))
    assert line == "config error: unknown key 'optimizer.lrr': the keys of 'optimizer' are lr, betas, eps, weight_decay"
    line = describe_config_error(composition_error("foo=1"))
    assert line == ("config error: unknown key 'foo': the keys of the root are model, optimizer, sparsity, "
                    "schedule, data, callbacks, trainer, tracking, beta, seed")


def test_describe_wrong_type_names_the_key():
    line = describe_config_error(composition_error("trainer.epochs=many"))
    assert line.startswith("config error: trainer.epochs: ") and "int" in line.lower()
    assert "\n" not in line


def test_describe_any_other_error_in_one_line():
    assert describe_config_error(ValueError("first\n  second\nthird")) == "config error: first second"
    assert describe_config_error(ValueError("")) == "config error: ValueError"


# --- compare ------------------------------------------------------------------------------------


def jobs() -> list[JobSummary]:
    return [
        JobSummary("a", "fast", "FINISHED", {"optimizer.name": "adam"}, {"train/loss": [1.0, 0.3, 0.2]}),
        JobSummary("b", "slow", "FINISHED", {"optimizer.name": "sgd"}, {"train/loss": [1.0, 0.8, 0.4]}),
        JobSummary("c", "broken", "FAILED", {"optimizer.name": "gd"}, {"train/loss": [1.0]}),
        JobSummary("d", "diverged", "FINISHED", {"optimizer.name": "sgd"}, {"train/loss": [1.0, math.nan]}),
    ]


def test_add_speedups_against_the_worst_finished_final_loss():
    runs = jobs()
    assert add_speedups(runs) == 0.4  # the NaN final loss and the FAILED job do not count
    assert [j.epochs_to_threshold for j in runs] == [2, 3, None, None]
    assert [j.speedup for j in runs] == [1.5, 1.0, None, None]


def test_add_speedups_with_a_threshold_some_jobs_never_reach():
    runs = jobs()
    assert add_speedups(runs, threshold=0.25) == 0.25
    assert [j.epochs_to_threshold for j in runs[:2]] == [3, None]
    assert [j.speedup for j in runs[:2]] == [1.0, None]


def test_add_speedups_of_no_finished_job_is_nan():
    assert math.isnan(add_speedups([jobs()[2]]))


def test_format_table_aligns_columns_and_shows_missing_values():
    runs = jobs()
    add_speedups(runs)
    table = [{"optimizer.name": j.params["optimizer.name"], "status": j.status, "final_loss": j.final("train/loss"),
              "epochs_to_threshold": j.epochs_to_threshold, "speedup": j.speedup, "run_id": j.run_id}
             for j in runs]
    lines = format_table(table).splitlines()
    assert len(lines) == 5
    header = lines[0].split()
    assert header == list(table[0])
    starts = [lines[0].index(name) for name in header]
    for line in lines[1:]:  # every cell starts under its column name
        assert [line[s:].split()[0] for s in starts] == line.split(), line
        assert all(line[s - 1] == " " for s in starts[1:]), line
    assert lines[1].split() == ["adam", "FINISHED", "0.2", "2", "1.5", "a"]
    assert lines[3].split() == ["gd", "FAILED", "1", "-", "-", "c"]
    assert lines[4].split() == ["sgd", "FINISHED", "nan", "-", "-", "d"]
    assert format_table([]) == "(no runs)"


def test_format_table_rounds_floats_to_four_significant_digits():
    assert format_table([{"x": 0.123456, "y": None, "z": "s"}]).splitlines()[1].split() == ["0.1235", "-", "s"]


# --- trainer ------------------------------------------------------------------------------------


def tiny(*overrides: str, epochs: int = 3, batch_size: int | None = 8, log_every: int = 2):
    cfg = compose_config(["model.input_dim=16", "model.hidden_dim=4", f"trainer.epochs={epochs}", *overrides])
    images = np.random.default_rng(1).random((40, 16)).astype(np.float32)
    labels = np.zeros(40, dtype=np.int64)
    data = Dataset("tiny", "random pixels", images, labels, images[:16], labels[:16])
    return cfg, build(cfg, np.random.default_rng(0)), data, Settings(epochs, batch_size, log_every, progress=False)


class Seen(Callback):
    """A callback that keeps what it was shown."""

    def __init__(self):
        self.seen = []

    def on_epoch_end(self, state):
        self.seen.append((state.epoch, dict(state.metrics), list(state.step_losses)))


def test_fit_on_tiny_data_hands_each_epoch_to_the_callbacks():
    cfg, parts, data, settings = tiny()
    seen = Seen()
    state = fit(parts.model, parts.optimizer, parts.schedule, data, [seen], objective=parts.objective,
                settings=settings, rng=np.random.default_rng(2))
    assert [e for e, _, _ in seen.seen] == [1, 2, 3] and state.epoch == 3
    for _, row, _ in seen.seen:
        assert set(row) == set(EPOCH_METRICS) and all(math.isfinite(v) for v in row.values())
        assert row["train/loss"] == pytest.approx(row["train/recon_loss"] + row["train/sparsity_loss"], rel=1e-5)
        assert row["train/sparsity_loss"] > 0
    assert [row["lr"] for _, row, _ in seen.seen] == pytest.approx([0.01, 0.0055, 0.001])  # the schedule
    assert state.history["train/loss"][-1] < state.history["train/loss"][0]
    # 40 images, batch 8: 5 steps an epoch; every 2nd global step logged, numbered across epochs
    assert [s for s, _ in seen.seen[0][2]] == [2, 4] and [s for s, _ in seen.seen[1][2]] == [6, 8, 10]
    val = measure(parts.model, data.train_images, chunk=16)  # in chunks, as on a large validation set
    whole = measure(parts.model, data.train_images)
    assert val.recon_loss == pytest.approx(whole.recon_loss, rel=1e-5)
    assert 0 < val.mean_activation < 1 and 0 <= val.near_zero_fraction <= 1 and 0 <= val.dead_units <= 4


def test_fit_continues_after_epochs_done_with_their_history():
    cfg, parts, data, settings = tiny()
    seen = Seen()
    state = fit(parts.model, parts.optimizer, parts.schedule, data, [seen], objective=parts.objective,
                settings=settings, rng=np.random.default_rng(2), epochs_done=2,
                history={k: [1.0, 2.0] for k in EPOCH_METRICS})
    assert [e for e, _, _ in seen.seen] == [3] and state.history["train/loss"][:2] == [1.0, 2.0]
    assert len(state.history["train/loss"]) == 3


def test_fit_full_batch_is_one_step_an_epoch():
    cfg, parts, data, settings = tiny("optimizer=gd", epochs=1, batch_size=None, log_every=1)
    assert cfg.trainer.batch_size is None
    state = fit(parts.model, parts.optimizer, parts.schedule, data, objective=parts.objective, settings=settings,
                rng=np.random.default_rng(0))
    assert state.step_losses == [(1, pytest.approx(state.history["train/loss"][0]))]


def test_fit_divergence_names_epoch_and_step():
    # sigmoid outputs keep the loss bounded whatever the lr: identity outputs let it blow up
    _, parts, data, settings = tiny("optimizer=sgd", "optimizer.lr=1e4", "model.output_activation=identity",
                                    "schedule=constant",
                                    log_every=1)
    seen = Seen()
    with np.errstate(all="ignore"), pytest.raises(TrainingDiverged) as caught:
        fit(parts.model, parts.optimizer, parts.schedule, data, [seen], objective=parts.objective,
            settings=settings, rng=np.random.default_rng(0))
    message = str(caught.value)
    epoch = len(seen.seen) + 1
    assert re.search(rf"at epoch {epoch}, step [1-5] of 5 ", message), message  # the epoch it stopped in
    assert "lr=10000" in message and "optimizer.lr" in message


def test_blas_threads_limits_blas_inside_the_block_only():
    from threadpoolctl import threadpool_info

    def blas() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before = blas()
    assert before, "NumPy's BLAS should be visible to threadpoolctl"
    other = 2 if before[0] == 1 else 1  # a count it does not have yet
    with blas_threads(other):
        assert blas() == [other] * len(before)
    assert blas() == before
    with blas_threads(None):
        assert blas() == before


def test_blas_threads_auto_is_the_default_and_one_thread_for_the_default_model():
    from sparsegrad.experiment.schema import validate

    cfg = compose_config()
    validate(cfg)  # "auto" is allowed
    t, m = cfg.trainer, cfg.model
    assert t.blas_threads == "auto"
    assert resolve_blas_threads(t.blas_threads, t.batch_size, m.input_dim, m.hidden_dim) == 1


def test_blas_threads_auto_takes_every_core_for_big_products_and_a_number_is_kept():
    import os

    assert resolve_blas_threads("auto", 4000, 784, 1024) == os.cpu_count()  # full batch, a wide model
    assert resolve_blas_threads(3, 32, 784, 64) == 3
    assert resolve_blas_threads(None, 4000, 784, 1024) is None


# --- what a user is told ------------------------------------------------------------------------


def test_a_checkpoint_that_cannot_be_written_is_one_error_naming_it_and_leaves_no_temporary_file(tmp_path):
    from sparsegrad.experiment.checkpoint import save_checkpoint
    from sparsegrad.experiment.errors import ExperimentError
    from sparsegrad.experiment.trainer import TrainState

    _, parts, _, _ = tiny()
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    state = TrainState(parts.model, parts.optimizer, parts.schedule, np.random.default_rng(0), epoch=1)
    with pytest.raises(ExperimentError, match=f"cannot write the checkpoint {blocker}/run/checkpoint.npz"):
        save_checkpoint(blocker / "run" / "checkpoint.npz", state)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.fixture
def store(store_template, tmp_path) -> str:
    from tests.harness import copy_store

    return copy_store(store_template.result(), tmp_path / "store" / "mlflow.db")


def test_every_epoch_is_written_before_the_outcome_is_recorded(store, tmp_path):
    from sparsegrad.experiment.callbacks import MetricLogger, ModelCheckpoint
    from sparsegrad.experiment.checkpoint import checkpoint_epoch
    from sparsegrad.experiment.run import Run
    from sparsegrad.experiment.tracking import Tracker
    from tests.harness import client_for

    _, parts, data, settings = tiny(epochs=4)
    with Run(Tracker(store, "sparsegrad"), tmp_path / "run", epochs=4) as run:
        fit(parts.model, parts.optimizer, parts.schedule, data, [MetricLogger(), ModelCheckpoint()],
            objective=parts.objective, settings=settings, rng=np.random.default_rng(0), recorder=run.recorder)
    client = client_for(store)
    assert client.get_run(run.run_id).info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.run_id, "train/loss")] == [1, 2, 3, 4]
    assert checkpoint_epoch(tmp_path / "run" / "checkpoint.npz") == 4


def test_a_write_that_fails_fails_the_run_and_keeps_the_last_checkpoint(store, tmp_path):
    from sparsegrad.experiment.callbacks import MetricLogger, ModelCheckpoint
    from sparsegrad.experiment.checkpoint import checkpoint_epoch
    from sparsegrad.experiment.errors import RunFailed
    from sparsegrad.experiment.run import Run
    from sparsegrad.experiment.tracking import Tracker
    from tests.harness import client_for

    class BlockTheCheckpoint(Callback):  # a real failure: the checkpoint's temporary file cannot be made
        def on_epoch_end(self, state):
            if state.epoch == 3:
                (tmp_path / "run" / "checkpoint.npz.tmp.npz").mkdir()

    _, parts, data, settings = tiny(epochs=4)
    with pytest.raises(RunFailed, match="cannot write the checkpoint"):
        with Run(Tracker(store, "sparsegrad"), tmp_path / "run", epochs=4) as run:
            fit(parts.model, parts.optimizer, parts.schedule, data,
                [ModelCheckpoint(), MetricLogger(), BlockTheCheckpoint()], objective=parts.objective,
                settings=settings, rng=np.random.default_rng(0), recorder=run.recorder)
    got = client_for(store).get_run(run.run_id)
    assert got.info.status == "FAILED" and "cannot write the checkpoint" in got.data.tags["failure_reason"]
    assert [m.step for m in client_for(store).get_metric_history(run.run_id, "train/loss")] == [1, 2]
    assert checkpoint_epoch(tmp_path / "run" / "checkpoint.npz") == 2  # the last good one, kept


def test_an_interruption_mid_epoch_leaves_the_finished_epochs_handed_to_the_callbacks():
    _, parts, data, settings = tiny(epochs=4)
    seen = Seen()

    class CtrlC(Callback):
        def on_before_update(self, state, step):
            if state.epoch == 2:  # in epoch 3
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(parts.model, parts.optimizer, parts.schedule, data, [seen, CtrlC()], objective=parts.objective,
            settings=settings, rng=np.random.default_rng(0))
    assert [epoch for epoch, _, _ in seen.seen] == [1, 2]
    assert "val/recon_loss" in seen.seen[-1][1]


def test_an_interruption_after_the_last_epoch_says_so():
    from sparsegrad.experiment.recorder import Recorder
    from sparsegrad.experiment.run import Run

    run = Run(None, Path("."), epochs=6)
    run.recorder = Recorder(None, "run0", Path("."))
    run.recorder.epochs_logged = 6
    status, reason = run._outcome(KeyboardInterrupt("SIGTERM"))
    assert status == "KILLED" and "after its last epoch (6)" in reason and "epoch 7" not in reason


def test_compare_refuses_a_threshold_that_is_not_a_finite_number(capsys):
    import importlib.util

    path = Path(__file__).parents[2] / "scripts" / "compare.py"
    spec = importlib.util.spec_from_file_location("compare_script", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with pytest.raises(SystemExit) as stopped:
        script.parse_args(["--threshold", "nan"])
    assert stopped.value.code == 2 and "nan is not a finite number" in capsys.readouterr().err
