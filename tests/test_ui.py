"""`make ui`: the link it prints opens an experiment's runs (MLflow 3's model-training view), and the UI
runs without MLflow's job runner.

MLflow 3's UI opens `#/experiments/<id>` on GenAI traces whatever the experiment's tags say; only
`?workflowType=machine_learning` (or the browser's saved choice) opens the runs table. Checked by
hand with headless Chromium on MLflow 3.17 (the README says how); here: what `make ui` prints and
starts.
"""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from tests.harness import ROOT, Process, client_for, copy_store, free_port, subprocess_env

LINK = "http://127.0.0.1:{port}/#/experiments/{id}?workflowType=machine_learning"


def links(db, url="http://127.0.0.1:5000") -> str:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "ui_links.py"), str(db), url],
                          capture_output=True, text=True, check=True).stdout


def test_make_ui_runs_without_the_job_runner_and_prints_links():
    dry = subprocess.run(["make", "-n", "--no-print-directory", "-o", "install", "ui", "STORE=/s/m.db", "PORT=5001"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "scripts/ui_links.py /s/m.db http://127.0.0.1:5001" in dry
    assert "MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false" in dry
    assert "mlflow ui --backend-store-uri sqlite:////s/m.db" in dry
    assert "--workers 1" in dry
    assert "choose 'Model training'" not in dry  # the old advice, which the link makes unneeded


def test_no_store_yet_gives_the_experiments_list_and_creates_nothing(tmp_path):
    db = tmp_path / "mlflow.db"
    out = links(db)
    assert "http://127.0.0.1:5000/#/experiments?workflowType=machine_learning" in out
    assert not db.exists()


@pytest.mark.slow
def test_make_ui_prints_each_experiments_link_and_starts_no_job_runner(tmp_path, store_template):
    db = tmp_path / "mlflow.db"
    client = client_for(copy_store(store_template.result(), db))
    with_runs = client.create_experiment("sparsity_sweep")
    client.set_terminated(client.create_run(with_runs).info.run_id)
    client.create_experiment("empty")  # no runs: no link
    assert links(db).count("/#/experiments/") == 1

    port = free_port()
    ui = Process(["make", "-s", "--no-print-directory", "-o", "install", "ui", f"STORE={db}", f"PORT={port}",
                  f"PYTHON={sys.executable}"], tmp_path, "ui", subprocess_env(), cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert ui.poll() is None, ui.wait()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "the UI did not answer within 120 s"
                time.sleep(0.3)
        printed = ui.out.read_text()
        assert LINK.format(port=port, id=with_runs) in printed, printed
        assert "sparsity_sweep" in printed and "empty" not in printed
        time.sleep(2)  # the job runner, when on, starts its consumers beside the server
        commands = [" ".join(p.cmdline()) for p in psutil.Process(ui.pid).children(recursive=True)]
        assert any("mlflow ui" in c for c in commands), commands
        assert not [c for c in commands if "huey" in c or "_job_runner" in c], commands
        assert not [c for c in commands if "multiprocessing.spawn" in c], commands  # one worker: the server itself
    finally:
        ui.stop()
