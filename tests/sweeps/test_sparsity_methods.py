"""experiment=sparsity_methods: three methods, each over its own knob, composed (no jobs run); and the
frontier's pieces (method, Pareto front, figure, summary columns) on made-up jobs."""

from __future__ import annotations

import csv
import math

from sparsegrad.experiment.compare import (
    Columns,
    JobSummary,
    _wrap,
    frontier_figure,
    knob_of,
    method_of,
    pareto_front,
    plot_frontier,
    point_labels,
    rows,
    write_csv,
)
from sparsegrad.experiment.schema import validate
from tests.sweeps.test_configs import compose_hydra, job_overrides


def test_three_methods_each_over_its_own_knob_on_mnist_sample():
    overrides = job_overrides(["experiment=sparsity_methods"])
    jobs = [compose_hydra(o) for o in overrides]
    seen = {}
    for job in jobs:
        validate(job)
        assert job.data.name == "mnist_sample" and job.tracking.experiment == "sparsity_methods"
        m = job.model
        key = (m.hidden_activation, job.hydra.runtime.choices.sparsity)
        seen.setdefault(key, []).append(m.k if m.hidden_activation == "topk" else job.beta)
        if m.hidden_activation == "relu":
            assert job.optimizer.lr == 0.001  # ReLU units die at the default 0.01
    assert seen == {("sigmoid", "kl"): [0.1, 1.0, 10.0], ("relu", "l1"): [0.0001, 0.0003, 0.001, 0.002],
                    ("topk", "none"): [5, 10, 20, 40]}
    assert all(job.beta == 0 for job in jobs if job.model.hidden_activation == "topk")
    # the real MNIST test set instead, and one job without -m
    on_idx = compose_hydra(["experiment=sparsity_methods", "data=idx", "data.path=/x",
                            "+experiment/sparsity_methods=topk_k10"])
    assert (on_idx.data.name, on_idx.model.k) == ("idx", 10)


def test_the_seed_defaults_are_untouched():
    cfg = compose_hydra([])
    assert (cfg.model.hidden_activation, cfg.model.k, cfg.hydra.runtime.choices.sparsity) == ("sigmoid", None, "kl")
    assert (cfg.beta, cfg.sparsity.target) == (0.1, 0.1)


def made_up(name, activation, penalty, beta, l0, ev, k=None, status="FINISHED"):
    params = {"model.hidden_activation": activation, "model.k": str(k) if k else "null", "beta": str(beta),
              "sparsity._target_": f"sparsegrad.nn.sparsity.{penalty}" if penalty else "null",
              "data.name": "mnist_sample", "data.limit": "null"}
    curves = {"train/loss": [0.1], "val/recon_loss": [0.02], "mean_activation": [0.1], "l0": [l0],
              "explained_variance": [ev], "dead_units": [3.0], "dense_units": [1.0]}
    return JobSummary(name, name, status, params, curves)


def frontier_jobs():
    return [made_up("kl", "sigmoid", "KLSparsity", 0.1, 62.0, 0.68),
            made_up("kl10", "sigmoid", "KLSparsity", 10.0, 55.0, 0.40),
            made_up("l1a", "relu", "L1Sparsity", 0.0003, 21.5, 0.71),
            made_up("l1b", "relu", "L1Sparsity", 0.001, 8.8, 0.52),
            made_up("l1c", "relu", "L1Sparsity", 0.002, 12.0, 0.40),  # beaten by l1b on both
            made_up("t5", "topk", None, 0.0, 5.0, 0.53, k=5),
            made_up("t20", "topk", None, 0.0, 20.0, 0.78, k=20),
            made_up("plain", "relu", "L1Sparsity", 0.0, 40.0, 0.84),
            made_up("failed", "topk", None, 0.0, math.nan, math.nan, k=1, status="FAILED")]


