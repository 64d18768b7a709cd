"""Past one machine: a real `mlflow server`, a sweep logging to it over HTTP, everything read back over HTTP."""

from __future__ import annotations

import csv
import subprocess
import sys

from tests.harness import ROOT, client_for, sweep_runs


def test_sweep_against_a_tracking_server(mlflow_server, server_sweep, tmp_path):
    sweep = server_sweep  # started as soon as /health answered
    assert sweep.uri == mlflow_server.url and mlflow_server.url.startswith("http://127.0.0.1:")
    assert sweep.returncode == 0, sweep.output() + "\n--- server\n" + mlflow_server.log()
    parents, children = sweep_runs(mlflow_server.url)  # MlflowClient over HTTP
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent_id = parents[0].info.run_id
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent_id}
    client = client_for(mlflow_server.url)
    assert len(client.get_metric_history(children[0].info.run_id, "loss")) == 2  # trainer.epochs=2
    path = client.download_artifacts(parent_id, "comparison/summary.csv", str(tmp_path))
    with open(path, newline="") as f:
        assert sorted(row["optimizer"] for row in csv.DictReader(f)) == ["adam", "sgd"]
    # artifacts went through the server into its artifacts directory, not to a path on the client
    stored = mlflow_server.dir / "mlartifacts"
    assert len(list(stored.rglob("weights.npz"))) == 2 and list(stored.rglob("convergence.png"))
    assert not (sweep.dir / "mlartifacts").exists() and not (sweep.dir / "mlruns").exists()


def test_make_server_runs_mlflow_server_on_the_project_store():
    make = ["make", "--no-print-directory", "-n", "-o", "install", "server", f"PYTHON={sys.executable}"]
    shown = subprocess.run([*make, "PORT=5123"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    command = " ".join(shown.replace("\\\n", " ").split())
    # the interpreter make installs into runs the server (not whichever `mlflow` is first on PATH)
    assert command.startswith(f"MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false {sys.executable} -m mlflow server ")
    assert f"--backend-store-uri sqlite:///{ROOT}/mlflow.db" in command
    assert "--host 127.0.0.1" in command and "--port 5123" in command
    shown = subprocess.run([*make, "HOST=0.0.0.0"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "--host 0.0.0.0 --port 5000" in shown  # for jobs on other machines
    assert f"--artifacts-destination {ROOT}/mlartifacts" in command
