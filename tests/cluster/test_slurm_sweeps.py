"""Grid sweeps through `hydra/launcher=slurm` on a real one-node cluster, logging to a real `mlflow server`.

Three sweeps run at once (tests/cluster/conftest.py starts the cluster and the server):
- `grid`: two jobs, as on one machine: a parent, its children FINISHED, the comparison on the parent.
- `requeue`: three identical jobs (seed 7): job 0 gets a time-out (`scancel --signal USR2`), job 1 a
  preemption (SIGTERM, then USR2), as submitit's own `job._interrupt()` sends them, each after its
  first checkpoint; both are requeued and continue their own runs; job 2, untouched, is the reference
  their final weights must equal, bit for bit.
- `lost`: job 0 is cancelled (`scancel`), job 1's process on the node is SIGKILLed, job 2 finishes:
  the sweep ends (exit 1), both runs are KILLED, the parent counts them and compares the one that finished.
"""

from __future__ import annotations

import csv
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster.conftest import Cluster
from tests.harness import TIMEOUT, Jobs, MlflowServer, Outcome, Process, client_for, history, npz_arrays, wait_for

SMALL = ("data=synthetic", "data.n_train=256", "data.n_test=64", "trainer.progress=false")
PACE = "+callbacks.pace._target_=tests.cluster.pace.Pace"  # sleeps after each step: signals land mid-epoch
EPOCHS = 6  # of the requeued jobs


