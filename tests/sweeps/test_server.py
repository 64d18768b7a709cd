"""Past one machine: a real `mlflow server`, a sweep logging to it over HTTP, everything read back over HTTP."""

from __future__ import annotations

import csv
import socket
import subprocess
import sys

from tests.harness import ROOT, TINY, client_for, store_uri, sweep_runs, train


def test_sweep_against_a_tracking_server(mlflow_server, server_sweep, tmp_path):
    sweep = server_sweep  # started as soon as /health answered
    assert sweep.uri == mlflow_server.url and mlflow_server.url.startswith("http://127.0.0.1:")
    assert sweep.returncode == 0, sweep.output() + "\n--- server\n" + mlflow_server.log()
    parents, children = sweep_runs(mlflow_server.url)  # MlflowClient over HTTP (other tests log there too)
    (parent,) = [p for p in parents if p.data.tags.get("launcher") == "BasicLauncher"]
    assert parent.info.status == "FINISHED"
    parent_id = parent.info.run_id
    children = [c for c in children if c.data.tags["mlflow.parentRunId"] == parent_id]
    assert len(children) == 2 and all(c.info.status == "FINISHED" for c in children)
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent_id}
    client = client_for(mlflow_server.url)
    assert len(client.get_metric_history(children[0].info.run_id, "train/loss")) == 2  # trainer.epochs=2
    path = client.download_artifacts(parent_id, "comparison/summary.csv", str(tmp_path))
    with open(path, newline="") as f:
        assert sorted(row["optimizer"] for row in csv.DictReader(f)) == ["adam", "sgd"]
    # artifacts went through the server into its artifacts directory, not to a path on the client
    stored = mlflow_server.dir / "mlartifacts"
    for child in children:
        assert len(list(stored.rglob(f"{child.info.run_id}/artifacts/model/weights.npz"))) == 1
    assert list(stored.rglob(f"{parent_id}/artifacts/comparison/convergence.png"))
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
    assert '--allowed-hosts "127.0.0.1,127.0.0.1:5123,' in command  # else http://<hostname>:PORT gets a 403


def test_a_job_on_another_machine_logs_by_host_name_and_uploads_its_artifacts(mlflow_server, tmp_path):
    """Through http://<this machine's name>:PORT, as a job elsewhere would (the name resolves to loopback)."""
    uri = f"http://{socket.gethostname()}:{mlflow_server.port}"
    outcome = train([*TINY, f"tracking.uri={uri}", "tracking.experiment=team"], tmp_path / "job",
                    cwd=tmp_path).wait()
    assert outcome.returncode == 0, outcome.output() + "\n--- server\n" + mlflow_server.log()
    client = client_for(uri)
    experiment = client.get_experiment_by_name("team")
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # made through the server
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert list((mlflow_server.dir / "mlartifacts").rglob("weights.npz"))  # uploaded to the server's disk
    assert not (tmp_path / "mlartifacts").exists() and not (tmp_path / "mlruns").exists()


def test_logging_through_a_server_into_an_experiment_with_local_artifacts_is_refused(mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    local = (tmp_path / "somewhere").as_uri()  # an experiment made through the store file, not the server
    MlflowClient(store_uri(mlflow_server.dir)).create_experiment("local-artifacts", artifact_location=local)
    outcome = train([*TINY, f"tracking.uri={mlflow_server.url}", "tracking.experiment=local-artifacts"],
                    tmp_path / "job", cwd=tmp_path).wait()
    assert outcome.returncode == 1, outcome
    (line,) = outcome.error_lines
    assert local in line and "tracking.experiment=" in line, line
    assert not client_for(mlflow_server.url).search_runs(
        [client_for(mlflow_server.url).get_experiment_by_name("local-artifacts").experiment_id])


def test_make_server_answers_its_own_host_names():
    shown = subprocess.run(["make", "-s", "--no-print-directory", "allowed-hosts", "HOST=0.0.0.0", "PORT=5123"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip().split(",")
    assert {"0.0.0.0:5123", f"{socket.gethostname()}:5123", "localhost:5123", "127.0.0.1:5123"} <= set(shown)


def test_a_submitit_sweep_of_separate_processes_logs_to_the_server(mlflow_server, submitit_sweep):
    """Hydra's submitit_local launcher: the code path of SLURM, each job a process of its own."""
    sweep = submitit_sweep
    assert sweep.returncode == 0, sweep.output() + "\n--- server\n" + mlflow_server.log()
    parents, children = sweep_runs(mlflow_server.url)
    (parent,) = [p for p in parents if p.data.tags.get("launcher") == "LocalLauncher"]
    mine = [c for c in children if c.data.tags["mlflow.parentRunId"] == parent.info.run_id]
    assert len(mine) == 2 and all(c.info.status == "FINISHED" for c in mine), mine
    assert parent.info.status == "FINISHED"
    owners = {c.data.tags["sparsegrad.owner"] for c in mine}
    assert len(owners) == 2, "the jobs ran in the same process"
    client = client_for(mlflow_server.url)
    for child in mine:  # uploaded to the server, not left on the job's disk
        assert {"model/weights.npz"} <= {f.path for f in client.list_artifacts(child.info.run_id, "model")}
        assert any((mlflow_server.dir / "mlartifacts").rglob(f"{child.info.run_id}/artifacts/model/weights.npz"))
