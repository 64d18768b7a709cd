"""A sweep on Hydra's basic launcher: one parent run, a child per job, a diverging job FAILED, the comparison."""

from __future__ import annotations

import csv
import json

from tests.harness import client_for, sweep_runs


def test_sweep_survives_a_diverging_job(basic_sweep):
    # every job runs; the exit code and one line say that one of them failed
    assert basic_sweep.returncode == 1, basic_sweep.output()
    assert "1 of 3 jobs did not finish" in basic_sweep.stderr, basic_sweep.output()
    parents, children = sweep_runs(basic_sweep.uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent_id = parents[0].info.run_id
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent_id}
    by_lr = {c.data.params["optimizer.lr"]: c for c in children}
    assert sorted(by_lr) == ["0.02", "0.1", "10000.0"]
    diverged = by_lr["10000.0"]
    assert diverged.info.status == "FAILED"
    assert "loss became" in diverged.data.tags["failure_reason"] or "weights became" in diverged.data.tags[
        "failure_reason"]
    assert by_lr["0.02"].info.status == by_lr["0.1"].info.status == "FINISHED"
    # each child is named from its overrides (as Hydra's sweeper writes them: 1e4 -> 10000.0), and carries
    # them (and its config-group choices) as tags
    assert diverged.info.run_name.endswith("optimizer.lr=10000.0") and "optimizer=sgd" in diverged.info.run_name
    assert "optimizer.lr=10000.0" in json.loads(diverged.data.tags["sparsegrad.overrides"])
    assert json.loads(diverged.data.tags["sparsegrad.choices"])["optimizer"] == "sgd"
    assert parents[0].data.tags["jobs_failed"] == "1"


def test_parent_holds_the_comparison(basic_sweep, tmp_path):
    client = client_for(basic_sweep.uri)
    (parent,), _ = sweep_runs(basic_sweep.uri)
    stored = {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert stored == {"comparison/convergence.png", "comparison/frontier.png", "comparison/summary.csv"}
    path = client.download_artifacts(parent.info.run_id, "comparison/summary.csv", str(tmp_path))
    with open(path, newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 3
    by_lr = {row["optimizer.lr"]: row for row in table}  # the override values
    assert set(by_lr) == {"0.02", "0.1", "10000.0"}
    failed = by_lr["10000.0"]
    assert failed["status"] == "FAILED" and failed["failure_reason"]
    assert failed["speedup"] == failed["steps_to_threshold"] == ""
    for row in (by_lr["0.02"], by_lr["0.1"]):
        assert row["status"] == "FINISHED"
        epochs = int(row["epochs_to_threshold"])
        assert int(row["steps_to_threshold"]) == epochs * 8  # 256 images, batch 32
        assert float(row["speedup"]) >= 1.0
        assert float(row["final_loss"]) > 0 and 0 <= float(row["mean_activation"]) and float(row["val/recon_loss"]) > 0
        assert row["method"] == "relu, no penalty" and 0 <= float(row["l0"]) and float(row["explained_variance"]) <= 1
    assert max(float(by_lr[lr]["speedup"]) for lr in ("0.02", "0.1")) >= 1.0
    png = (basic_sweep.sweep_dir / "comparison" / "convergence.png").read_bytes()
    assert png.startswith(b"\x89PNG")


def test_terminal_shows_the_table(basic_sweep):
    out = basic_sweep.stdout
    assert "3 runs, 1 not FINISHED" in out
    header = next(line for line in out.splitlines() if line.startswith("optimizer.lr"))
    for column in ("status", "final_loss", "val/recon_loss", "mean_activation", "epochs_to_threshold",
                   "steps_to_threshold", "speedup"):
        assert column in header
    assert "FAILED optimizer.lr=10000.0: the loss became inf at epoch 1" in out
    assert "Error executing job" not in basic_sweep.stderr  # the failure did not stop Hydra's sweep
