"""hydra/sweeper=optuna end to end: real studies in subprocesses (synthetic digits, a few epochs), on the
basic and joblib launchers, with a trial that diverges, trials pruned, Ctrl-C, and a study continued.

The studies start together when the module's first test asks (each spends seconds importing Hydra,
MLflow and Optuna); a test waits for its own.
"""

from __future__ import annotations

import csv
import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.harness import TINY, client_for, run_statuses, store_uri, sweep_runs, train, wait_for

pytestmark = pytest.mark.slow

# lr 0.05 learns, 1e-4 barely moves (the median pruner stops it after the startup trials), 1e4 diverges
# (identity outputs let the loss blow up): a random sampler with seed 7 draws 1e-4, 0.05, 1e4, 0.05,
# 1e4, 1e-4: the last is pruned once three trials have completed, on the basic launcher and in pairs on joblib.
SPACE = ["optimizer=sgd", "schedule=constant", "model.output_activation=identity",
         "optimizer.lr=choice(0.05,0.0001,10000.0)", "beta=interval(0, 0.5)",
         "hydra/sweeper=optuna", "hydra.sweeper.sampler=random", "hydra.sweeper.seed=7"]
STUDY = [*TINY, "trainer.epochs=4", *SPACE]


def _args(folder: Path, *extra: str) -> list[str]:
    return ["-m", *STUDY, f"tracking.uri={store_uri(folder / 'mlflow.db')}", f"hydra.sweep.dir={folder / 'sweep'}",
            *extra]


@pytest.fixture(scope="module")
def studies(tmp_path_factory):
    root = tmp_path_factory.mktemp("studies")
    started = {
        "basic": train(_args(root / "basic", "hydra.sweeper.n_trials=6"), root / "basic"),
        "joblib": train(_args(root / "joblib", "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2",
                              "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"), root / "joblib"),
        "bad_space": train(["-m", *TINY, "hydra/sweeper=optuna", "optimizer.lr=interval(-1, 0.1)",
                            f"tracking.uri={store_uri(root / 'bad' / 'mlflow.db')}"], root / "bad"),
    }
    named = ["hydra.sweeper.n_trials=3", "hydra.sweeper.study_name=continued", "hydra.sweeper.pruner=none"]
    interrupted = train(_args(root / "continued", *named), root / "continued", name="first")
    wait_for(root / "continued" / "sweep" / "1" / "checkpoint.npz", interrupted)  # in the 2nd trial
    interrupted.signal(signal.SIGINT)
    started["interrupted"] = interrupted
    outcomes = {name: process.wait() for name, process in started.items()}
    outcomes["continued"] = train(_args(root / "continued", *named, f"hydra.sweep.dir={root / 'continued' / 'again'}"),
                                  root / "continued", name="again").wait()
    return root, outcomes


def _trials(db: Path, study: str | None = None) -> list[tuple[int, str, dict]]:
    """(number, state, user attributes) of every trial of the study in Optuna's sqlite store."""
    import optuna

    storage = f"sqlite:///{db}"
    name = study or optuna.get_all_study_names(storage)[0]
    return [(t.number, t.state.name, t.user_attrs) for t in optuna.load_study(study_name=name, storage=storage).trials]


def _check_study(root: Path, outcome, launcher: str) -> None:
    assert outcome.returncode == 0, outcome
    assert "Traceback" not in outcome.stderr, outcome
    (parent,), children = sweep_runs(store_uri(root / "mlflow.db"))
    trials = _trials(root / "optuna.db")
    states = {state for _, state, _ in trials}
    assert {"COMPLETE", "PRUNED", "FAIL"} <= states, trials  # a trial of each kind
    by_run = {t[2]["mlflow_run_id"]: t for t in trials if "mlflow_run_id" in t[2]}
    assert len(children) == len(trials)
    client = client_for(store_uri(root / "mlflow.db"))
    for run in children:
        number, state, attrs = by_run[run.info.run_id]
        if state == "FAIL":  # the diverging lr: FAILED in MLflow with its reason, FAIL in Optuna
            assert run.info.status == "FAILED" and "loss became" in run.data.tags["failure_reason"]
            assert run.data.params["optimizer.lr"] == "10000.0"
        elif state == "PRUNED":  # stopped early by the pruner: FINISHED, tagged with when
            epochs = attrs["pruned_at_epoch"]
            assert run.info.status == "FINISHED" and run.data.tags["sparsegrad.stopped"] == f"pruned at epoch {epochs}"
            assert len(client.get_metric_history(run.info.run_id, "train/loss")) == epochs < 4
        else:
            assert run.info.status == "FINISHED" and "sparsegrad.stopped" not in run.data.tags
    tags = parent.data.tags
    assert parent.info.status == "FINISHED" and tags["launcher"] == launcher
    assert tags["optuna.sampler"] == "random" and tags["optuna.pruner"] == "median"
    assert int(tags["optuna.trials_PRUNED"]) >= 1 and int(tags["optuna.trials_FAIL"]) >= 1
    assert "best_value" in parent.data.metrics and "optuna.best.optimizer.lr" in tags
    assert parent.data.params["sweep.optimizer.lr"] == "0.05,0.0001,10000.0"
    stored = {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert {"comparison/summary.csv", "comparison/history.png", "comparison/parameters.png"} <= stored
    with open(root / "sweep" / "comparison" / "summary.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["trial"]) for r in rows] == [t[0] for t in trials]
    assert set(rows[0]) == {"trial", "state", "beta", "optimizer.lr", "value", "epochs", "run_id"}


def test_a_study_on_the_basic_launcher_prunes_fails_and_completes_trials(studies):
    root, outcomes = studies
    _check_study(root / "basic", outcomes["basic"], "BasicLauncher")


def test_a_study_on_the_joblib_launcher_prunes_from_its_workers(studies):
    root, outcomes = studies
    _check_study(root / "joblib", outcomes["joblib"], "JoblibLauncher")


def test_a_space_with_a_value_out_of_range_is_one_line_before_any_run(studies):
    root, outcomes = studies
    outcome = outcomes["bad_space"]
    assert outcome.returncode == 2, outcome
    assert outcome.error_lines == ["config error: optimizer.lr=-1.0 is not allowed: a finite number > 0"]
    assert run_statuses(root / "bad" / "mlflow.db") == []


def test_ctrl_c_keeps_the_finished_trials_and_the_same_study_name_continues_to_n_trials(studies):
    root, outcomes = studies
    assert outcomes["interrupted"].returncode == 130, outcomes["interrupted"]
    assert outcomes["continued"].returncode == 0, outcomes["continued"]
    trials = _trials(root / "continued" / "optuna.db", "continued")
    interrupted = [t for t in trials if t[2].get("interrupted")]
    counted = [t for t in trials if not t[2].get("interrupted")]
    assert len(interrupted) == 1 and interrupted[0][1] == "FAIL"  # the trial Ctrl-C stopped
    assert len(counted) == 3 and all(state in ("COMPLETE", "FAIL") for _, state, _ in counted)
    with closing(sqlite3.connect(root / "continued" / "mlflow.db")) as db:  # nothing left RUNNING
        assert "RUNNING" not in {s for (s,) in db.execute("SELECT status FROM runs")}
    parents, _ = sweep_runs(store_uri(root / "continued" / "mlflow.db"))
    assert sorted(p.info.status for p in parents) == ["FINISHED", "KILLED"]
