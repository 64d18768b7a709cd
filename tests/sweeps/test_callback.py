"""The sweep's parent `Run` and its jobs' runs, in-process: the outcomes a sweep must make visible."""

from __future__ import annotations

import json
import logging
import math

import pytest
from hydra.types import RunMode
from omegaconf import open_dict

from sparsegrad.experiment.job import Job, train
from sparsegrad.experiment.run import Run
from sparsegrad.experiment.sweep import PARENT_FILE, MlflowSweepCallback, parent_run_of, sweep_overrides
from sparsegrad.experiment.task import run_task
from sparsegrad.experiment.tracking import Tracker
from tests.harness import TINY, client_for, copy_store
from tests.sweeps.test_configs import compose_hydra


def multirun_config(tmp_path, *overrides):
    cfg = compose_hydra([f"hydra.sweep.dir={tmp_path / 'sweep'}", *overrides])
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.job.num = 0
        cfg.hydra.runtime.output_dir = str(tmp_path / "sweep" / "0")
    return cfg


@pytest.fixture
def store(store_template, tmp_path) -> str:
    """A fresh sqlite store (a copy of an empty one)."""
    return copy_store(store_template.result(), tmp_path / "store" / "mlflow.db")


@pytest.fixture
def started(store, tmp_path):
    """A sweep callback whose parent run is open, as after `on_multirun_start`."""
    callback = MlflowSweepCallback()
    cfg = multirun_config(tmp_path, f"tracking.uri={store}", *TINY)
    callback.on_multirun_start(cfg)
    yield callback, cfg, store
    callback._abandon()  # (a no-op once the sweep has ended)


def test_unreachable_store_stops_the_sweep_before_any_job(tmp_path, capsys):
    cfg = multirun_config(tmp_path, "tracking.uri=http://127.0.0.1:9")
    with pytest.raises(SystemExit) as stopped:  # Hydra would turn any other exception into a warning
        MlflowSweepCallback().on_multirun_start(cfg)
    assert stopped.value.code == 1
    assert "cannot reach the MLflow tracking server at http://127.0.0.1:9" in capsys.readouterr().err
    assert parent_run_of(tmp_path / "sweep") is None


def test_bad_config_stops_the_sweep_with_exit_code_2(tmp_path, capsys):
    cfg = multirun_config(tmp_path, "beta=-1", f"tracking.uri=sqlite:///{tmp_path}/never.db")
    with pytest.raises(SystemExit) as stopped:
        MlflowSweepCallback().on_multirun_start(cfg)
    assert stopped.value.code == 2 and "beta=-1.0 is not allowed" in capsys.readouterr().err
    assert not (tmp_path / "never.db").exists()


def test_parent_name_includes_the_experiments_sweep(tmp_path):
    cfg = compose_hydra(["experiment=optimizer_comparison", "data=mnist_sample"])
    with open_dict(cfg):
        cfg.hydra.overrides.task = ["experiment=optimizer_comparison", "data=mnist_sample"]
    assert sweep_overrides(cfg) == ["experiment=optimizer_comparison", "data=mnist_sample",
                                    "+experiment/optimizer_comparison=gd,sgd,adam"]


def test_a_crashing_job_is_failed_and_the_sweep_goes_on(store, tmp_path, caplog):
    tracker = Tracker(store, "sparsegrad")
    run = Run(tracker, tmp_path / "job", name="job")

    def job() -> float:
        with run:
            raise ZeroDivisionError("a bug")

    with caplog.at_level(logging.ERROR):
        assert math.isnan(run_task(job, job_of_sweep=True))  # swallowed: the next job runs
    assert run.status == "FAILED" and run.reason == "ZeroDivisionError: a bug"
    assert "ZeroDivisionError: a bug" in caplog.text and "Traceback" in caplog.text  # in the job's log
    got = client_for(store).get_run(run.run_id)
    assert got.info.status == "FAILED" and got.data.tags["failure_reason"] == "ZeroDivisionError: a bug"


