"""scripts/sparsity_table.py: a sweep's methods at matched L0, each matched job scored by evaluate.py's
`evaluate`; on a real (tiny) sweep of experiment=sparsity_methods, and its matching rule on its own."""

from __future__ import annotations

import importlib.util
import math
import sys

import pytest

from sparsegrad.experiment.compare import JobSummary
from tests.harness import ROOT, client_for, copy_store, history, sweep_runs, train

SCRIPT = ROOT / "scripts" / "sparsity_table.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("sparsity_table", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclasses look their module up there)
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


def job(script, name, activation, l0, k=None):
    params = {"model.hidden_activation": activation, "model.k": str(k), "beta": "0.0" if k else "0.001",
              "sparsity._target_": "null" if k else "sparsegrad.nn.sparsity.L1Sparsity"}
    return script.Job(JobSummary(name, name, "FINISHED", params), l0, 0.5)


def test_the_nearest_job_by_ratio_within_the_factor_else_why_not(script):
    jobs = [job(script, "a", "relu", 4.6), job(script, "b", "relu", 12.1), job(script, "c", "relu", 29.3)]
    assert script.nearest(jobs, 5, 1.25).summary.name == "a"
    assert script.nearest(jobs, 10, 1.25).summary.name == "b"  # 12.1 is 1.21x of 10
    assert script.nearest(jobs, 20, 1.25) == ("no job within 1.25x: nearest L0 12.1 (beta=0.001) and "
                                              "29.3 (beta=0.001)")
    assert script.nearest(jobs, 20, 1.5).summary.name == "c"  # 1.47x: by ratio, nearer than 12.1 (1.65x)
    assert script.nearest(jobs, 2, 1.25) == "not reachable: L0 4.6-29.3 in its 3 jobs"
    assert script.nearest(jobs[:1], 100, 1.25) == "not reachable: L0 4.6"


@pytest.fixture(scope="module")
def tiny_sweep(store_template, tmp_path_factory):
    """experiment=sparsity_methods cut to two jobs (sigmoid + KL, TopK k=5), one epoch on 300 real digits:
    the store's URI."""
    directory = tmp_path_factory.mktemp("sparsity_table")
    uri = copy_store(store_template.result(), directory / "mlflow.db")
    outcome = train(["-m", "experiment=sparsity_methods", "+experiment/sparsity_methods=kl_beta0.1,topk_k5",
                     "data=mnist_sample", "data.limit=300", "trainer.epochs=1", "trainer.progress=false",
                     f"tracking.uri={uri}", f"hydra.sweep.dir={directory / 'multirun'}"], directory).wait()
    assert outcome.returncode == 0, outcome
    return uri


def rows(printed: str) -> dict[tuple[str, str], list[str]]:
    """The table's cells by (L0 about, method)."""
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in printed.splitlines()
             if line.startswith("| ") and not line.startswith("| L0 about")]
    return {(c[0], c[1]): c[2:] for c in cells}


@pytest.mark.slow
def test_a_row_per_method_and_l0_each_matched_job_evaluated(tiny_sweep, script, tmp_path, capsys):
    (parent,), children = sweep_runs(tiny_sweep)
    kl, topk = sorted(children, key=lambda c: c.data.params["model.hidden_activation"])  # sigmoid, topk
    assert script.main(["--uri", tiny_sweep, "--out", str(tmp_path)]) == 0  # the latest sweep; L0 5, 10, 20
    printed = capsys.readouterr().out
    assert parent.info.run_id in printed.splitlines()[0] and "data=mnist_sample (limit 300)" in printed
    table = rows(printed)
    assert set(table) == {(t, m) for t in ("5", "10", "20") for m in ("sigmoid + KL", "TopK")}
    kl_l0, topk_l0 = kl.data.metrics["l0"], topk.data.metrics["l0"]
    assert kl_l0 > 25 and table["5", "sigmoid + KL"][0] == f"not reachable: L0 {kl_l0:.1f}"
    assert table["10", "TopK"][0] == table["20", "TopK"][0] == f"not reachable: L0 {topk_l0:.1f}"

    client = client_for(tiny_sweep)
    evaluations = client.search_runs([parent.info.experiment_id], "tags.`sparsegrad.evaluates` != ''")
    assert [e.data.tags["sparsegrad.evaluates"] for e in evaluations] == [topk.info.run_id]  # the matched job only
    (evaluation,) = evaluations
    assert evaluation.data.params["topk"] == "5"  # its codes cut to k = the L0 it matched
    label, l0, ev, ev_topk, dense, sparse, ratio = table["5", "TopK"]
    assert (label, l0, ev) == ("k=5", f"{topk_l0:.2f}", f"{topk.data.metrics['explained_variance']:.3f}")
    assert float(ev_topk) == pytest.approx(float(ev), abs=1.5e-3)  # a TopK code has k units: cut to k, the same
    (_, dense_ms), = history(client, evaluation.info.run_id, "decode_dense_ms")
    (_, sparse_ms), = history(client, evaluation.info.run_id, "decode_sparse_ms")
    assert (dense, sparse, ratio) == (f"{dense_ms:.2f}", f"{sparse_ms:.2f}", f"{sparse_ms / dense_ms:.2f}")
    assert math.isfinite(dense_ms) and dense_ms > 0


@pytest.mark.slow
def test_a_parent_that_is_not_in_the_store_is_one_line(tiny_sweep, script, capsys):
    with pytest.raises(SystemExit) as exited:
        script.main(["--uri", tiny_sweep, "--parent", "0123abcd"])
    assert exited.value.code == 1
    assert capsys.readouterr().err.strip() == f"error: no run 0123abcd in {tiny_sweep} (--parent takes a sweep's " \
                                              "parent run id)"
