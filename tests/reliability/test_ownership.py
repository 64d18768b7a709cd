"""Runs never share a folder or a checkpoint, and two processes never train one run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from sparsegrad.experiment.checkpoint import FILENAME, checkpoint_run, save_checkpoint
from sparsegrad.experiment.errors import ExperimentError
from sparsegrad.experiment.resume import RUN_ID_FILE, find_resume_point
from sparsegrad.experiment.tracking import OWNER_TAG, RUN_DIR_TAG, Tracker
from sparsegrad.experiment.trainer import TrainState
from sparsegrad.nn import AutoEncoder
from sparsegrad.optim import Adam, ConstantLR
from tests.harness import TINY, copy_store, train
from tests.sweeps.test_configs import compose_hydra


@pytest.fixture
def tracker(store_template, tmp_path) -> Tracker:
    return Tracker(copy_store(store_template.result(), tmp_path / "store" / "mlflow.db"), "sparsegrad")


def checkpoint_of(run_id: str, folder) -> None:
    model = AutoEncoder(4, 2, rng=np.random.default_rng(0))
    optimizer = Adam(model.parameters(), lr=0.01)
    state = TrainState(model, optimizer, ConstantLR(optimizer), np.random.default_rng(0), epoch=1)
    save_checkpoint(folder / FILENAME, state, run_id)


def killed_run(tracker: Tracker, folder, **tags: str) -> str:
    run_id = tracker.start_run("r", tags={RUN_DIR_TAG: str(folder), **tags})
    tracker.log_text(run_id, "seed: 0\n", "config.yaml")
    tracker.end_run(run_id, "KILLED", "interrupted")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / RUN_ID_FILE).write_text(run_id)
    return run_id


def test_run_and_sweep_folders_differ_below_the_second_and_by_process():
    cfg = compose_hydra([])
    run_dir, sweep_dir = str(cfg.hydra.run.dir), str(cfg.hydra.sweep.dir)
    assert run_dir.endswith(f"-{os.getpid()}") and sweep_dir.endswith(f"-{os.getpid()}")
    assert len(run_dir.rsplit("/", 1)[1].split("-")[-2].split(".")[1]) == 6  # microseconds


def test_a_checkpoint_records_its_run(tmp_path):
    checkpoint_of("abc", tmp_path)
    assert checkpoint_run(tmp_path / FILENAME) == "abc"


def test_resume_refuses_the_checkpoint_another_run_left_in_its_folder(tracker, tmp_path):
    folder = tmp_path / "shared"
    mine = killed_run(tracker, folder)
    checkpoint_of("another-run", folder)  # a run started in the same folder wrote last
    with pytest.raises(ExperimentError, match=f"run {mine} has no checkpoint"):
        find_resume_point(mine, tracker, tmp_path / "staging")
    checkpoint_of(mine, folder)
    assert find_resume_point(mine, tracker, tmp_path / "staging").checkpoint == folder / FILENAME


def test_resume_refuses_a_run_a_live_process_trains(tracker, tmp_path):
    folder = tmp_path / "run"
    run_id = killed_run(tracker, folder)
    checkpoint_of(run_id, folder)
    tracker.reopen(run_id, {OWNER_TAG: f"{socket.gethostname()}:{os.getpid()}"})  # this process holds it
    with pytest.raises(ExperimentError) as caught:
        find_resume_point(run_id, tracker, tmp_path / "staging")
    assert f"still RUNNING in process {os.getpid()} on {socket.gethostname()}" in str(caught.value)

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    tracker.set_tags(run_id, {OWNER_TAG: f"{socket.gethostname()}:{gone.stdout.strip()}"})  # died, run RUNNING
    assert find_resume_point(run_id, tracker, tmp_path / "staging").run_id == run_id


@pytest.mark.slow
def test_two_runs_started_in_the_same_second_get_folders_of_their_own(store_template, tmp_path):
    uri = copy_store(store_template.result(), tmp_path / "store" / "mlflow.db")
    started = [train([*TINY, f"tracking.uri={uri}"], tmp_path / f"p{i}", cwd=tmp_path) for i in range(2)]
    outcomes = [p.wait() for p in started]
    assert all(o.returncode == 0 for o in outcomes), outcomes
    folders = sorted(p.parent for p in (tmp_path / "outputs").glob("*/*/" + FILENAME))
    assert len(folders) == 2, folders
    assert {(f / RUN_ID_FILE).read_text() for f in folders} == {checkpoint_run(f / FILENAME) for f in folders}