@dataclass
class Swept:
    """A finished sweep on the cluster, and the SLURM ids of the jobs a scenario signalled."""

    dir: Path
    uri: str
    outcome: Outcome
    job_ids: dict[int, str]

    @property
    def sweep_dir(self) -> Path:
        return self.dir / "multirun"

    def runs(self) -> tuple[object, list]:
        """(the parent run, its children by job number)."""
        client = client_for(self.uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        parent_id = (self.sweep_dir / "mlflow_parent_run.json").read_text().split('"run_id": "')[1].split('"')[0]
        children = client.search_runs(experiments, f"tags.mlflow.parentRunId = '{parent_id}'")
        return client.get_run(parent_id), sorted(children, key=lambda r: int(r.data.tags["sweep_job"]))


class Scenarios:
    def __init__(self, jobs: Jobs, cluster: Cluster, server: MlflowServer, base: Path) -> None:
        self.jobs, self.cluster, self.uri, self.base = jobs, cluster, server.url, base
        for name, scenario in (("grid", self._grid), ("requeue", self._requeue), ("lost", self._lost),
                               ("study", self._study)):
            jobs.submit(f"cluster:{name}", scenario)

    def get(self, name: str) -> Swept:
        return self.jobs.get(f"cluster:{name}")

    def _sweep(self, name: str, args: list[str]) -> tuple[Process, Path]:
        return self.cluster.sweep(name, args, self.uri, self.base), self.base / name / "multirun"

    def _grid(self) -> Swept:
        process, _ = self._sweep("grid", [*SMALL, "trainer.epochs=2", "optimizer=sgd,adam"])
        return Swept(self.base / "grid", self.uri, process.wait(), {})

    def _study(self) -> Swept:
        # tests/tuning's space and seed: trials 0, 1, 3 complete, 2 and 4 diverge (FAIL), 5 is pruned; two
        # trials at a time as a job array each round; the study in a journal file, as on a shared filesystem
        for name in ("requeue", "lost"):  # (after the sweeps that signal their jobs: their timing is tight)
            self.jobs.futures[f"cluster:{name}"].exception()  # (waited for; their own tests judge them)
        journal = self.base / "study" / "optuna.journal"
        space = ["optimizer=sgd", "schedule=constant", "model.output_activation=identity",
                 "optimizer.lr=choice(0.05,0.0001,10000.0)", "beta=interval(0, 0.5)"]
        study = ["hydra/sweeper=optuna", "hydra.sweeper.sampler=random", "hydra.sweeper.seed=7",
                 "hydra.sweeper.n_trials=6", "hydra.sweeper.n_jobs=2", f"hydra.sweeper.storage=journal:{journal}",
                 "hydra.sweeper.study_name=cluster"]
        process, _ = self._sweep("study", [*SMALL, "trainer.epochs=4", *space, *study])
        return Swept(self.base / "study", self.uri, process.wait(), {})

    def _after_first_epoch(self, process: Process, sweep_dir: Path, number: int) -> str:
        job_id = self.cluster.job_id(sweep_dir, number, process)
        wait_for(sweep_dir / str(number) / "checkpoint.npz", process)
        return job_id

    def _requeue(self) -> Swept:
        process, sweep_dir = self._sweep("requeue", [*SMALL, f"trainer.epochs={EPOCHS}", "seed=7,7,7", PACE,
                                                     "+callbacks.pace.seconds=0.15"])  # ~1.2 s an epoch
        scancel = self.cluster.command
        timeout = self._after_first_epoch(process, sweep_dir, 0)  # (each signalled as soon as it can be)
        scancel("scancel", timeout, "--signal", "USR2")  # submitit's job._interrupt(timeout=True)
        preempted = self._after_first_epoch(process, sweep_dir, 1)
        scancel("scancel", preempted, "--signal", "SIGTERM")  # submitit's job._interrupt(): a preemption
        scancel("scancel", preempted, "--signal", "USR2")
        for job_id in (timeout, preempted):
            self.cluster.start_requeued_now(job_id)
        return Swept(self.base / "requeue", self.uri, process.wait(), {0: timeout, 1: preempted})

    def _lost(self) -> Swept:
        # 8 epochs of ~2.4 s: a cancelled job, which ignores SIGTERM (submitit), would otherwise finish
        # within the cluster's KillWait (10 s) before SLURM kills it.
        process, sweep_dir = self._sweep("lost", [*SMALL, "trainer.epochs=8", "seed=1,2,3", PACE,
                                                  "+callbacks.pace.seconds=0.3"])
        cancelled = self._after_first_epoch(process, sweep_dir, 0)
        self.cluster.command("scancel", cancelled)
        killed = self._after_first_epoch(process, sweep_dir, 1)
        run_id = (sweep_dir / "1" / "mlflow_run_id").read_text().strip()
        owner = client_for(self.uri).get_run(run_id).data.tags["sparsegrad.owner"]  # host:pid of its process
        os.kill(int(owner.rpartition(":")[2]), signal.SIGKILL)  # (this machine is the node)
        return Swept(self.base / "lost", self.uri, process.wait(), {0: cancelled, 1: killed})


@pytest.fixture(scope="session")
def scenarios(jobs: Jobs, cluster: Cluster, cluster_server: MlflowServer,
              tmp_path_factory: pytest.TempPathFactory) -> Scenarios:
    return Scenarios(jobs, cluster, cluster_server, tmp_path_factory.mktemp("cluster"))


def _sacct_states(cluster: Cluster, job_id: str) -> str:
    return cluster.command("sacct", "-j", job_id, "-X", "-n", "-o", "State", "--parsable2").strip()


def _comparison(swept: Swept) -> list[dict[str, str]]:
    with open(swept.sweep_dir / "comparison" / "summary.csv") as f:
        return list(csv.DictReader(f))


def _assert_compared_on_parent(swept: Swept, parent) -> None:
    client = client_for(swept.uri)
    stored = {a.path for a in client.list_artifacts(parent.info.run_id, "comparison")}
    assert {"comparison/summary.csv", "comparison/convergence.png"} <= stored, stored


def test_grid_sweep_on_slurm_is_a_parent_with_its_children_as_on_one_machine(scenarios: Scenarios, cluster: Cluster):
    swept = scenarios.get("grid")
    assert swept.outcome.returncode == 0, swept.outcome
    parent, children = swept.runs()
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["launcher"] == "SlurmLauncher"
    assert (parent.data.tags["jobs"], parent.data.tags["jobs_failed"]) == ("2", "0")
    assert [c.info.status for c in children] == ["FINISHED", "FINISHED"]
    assert sorted(c.data.params["optimizer._target_"].rsplit(".", 1)[-1] for c in children) == ["Adam", "SGD"]
    _assert_compared_on_parent(swept, parent)
    assert len(_comparison(swept)) == 2
    # They ran as SLURM jobs: one array, both tasks COMPLETED in its accounting.
    (array,) = {p.name.split("_")[0] for p in (swept.sweep_dir / ".submitit").glob("[0-9]*_[0-9]*")}
    assert _sacct_states(cluster, array).splitlines() == ["COMPLETED", "COMPLETED"]


def test_a_job_timed_out_or_preempted_is_requeued_and_continues_its_own_run_bit_for_bit(scenarios: Scenarios,
                                                                                        cluster: Cluster):
    swept = scenarios.get("requeue")
    assert swept.outcome.returncode == 0, swept.outcome
    parent, children = swept.runs()
    assert len(children) == 3, "a requeued job continues its run: no new one"
    assert parent.info.status == "FINISHED" and [c.info.status for c in children] == ["FINISHED"] * 3
    client = client_for(swept.uri)
    reference = npz_arrays(swept.sweep_dir / "2" / "weights.npz")
    for number, job_id in swept.job_ids.items():
        run = children[number]
        assert int(cluster.job_state(job_id)["Restarts"]) == 1, cluster.job_state(job_id)
        after = int(run.data.tags["resumed_after_epoch"])
        assert 1 <= after < EPOCHS, after
        assert run.data.tags["resumed_from"] == str(swept.sweep_dir / str(number) / "checkpoint.npz")
        assert "failure_reason" not in run.data.tags
        assert [step for step, _ in history(client, run.info.run_id, "train/loss")] == list(range(1, EPOCHS + 1))
        weights = npz_arrays(swept.sweep_dir / str(number) / "weights.npz")
        assert weights.keys() == reference.keys()
        for key in reference:
            assert weights[key].tobytes() == reference[key].tobytes(), f"job {number}: {key} differs"
        log = next((swept.sweep_dir / ".submitit" / job_id).glob("*_log.out")).read_text()
        assert "KILLED: interrupted (USR2: SLURM job" in log and "requeued" in log, log[-3000:]
    assert "resumed_after_epoch" not in children[2].data.tags


def test_a_cancelled_job_and_a_killed_one_end_killed_and_the_sweep_compares_the_rest(scenarios: Scenarios,
                                                                                    cluster: Cluster):
    swept = scenarios.get("lost")
    assert swept.outcome.returncode == 1, swept.outcome
    assert "2 of 3 jobs did not finish" in swept.outcome.stderr, swept.outcome
    parent, children = swept.runs()
    assert parent.info.status == "FINISHED"
    assert (parent.data.tags["jobs"], parent.data.tags["jobs_failed"]) == ("3", "2")
    assert [c.info.status for c in children] == ["KILLED", "KILLED", "FINISHED"]
    cancelled, killed = (children[n].data.tags["failure_reason"] for n in (0, 1))
    assert f"SLURM job {swept.job_ids[0]} ended CANCELLED" in cancelled, cancelled
    assert f"SLURM job {swept.job_ids[1]} ended FAILED" in killed, killed
    assert _sacct_states(cluster, swept.job_ids[0]).startswith("CANCELLED")
    _assert_compared_on_parent(swept, parent)
    rows = {row["seed"]: row["status"] for row in _comparison(swept)}
    assert rows == {"1": "KILLED", "2": "KILLED", "3": "FINISHED"}
    assert swept.outcome.seconds < TIMEOUT


def test_an_optuna_study_on_slurm_prunes_and_fails_trials_reporting_to_a_shared_journal(scenarios: Scenarios):
    import optuna

    from sparsegrad.experiment.tuning.study import open_storage

    swept = scenarios.get("study")
    assert swept.outcome.returncode == 0, swept.outcome
    study = optuna.load_study(study_name="cluster", storage=open_storage(f"journal:{swept.dir / 'optuna.journal'}"))
    states = [t.state.name for t in study.trials]
    assert len(states) == 6 and {"COMPLETE", "PRUNED", "FAIL"} <= set(states), states
    parent, children = swept.runs()
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["optuna.trials_PRUNED"] == str(states.count("PRUNED"))
    by_run = {t.user_attrs["mlflow_run_id"]: t for t in study.trials}
    for run in children:
        trial = by_run[run.info.run_id]
        if trial.state.name == "PRUNED":
            assert run.info.status == "FINISHED"
            assert run.data.tags["sparsegrad.stopped"] == f"pruned at epoch {trial.user_attrs['pruned_at_epoch']}"
        elif trial.state.name == "FAIL":
            assert run.info.status == "FAILED" and "loss became" in run.data.tags["failure_reason"]