def test_ctrl_c_in_a_job_is_killed_and_stops_the_sweep(store, tmp_path):
    tracker = Tracker(store, "sparsegrad")
    with pytest.raises(KeyboardInterrupt):
        with Run(tracker, tmp_path / "job", name="job") as run:
            raise KeyboardInterrupt("SIGTERM")
    assert client_for(store).get_run(run.run_id).info.status == "KILLED"


def test_a_job_with_a_value_out_of_range_gets_a_failed_run_tagged_as_its_sweeps(started, tmp_path):
    callback, cfg, store = started
    parent = parent_run_of(tmp_path / "sweep")
    job_cfg = compose_hydra([f"tracking.uri={store}", *TINY, "sparsity.target=0", "optimizer=sgd"])
    with open_dict(job_cfg):
        del job_cfg["hydra"]
    job = Job(tmp_path / "sweep" / "7", ["sparsity.target=0", "optimizer=sgd"], {"optimizer": "sgd"}, parent, 7)
    assert math.isnan(run_task(lambda: train(job_cfg, job), job_of_sweep=True))  # the sweep goes on
    (new,) = client_for(store).search_runs([callback.parent.tracker.experiment_id],
                                           f"tags.mlflow.parentRunId = '{parent}'")
    assert new.info.status == "FAILED" and "sparsity.target=0 is not allowed" in new.data.tags["failure_reason"]
    assert new.info.run_name == "sparsity.target=0,optimizer=sgd" and new.data.tags["sweep_job"] == "7"
    assert new.data.params["sparsity.target"] == "0" and "optimizer.betas" not in new.data.params
    assert json.loads(new.data.tags["sparsegrad.choices"])["optimizer"] == "sgd"


def test_a_sweep_whose_every_job_failed_has_a_failed_parent(started, tmp_path, capsys):
    callback, cfg, store = started
    parent = callback.parent.run_id
    with pytest.raises(ValueError), Run(Tracker(store, "sparsegrad"), tmp_path / "j", name="j", parent_run_id=parent):
        raise ValueError("boom")
    with pytest.raises(SystemExit) as stopped:
        callback.on_multirun_end(cfg)
    assert stopped.value.code == 1
    assert "none of the sweep's 1 jobs finished" in capsys.readouterr().err
    got = client_for(store).get_run(parent)
    assert got.info.status == "FAILED" and got.data.tags["jobs_failed"] == "1"


def test_a_failed_comparison_fails_the_parent_and_the_command(started, monkeypatch, capsys):
    import sparsegrad.experiment.compare as compare

    def broken(*args, **kwargs):
        raise RuntimeError("no disk left")

    callback, cfg, store = started
    parent = callback.parent.run_id
    monkeypatch.setattr(compare, "report_sweep", broken)
    with pytest.raises(SystemExit) as stopped:
        callback.on_multirun_end(cfg)
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "RuntimeError: no disk left" in err
    assert f"python scripts/compare.py --parent {parent} --attach" in err
    after = client_for(store).get_run(parent)
    assert after.info.status == "FAILED" and "no disk left" in after.data.tags["failure_reason"]


def test_a_sweep_that_never_ends_leaves_its_parent_and_running_jobs_killed(started, tmp_path, capsys):
    callback, cfg, store = started
    parent = callback.parent.run_id
    tracker = Tracker(store, "sparsegrad")
    orphan = tracker.start_run("a job whose worker was killed", parent_run_id=parent)
    callback._abandon()  # what atexit calls when on_multirun_end never ran
    client = client_for(store)
    run = client.get_run(parent)
    assert run.info.status == "KILLED" and "stopped before all its jobs ended" in run.data.tags["failure_reason"]
    assert client.get_run(orphan).info.status == "KILLED"
    assert f"trainer.resume={orphan}" in client.get_run(orphan).data.tags["failure_reason"]
    assert orphan in capsys.readouterr().out
    assert (tmp_path / "sweep" / PARENT_FILE).is_file()