def test_methods_knobs_and_pareto_fronts():
    jobs = frontier_jobs()
    assert [method_of(j) for j in jobs] == ["sigmoid + KL", "sigmoid + KL", "ReLU + L1", "ReLU + L1", "ReLU + L1",
                                            "TopK", "TopK", "relu, no penalty", "TopK"]
    assert [knob_of(j) for j in jobs[:7]] == ["beta=0.1", "beta=10.0", "beta=0.0003", "beta=0.001", "beta=0.002",
                                              "k=5", "k=20"]
    # lower L0 and higher explained variance win; l1c (12 units, 0.40) loses to l1b (8.8 units, 0.52)
    assert pareto_front([(21.5, 0.71), (8.8, 0.52), (12.0, 0.40)]) == [1, 0]
    assert pareto_front([(5.0, 0.5), (5.0, 0.6), (10.0, 0.6)]) == [1]


def test_summary_columns_and_the_figure(tmp_path):
    jobs = frontier_jobs()
    table = rows(jobs, Columns.of(jobs))
    path = write_csv(table, tmp_path / "summary.csv")
    with path.open() as f:
        read = list(csv.DictReader(f))
    assert {"method", "l0", "explained_variance", "dead_units", "dense_units"} <= set(read[0])
    assert (read[5]["method"], float(read[5]["l0"]), float(read[5]["explained_variance"])) == ("TopK", 5.0, 0.53)
    assert read[5]["dead_units"] == "3" and read[-1]["l0"] == "nan"
    png = plot_frontier(jobs, tmp_path / "frontier.png", "sparsity_methods (abc)")
    assert png.read_bytes().startswith(b"\x89PNG")
    empty = plot_frontier([jobs[-1]], tmp_path / "empty.png")  # nothing to show: says so, draws no point
    assert empty.stat().st_size > 0


def test_a_frontier_spanning_under_a_decade_of_l0_still_labels_several_values():
    """A KL sweep's L0 spans 40 to 64: its log axis labelled only 50 before."""
    jobs = [made_up(f"kl{i}", "sigmoid", "KLSparsity", beta, l0, ev)
            for i, (beta, l0, ev) in enumerate([(1.0, 40.7, -1.0), (0.1, 56.9, -0.57), (0.01, 64.0, 0.0)])]
    ax = frontier_figure(jobs).axes[0]
    low, high = ax.get_xlim()
    shown = [tick for tick in ax.get_xticks() if low <= tick <= high]
    assert len(shown) >= 3, shown


def test_a_point_is_labelled_by_its_knob_and_whatever_else_its_method_swept():
    """In a beta-by-target sweep, beta alone named three points alike."""
    kl = [made_up(f"kl{i}", "sigmoid", "KLSparsity", beta, 50.0 + i, 0.1) for i, beta in enumerate([0.1, 0.1, 1.0])]
    for job, target in zip(kl, ["0.05", "0.1", "0.05"]):
        job.params["sparsity.target"] = target
    assert point_labels(kl) == ["beta=0.1 target=0.05", "beta=0.1 target=0.1", "beta=1.0 target=0.05"]
    topk = [made_up(f"t{k}", "topk", None, 0.0, float(k), 0.5, k=k) for k in (5, 10)]
    assert point_labels(topk) == ["k=5", "k=10"]
    plain = made_up("plain", "relu", "L1Sparsity", 0.0, 40.0, 0.84)
    assert point_labels([plain]) == [""]


def test_a_long_title_breaks_after_the_commas_of_a_swept_list_never_inside_a_name():
    title = "sweep experiment=sparsity_methods +experiment/sparsity_methods=kl_beta0.1,topk_k5,topk_k10 (abc)"
    lines = _wrap(title, 50)
    assert lines == ["sweep experiment=sparsity_methods", "+experiment/sparsity_methods=kl_beta0.1,topk_k5,",
                     "topk_k10 (abc)"]
    assert _wrap("a_name_longer_than_the_width b", 10) == ["a_name_longer_than_the_width", "b"]
