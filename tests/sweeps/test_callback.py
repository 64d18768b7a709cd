"""MlflowSweepCallback in-process: failures it must make visible, and jobs that fail before their run starts."""

from __future__ import annotations

import json
import math
import shutil

import pytest
from hydra.core.utils import JobReturn, JobStatus
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict

from sparsegrad.experiment.sweep import PARENT_FILE, MlflowSweepCallback, parent_run_of, sweep_overrides
from tests.sweeps.helpers import client_for, sweep_runs
from tests.sweeps.test_configs import compose_hydra


def multirun_config(tmp_path, *overrides):
    cfg = compose_hydra([f"hydra.sweep.dir={tmp_path / 'sweep'}", *overrides])
    with open_dict(cfg):
        cfg.hydra.mode = RunMode.MULTIRUN
        cfg.hydra.job.num = 0
        cfg.hydra.runtime.output_dir = str(tmp_path / "sweep" / "0")
    return cfg


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


def failed_job(cfg, error: Exception) -> JobReturn:
    job = JobReturn()
    job.overrides = list(cfg.hydra.overrides.task)
    job.return_value = error
    job.status = JobStatus.FAILED
    return job


def test_a_crashing_job_does_not_stop_the_sweep(tmp_path, caplog):
    cfg = multirun_config(tmp_path)  # no parent file: nothing is written to MLflow
    job = failed_job(cfg, ZeroDivisionError("a bug"))
    MlflowSweepCallback().on_job_end(cfg, job)
    assert job.status == JobStatus.COMPLETED and math.isnan(job.return_value)  # the sweeper will not raise
    assert "ZeroDivisionError: a bug" in caplog.text  # with its traceback, in the job's log


@pytest.fixture
def store_copy(basic_sweep, tmp_path):
    """The finished basic sweep's store, copied (a store with its schema, without migrating a new one)."""
    db = tmp_path / "copy.db"
    shutil.copy(basic_sweep.dir / "mlflow.db", db)
    return f"sqlite:///{db}"


def test_a_job_that_fails_before_its_run_gets_a_failed_run(store_copy, tmp_path):
    uri = store_copy
    (parent,), before = sweep_runs(uri)
    cfg = multirun_config(tmp_path, f"tracking.uri={uri}", "sparsity.target=0", "optimizer=sgd")
    with open_dict(cfg):
        cfg.hydra.overrides.task = ["sparsity.target=0", "optimizer=sgd"]
        cfg.hydra.runtime.output_dir = str(tmp_path / "sweep" / "7")
        cfg.hydra.job.num = 7
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / PARENT_FILE).write_text(json.dumps({"run_id": parent.info.run_id, "uri": uri}))
    job = JobReturn()  # train.py caught the ConfigError and returned NaN: no run was made
    job.overrides, job.return_value, job.status = list(cfg.hydra.overrides.task), math.nan, JobStatus.COMPLETED
    MlflowSweepCallback().on_job_end(cfg, job)
    _, after = sweep_runs(uri)
    (new,) = [r for r in after if r.info.run_id not in {b.info.run_id for b in before}]
    assert new.info.status == "FAILED" and new.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert "sparsity.target=0.0 is not allowed" in new.data.tags["failure_reason"]
    assert new.info.run_name == "sparsity.target=0,optimizer=sgd" and new.data.tags["sweep_job"] == "7"
    assert new.data.params["sparsity.target"] == "0.0"
    assert OmegaConf.select(cfg, "hydra.runtime.choices.optimizer") == "sgd"
    assert json.loads(new.data.tags["sparsegrad.choices"])["optimizer"] == "sgd"
    assert client_for(uri).get_run(parent.info.run_id).info.status == "FINISHED"


def test_a_failed_comparison_fails_the_parent_and_the_command(store_copy, tmp_path, monkeypatch, capsys):
    import sparsegrad.experiment.compare as compare

    def broken(*args, **kwargs):
        raise RuntimeError("no disk left")

    monkeypatch.setattr(compare, "report_sweep", broken)
    (parent,), _ = sweep_runs(store_copy)
    client_for(store_copy).update_run(parent.info.run_id, "RUNNING")
    cfg = multirun_config(tmp_path, f"tracking.uri={store_copy}")
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / PARENT_FILE).write_text(json.dumps({"run_id": parent.info.run_id, "uri": store_copy}))
    with pytest.raises(SystemExit) as stopped:
        MlflowSweepCallback().on_multirun_end(cfg)
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert "comparison failed: RuntimeError: no disk left" in err
    assert f"python scripts/compare.py --parent {parent.info.run_id} --attach" in err
    after = client_for(store_copy).get_run(parent.info.run_id)
    assert after.info.status == "FAILED" and "no disk left" in after.data.tags["failure_reason"]


def test_a_sweep_that_never_ends_leaves_its_parent_killed(store_copy):
    from sparsegrad.experiment import sweep
    from sparsegrad.experiment.tracking import Tracker

    tracker = Tracker(store_copy, "sparsegrad")
    run_id = tracker.start_run("sweep interrupted", tags={"sparsegrad.sweep": "parent"})
    sweep._open_parents[run_id] = (store_copy, "sparsegrad")  # as on_multirun_start leaves it
    sweep._end_open_parent(run_id)  # what atexit calls when on_multirun_end never ran
    run = tracker.client.get_run(run_id)
    assert run.info.status == "KILLED" and "stopped before all its jobs ended" in run.data.tags["failure_reason"]
    assert run_id not in sweep._open_parents
