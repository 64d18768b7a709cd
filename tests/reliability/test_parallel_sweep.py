"""Row 6: a parallel sweep on a fresh store: 8 jobs, 2 at a time, give 8 FINISHED children of one parent.

None lost, none duplicated: the parent run and the store's schema are made once,
before any job, by the sweep callback; the jobs only add their own runs.
"""

from __future__ import annotations

from tests.harness import client_for, store_uri
from tests.reliability.harness import Workspace, scenario

SEEDS = [str(s) for s in range(1, 9)]


@scenario
def parallel_sweep(ws: Workspace):
    fresh = ws.path / "fresh" / "mlflow.db"  # not a copy of the template: nothing exists yet
    outcome = ws.run("sweep", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "data=synthetic",
                     "data.n_train=128", "data.n_test=32", "trainer.epochs=1", "trainer.progress=false",
                     f"tracking.uri={store_uri(fresh)}", f"seed={','.join(SEEDS)}", store=None)
    return ws, fresh, outcome


def test_eight_parallel_jobs_give_eight_finished_children_of_one_parent(scenarios):
    ws, fresh, outcome = scenarios("parallel_sweep")
    assert outcome.returncode == 0, outcome
    client = client_for(store_uri(fresh))
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in parents]
    assert len(children) == 8, outcome
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert [r.info.status for r in children] == ["FINISHED"] * 8
    assert sorted(r.data.params["seed"] for r in children) == sorted(SEEDS)  # each job once
    assert len({r.data.tags["run_dir"] for r in children}) == 8
    for r in children:
        assert [m.step for m in client.get_metric_history(r.info.run_id, "train/loss")] == [1]
