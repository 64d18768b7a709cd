"""Row 4: Ctrl-C or SIGTERM mid-epoch: KILLED, the last finished epoch's checkpoint kept; resume.

A real `scripts/train.py` is signalled once the checkpoint of its first epoch exists
(so in its second epoch), then `trainer.resume=<run id>` (or `=<run directory>`)
continues it, and it must end with the weights and the loss history of the same run
left alone (`reference`, in harness.py).
"""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

from tests.harness import history, npz_arrays
from tests.reliability.harness import INTERRUPTIBLE, Workspace, interrupt_after_first_epoch, scenario

EPOCHS = 10  # as INTERRUPTIBLE


def _interrupt_and_resume(ws: Workspace, signum: int, by: str):
    killed = interrupt_after_first_epoch(ws, "killed", signum, *INTERRUPTIBLE)
    kept = npz_arrays(ws.path / "killed" / "checkpoint.npz")
    run = ws.run_of("killed")  # as the interrupted process left it
    logged = history(ws.client("killed"), run.info.run_id, "train/loss")
    if killed.returncode != 130:
        return ws, killed, kept, (run, logged), None
    target = run.info.run_id if by == "id" else ws.path / "killed"
    # model.hidden_dim: a resumed run keeps its own config, and says it ignores such overrides.
    resumed = ws.run("resumed", f"trainer.resume={target}", "trainer.progress=false", "model.hidden_dim=32",
                     store="killed")
    return ws, killed, kept, (run, logged), resumed


@scenario
def sigterm_then_resume_by_id(ws: Workspace):
    return _interrupt_and_resume(ws, signal.SIGTERM, "id")


@scenario
def sigint_then_resume_by_directory(ws: Workspace):
    return _interrupt_and_resume(ws, signal.SIGINT, "directory")


@scenario
def sighup_then_resume_by_id(ws: Workspace):
    """The terminal closed: as SIGTERM."""
    return _interrupt_and_resume(ws, signal.SIGHUP, "id")


@scenario
def sweep_interrupted(ws: Workspace):
    """A parallel sweep: joblib kills its workers outright, so the launching process marks their runs."""
    args = [a for a in INTERRUPTIBLE if not a.startswith("seed=")]
    return ws, interrupt_after_first_epoch(ws, "sweep", signal.SIGTERM, "-m", "hydra/launcher=joblib",
                                           "hydra.launcher.n_jobs=2", *args, "seed=3,4,5",
                                           checkpoint="0/checkpoint.npz")


CASES = {"sigterm_then_resume_by_id": "SIGTERM", "sigint_then_resume_by_directory": "SIGINT",
         "sighup_then_resume_by_id": "SIGHUP"}


@pytest.mark.parametrize("case", CASES)
def test_an_interrupted_run_is_killed_keeping_its_last_finished_epoch(scenarios, case, tmp_path):
    ws, killed, kept, (run, logged), _ = scenarios(case)
    assert killed.returncode == 130, killed
    run_id = run.info.run_id
    assert killed.error_lines == [f"interrupted: run {run_id} is KILLED in MLflow, with the checkpoint of its "
                                  f"last finished epoch; continue it with trainer.resume={run_id}"], killed
    assert run.info.status == "KILLED"
    reason = run.data.tags["failure_reason"]
    assert reason.startswith(f"interrupted ({CASES[case]}) during epoch"), reason
    assert f"trainer.resume={run_id}" in reason
    epoch = int(kept["epoch"])
    assert 1 <= epoch < EPOCHS, "not interrupted in the middle of training"
    # Everything needed to continue: model, optimizer state (Adam's moments), schedule, RNG, history.
    assert {"model/encoder.0.weight", "optim/steps", "optim/m.0", "optim/v.0", "schedule/epoch", "rng"} <= kept.keys()
    assert int(kept["optim/steps"]) == epoch * 32 and int(kept["schedule/epoch"]) == epoch
    assert len(kept["history/train/loss"]) == epoch
    # MLflow got the same epochs, and the checkpoint as an artifact.
    assert [step for step, _ in logged] == list(range(1, epoch + 1))
    stored = ws.client("killed").download_artifacts(run_id, "checkpoint/checkpoint.npz", str(tmp_path))
    assert int(npz_arrays(stored)["epoch"]) >= epoch  # the resumed run may have stored a later one since


