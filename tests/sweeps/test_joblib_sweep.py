"""A sweep on the joblib launcher: jobs in parallel processes, on a store none of them had to create."""

from __future__ import annotations

from tests.harness import client_for, sweep_runs


def test_parallel_jobs_on_a_fresh_store(joblib_sweep):
    assert joblib_sweep.returncode == 0, joblib_sweep.output()
    assert "Joblib.Parallel(n_jobs=2" in joblib_sweep.stdout
    parents, children = sweep_runs(joblib_sweep.uri)
    assert len(parents) == 1, "exactly one parent run"
    parent_id = parents[0].info.run_id
    assert len(children) == 4
    assert all(c.info.status == "FINISHED" for c in children), [c.data.tags.get("failure_reason") for c in children]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent_id}
    assert {(c.data.params["optimizer._target_"], c.data.params["beta"]) for c in children} == {
        ("sparsegrad.optim.SGD", "0.0"), ("sparsegrad.optim.SGD", "0.1"),
        ("sparsegrad.optim.Adam", "0.0"), ("sparsegrad.optim.Adam", "0.1")}
    # two at a time: some jobs ran while others did
    spans = sorted((c.info.start_time, c.info.end_time) for c in children)
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), spans
    stored = {a.path for a in client_for(joblib_sweep.uri).list_artifacts(parent_id, "comparison")}
    assert stored == {"comparison/convergence.png", "comparison/frontier.png", "comparison/summary.csv"}
    assert parents[0].info.status == "FINISHED"
