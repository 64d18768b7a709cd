"""The comparison without MLflow: columns and labels, thresholds, steps, speed-ups, the table and the plot."""

from __future__ import annotations

import math

import pytest

from sparsegrad.experiment.compare import (
    Columns,
    JobSummary,
    _steps_per_epoch,
    add_speedups,
    format_table,
    plot_convergence,
    rows,
    write_csv,
)

COMMON = {"data.name": "synthetic", "data.n_train": "256", "data.path": "null", "data.limit": "null",
          "trainer.batch_size": "32", "tracking.uri": "sqlite:///x.db"}


def job(name, status="FINISHED", loss=(1.0, 0.5, 0.2), overrides=None, choices=None, steps=8, **params):
    curves = {"train/loss": list(loss), "val/recon_loss": [v / 2 for v in loss], "mean_activation": [0.1] * len(loss)}
    return JobSummary(name, name, status, {**COMMON, **params}, curves, overrides, choices,
                      "diverged" if status == "FAILED" else "", steps)


def optimizer_jobs():
    made = []
    for name, lr, batch, loss in (("gd", "10.0", "null", (1.0, 0.9, 0.8)), ("sgd", "5.0", "32", (1.0, 0.5, 0.3)),
                                  ("adam", "0.01", "32", (0.9, 0.3, 0.1))):
        made.append(job(name, loss=loss, overrides=["experiment=optimizer_comparison",
                                                    f"+experiment/optimizer_comparison={name}"],
                        choices={"optimizer": name, "experiment": "optimizer_comparison",
                                 "experiment/optimizer_comparison": name, "data": "synthetic"},
                        steps=1 if name == "gd" else 8,
                        **{"optimizer.name": name, "optimizer.lr": lr, "trainer.batch_size": batch}))
    return made


def test_labels_are_the_choices_and_overrides_that_differ():
    jobs = optimizer_jobs()
    columns = Columns.of(jobs)
    assert columns.overrides == ["optimizer"]  # not the experiment's own group, not what all share
    assert columns.params == ["trainer.batch_size"]  # differs, and the optimizer group does not cover it
    assert [columns.label(j) for j in jobs] == ["optimizer=gd", "optimizer=sgd", "optimizer=adam"]
    plain = [job(f"j{i}", overrides=["data=synthetic", f"beta={b}", "tracking.uri=x"], choices={"data": "synthetic"},
                 beta=str(float(b))) for i, b in enumerate(("0", "0.1"))]
    assert Columns.of(plain).overrides == ["beta"] and Columns.of(plain).label(plain[1]) == "beta=0.1"
    # runs from outside a sweep: told apart by the config keys that differ
    loose = [job("a", beta="0.0"), job("b", beta="0.1")]
    assert Columns.of(loose).overrides == [] and Columns.of(loose).label(loose[1]) == "beta=0.1"


def test_threshold_steps_and_speedups():
    jobs = optimizer_jobs() + [job("bad", status="FAILED", loss=(1.0, math.nan), overrides=[], choices={})]
    threshold = add_speedups(jobs)
    assert threshold == 0.8  # the worst final loss of the finished jobs
    gd, sgd, adam, bad = jobs
    assert (gd.epochs_to_threshold, sgd.epochs_to_threshold, adam.epochs_to_threshold) == (3, 2, 2)
    assert (gd.steps_to_threshold, sgd.steps_to_threshold) == (3, 16)  # gd: one step an epoch
    assert (gd.speedup, sgd.speedup) == (1.0, 1.5)
    assert bad.epochs_to_threshold is bad.speedup is bad.steps_to_threshold is None
    table = rows(jobs, Columns.of(jobs))
    assert table[3]["status"] == "FAILED" and table[3]["failure_reason"] == "diverged"
    text = format_table(table)
    assert "failure_reason" not in text and "FAILED" in text and text.splitlines()[0].startswith("optimizer")
    unreached = optimizer_jobs()
    assert add_speedups(unreached, threshold=0.05) == 0.05  # nobody gets there: no speed-ups
    assert all(j.epochs_to_threshold is None and j.speedup is None for j in unreached)


def test_steps_per_epoch_from_tag_or_config():
    assert _steps_per_epoch({"steps_per_epoch": "17"}, COMMON) == 17
    assert _steps_per_epoch({}, COMMON) == 8
    assert _steps_per_epoch({}, {**COMMON, "trainer.batch_size": "null"}) == 1
    assert _steps_per_epoch({}, {**COMMON, "data.name": "mnist"}) == 1875
    assert _steps_per_epoch({}, {**COMMON, "data.name": "mnist_sample", "data.limit": "1000"}) == 32
    assert _steps_per_epoch({}, {**COMMON, "data.name": "idx", "data.path": "/data"}) is None


@pytest.mark.parametrize("sweep", ["optimizers", "sparsity"])
def test_csv_and_plot(sweep, tmp_path):
    if sweep == "optimizers":
        jobs = optimizer_jobs()
    else:
        jobs = [job(f"b{b}t{t}", overrides=[f"beta={b}", f"sparsity.target={t}"], choices={},
                    beta=str(float(b)), **{"sparsity.target": str(t)})
                for b in ("0", "0.01", "1") for t in ("0.05", "0.1")]
        jobs[-1].status = "FAILED"
    columns = Columns.of(jobs)
    threshold = add_speedups(jobs)
    path = write_csv(rows(jobs, columns), tmp_path / "summary.csv")
    assert path.read_text().splitlines()[0].startswith(",".join(columns.overrides))
    png = plot_convergence(jobs, columns, tmp_path / "convergence.png", threshold)
    assert png.read_bytes().startswith(b"\x89PNG")
