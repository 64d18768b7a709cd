"""Row 3: a loss that becomes NaN or inf stops the run at that step, FAILED, its last good checkpoint kept.

`optimizer=sgd optimizer.lr=1e4` with a linear output layer (`model.output_activation=identity`)
overflows in the second epoch. (With the default sigmoid output and KL penalty the loss is
bounded, clipped to finite values, so that run stalls instead of diverging.) In a sweep the
diverging job fails and the others go on.
"""

from __future__ import annotations

import re

import numpy as np

from tests.harness import TINY, npz_arrays
from tests.reliability.harness import Workspace, scenario

LINEAR_SGD = ("optimizer=sgd", "model.output_activation=identity", "trainer.epochs=3")
WHERE = re.compile(r"at epoch (\d+), step (\d+) of (\d+)")


@scenario
def divergence(ws: Workspace):
    single = ws.start("single", *TINY, *LINEAR_SGD, "optimizer.lr=1e4")
    sweep = ws.start("sweep", "-m", *TINY, *LINEAR_SGD, "optimizer.lr=0.01,1e4")
    return ws, single.wait(), sweep.wait()


def test_a_diverging_run_stops_at_that_step_and_is_failed_saying_where(scenarios):
    ws, outcome, _ = scenarios("divergence")
    assert outcome.returncode == 1, outcome
    assert len(outcome.error_lines) == 1, outcome
    assert WHERE.search(outcome.error_lines[0]), outcome
    run = ws.run_of("single")
    assert run.info.status == "FAILED"
    reason = run.data.tags["failure_reason"]
    epoch = int(WHERE.search(reason).group(1))
    assert epoch == 2, reason
    assert "the checkpoint of epoch 1 is kept" in reason
    losses = ws.client("single").get_metric_history(run.info.run_id, "train/loss")
    assert [m.step for m in losses] == [1], "training went on after the loss diverged"


def test_the_last_good_checkpoint_is_kept_in_the_run_dir_and_in_mlflow(scenarios, tmp_path):
    ws, _, _ = scenarios("divergence")
    run = ws.run_of("single")
    local = npz_arrays(ws.path / "single" / "checkpoint.npz")
    assert int(local["epoch"]) == 1
    assert all(np.isfinite(local[k]).all() for k in local if k.startswith("model/"))
    stored = ws.client("single").download_artifacts(run.info.run_id, "checkpoint/checkpoint.npz", str(tmp_path))
    artifact = npz_arrays(stored)
    assert artifact.keys() == local.keys()
    # (NaN is a value here: the update ratio of a bias sampled only while it was still zero)
    assert all(np.array_equal(artifact[k], local[k], equal_nan=local[k].dtype.kind == "f") for k in local)


def test_in_a_sweep_the_diverging_job_fails_and_the_other_finishes(scenarios):
    ws, _, outcome = scenarios("divergence")
    assert outcome.returncode == 1, outcome  # the sweep ran every job, and says one failed
    client = ws.client("sweep")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    jobs = {r.data.params["optimizer.lr"]: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert len(parents) == 1 and parents[0].info.status != "RUNNING"
    assert sorted(jobs) == ["0.01", "10000.0"], outcome
    assert jobs["0.01"].info.status == "FINISHED"
    assert jobs["10000.0"].info.status == "FAILED"
    assert WHERE.search(jobs["10000.0"].data.tags["failure_reason"])
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in jobs.values())