@pytest.mark.parametrize("case", CASES)
def test_a_resumed_run_ends_as_the_uninterrupted_run(scenarios, case, tmp_path):
    ws, killed, _, _, resumed = scenarios(case)
    assert resumed is not None, killed
    assert resumed.returncode == 0, resumed
    assert "with its own config: ignoring model.hidden_dim=32" in resumed.stdout, resumed
    ref_ws, reference = scenarios("reference")
    assert reference.returncode == 0, reference
    run = ws.run_of("killed")
    assert run.info.status == "FINISHED"
    assert (ws.path / "resumed" / "mlflow_run_id").read_text().strip() == run.info.run_id  # the same run
    assert "failure_reason" not in run.data.tags
    ref_run = ref_ws.run_of("run")
    weights = npz_arrays(ws.client("killed").download_artifacts(run.info.run_id, "model/weights.npz", str(tmp_path)))
    expected = npz_arrays(ref_ws.path / "run" / "weights.npz")
    assert weights.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(weights[name], expected[name], rtol=0, atol=1e-6, err_msg=name)
    # One value per epoch, none twice, and the same values as without the interruption.
    for key in ("train/loss", "val/recon_loss", "lr"):
        got = history(ws.client("killed"), run.info.run_id, key)
        assert got == history(ref_ws.client("run"), ref_run.info.run_id, key), key
    # The checkpoint stored at the interruption is replaced by the final one (not left at its epoch).
    from sparsegrad.experiment.checkpoint import checkpoint_epoch

    (tmp_path / "final").mkdir()
    stored = ws.client("killed").download_artifacts(run.info.run_id, "checkpoint/checkpoint.npz",
                                                    str(tmp_path / "final"))
    assert checkpoint_epoch(Path(stored)) == len(got)


@scenario
def basic_sweep_interrupted_in_its_second_job(ws: Workspace):
    """SIGTERM just after the first job trained: its figures may still be stored in the background."""
    args = [a for a in INTERRUPTIBLE if not a.startswith("seed=")]
    return ws, interrupt_after_first_epoch(ws, "sweep", signal.SIGTERM, "-m", *args, "seed=3,4",
                                           checkpoint="1/checkpoint.npz")


def test_a_basic_sweep_interrupted_in_its_next_job_keeps_the_finished_job_whole(scenarios):
    ws, outcome = scenarios("basic_sweep_interrupted_in_its_second_job")
    assert outcome.returncode == 130, outcome
    client = ws.client("sweep")
    first, second = ws.run_of("sweep/0", store="sweep"), ws.run_of("sweep/1", store="sweep")
    assert first.info.status == "FINISHED", first.data.tags.get("failure_reason")
    assert {f.path for f in client.list_artifacts(first.info.run_id, "plots")} == {
        f"plots/{n}.png" for n in ("activations", "features", "gradients", "loss_curve", "reconstructions")}
    assert [f.path for f in client.list_artifacts(first.info.run_id, "model")] == ["model/weights.npz"]
    assert second.info.status == "KILLED" and "trainer.resume=" in second.data.tags["failure_reason"]
    (parent,) = [r for r in client.search_runs([first.info.experiment_id]) if "mlflow.parentRunId" not in r.data.tags]
    assert parent.info.status == "KILLED"


def test_an_interrupted_parallel_sweep_leaves_no_run_running(scenarios):
    ws, outcome = scenarios("sweep_interrupted")
    assert outcome.returncode == 130, outcome
    assert outcome.error_lines[0].startswith("interrupted"), outcome
    client = ws.client("sweep")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    jobs = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "KILLED"
    assert jobs and {r.info.status for r in jobs} == {"KILLED"}, [(r.info.run_name, r.info.status) for r in jobs]
    assert all("trainer.resume=" in r.data.tags["failure_reason"] for r in jobs)
    assert ws.run_of("sweep/0", store="sweep").info.status == "KILLED"