def _a_job(store, tmp_path, parent, number, beta):
    job_cfg = compose_hydra([f"tracking.uri={store}", *TINY, f"beta={beta}"])
    with open_dict(job_cfg):
        del job_cfg["hydra"]
    return job_cfg, Job(tmp_path / "sweep" / str(number), [f"beta={beta}"], {}, parent, number)


def test_a_job_of_a_sweep_records_its_outcome_and_figures_before_it_returns(started, tmp_path):
    callback, cfg, store = started
    parent = callback.parent.run_id
    train(*_a_job(store, tmp_path, parent, 0, 0.1))  # one thread: everything is written when it returns
    client = client_for(store)
    (child,) = client.search_runs([callback_experiment(client)], f"tags.mlflow.parentRunId = '{parent}'")
    assert child.info.status == "FINISHED"
    plots = {f.path for f in client.list_artifacts(child.info.run_id, "plots")}
    assert plots == {f"plots/{n}.png" for n in ("activations", "features", "gradients", "loss_curve",
                                                 "reconstructions")}
    callback.on_multirun_end(cfg)
    assert client.get_run(parent).info.status == "FINISHED"


def test_a_sweep_interrupted_in_its_next_job_keeps_the_finished_one(started, tmp_path):
    callback, cfg, store = started
    parent = callback.parent.run_id
    train(*_a_job(store, tmp_path, parent, 0, 0.1))
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C in the next job
        with Run(Tracker(store, "sparsegrad"), tmp_path / "sweep" / "1", name="next", parent_run_id=parent):
            raise KeyboardInterrupt("SIGTERM")
    callback._abandon()  # what atexit calls
    client = client_for(store)
    runs = {r.info.run_name: r for r in client.search_runs([callback_experiment(client)],
                                                           f"tags.mlflow.parentRunId = '{parent}'")}
    assert runs["beta=0.1"].info.status == "FINISHED" and runs["next"].info.status == "KILLED"
    assert len(client.list_artifacts(runs["beta=0.1"].info.run_id, "plots")) == 5


def callback_experiment(client) -> str:
    return client.get_experiment_by_name("sparsegrad").experiment_id


def test_the_callback_with_its_open_parent_can_be_sent_to_a_parallel_launchers_workers(started):
    import pickle

    callback, cfg, store = started
    copy = pickle.loads(pickle.dumps(callback))  # what joblib and submitit do with the callbacks
    assert copy.parent.run_id == callback.parent.run_id


def sweep_config(tmp_path, uri, *swept):
    cfg = multirun_config(tmp_path, f"tracking.uri={uri}", *TINY)
    with open_dict(cfg):
        cfg.hydra.overrides.task = [f"tracking.uri={uri}", *TINY, *swept]
    return cfg


def test_a_sweep_checks_every_jobs_config_before_its_parent_opens(tmp_path, capsys):
    cfg = sweep_config(tmp_path, f"sqlite:///{tmp_path}/never.db", "optimizer.lr=0.01,-1")
    with pytest.raises(SystemExit) as stopped:
        MlflowSweepCallback().on_multirun_start(cfg)
    err = capsys.readouterr().err
    assert stopped.value.code == 2 and err.splitlines() == ["config error: optimizer.lr=-1 is not allowed: "
                                                             "a finite number > 0"]
    assert not (tmp_path / "never.db").exists() and parent_run_of(tmp_path / "sweep") is None


def test_the_parent_logs_the_sweeps_space_not_one_value_of_it_and_its_provenance(store, tmp_path):
    callback = MlflowSweepCallback()
    callback.on_multirun_start(sweep_config(tmp_path, store, "beta=0,0.5"))
    try:
        parent = client_for(store).get_run(callback.parent.run_id)
        assert parent.data.params["sweep.beta"] == "0,0.5" and "beta" not in parent.data.params
        assert parent.data.params["optimizer.lr"] == "0.01"  # what every job shares
        assert parent.data.tags["mlflow.source.name"] == "scripts/train.py" and "mlflow.user" in parent.data.tags
        assert parent.data.tags["sweep_dir"] == str((tmp_path / "sweep").resolve())
    finally:
        callback._abandon()
