"""The figures a user opens: nothing cut off at their edges, and the sweep's comparison says what it shows.

Every figure of sparsegrad/experiment/plots.py is drawn with a long run name (a run's name holds its
overrides) and data like a real run's (a loss that spans less than a decade, so its log axis labels
minor ticks: 6x10^-2, wider than 10^-1); the PNG's outer pixels must be blank. convergence.png: a
title naming the sweep and its data, legends off the panels (one hid the beta=0 markers), and the
single beta=0 job at the start of every target's line.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.image import imread

from sparsegrad.experiment import plots
from sparsegrad.experiment.callbacks.gradient_monitor import metric_name
from sparsegrad.experiment.compare import Columns, JobSummary, add_speedups, convergence_figure

CAPTION = ("run +experiment/sparsity_sweep=beta0.01_target0.05,experiment=sparsity_sweep,data=mnist_sample,"
           "trainer.epochs=50,optimizer.lr=0.003,model.hidden_dim=64,tracking.experiment=a_long_experiment_name "
           "(1f295816), data=mnist_sample")
# A default run's losses on mnist_sample: 0.035 -> 0.020 (train), 0.030 -> 0.014 (validation).
TRAIN = list(np.geomspace(0.035, 0.0197, 50))
VAL = list(np.geomspace(0.030, 0.0143, 50))
rng = np.random.default_rng(0)
IMAGES = rng.random((10, 784)).astype(np.float32)
HIDDEN = rng.beta(0.5, 4.0, (500, 64)).astype(np.float32)
DECODER = rng.normal(size=(64, 784)).astype(np.float32)
HISTORY = {metric_name(kind, p): list(np.geomspace(a, a / 3, 20)) for kind, a in
           (("grad_norm", 0.02), ("norm", 30.0), ("update_ratio", 3e-3))
           for p in ("encoder.0.weight", "encoder.0.bias", "decoder.0.weight", "decoder.0.bias")}

FIGURES = {
    "loss_curve": lambda path: plots.loss_curve(TRAIN, VAL, path, f"loss per epoch: {CAPTION}"),
    "reconstructions": lambda path: plots.reconstructions(IMAGES, IMAGES[::-1], path, 28,
                                                          f"reconstructions: {CAPTION}"),
    "features": lambda path: plots.features(DECODER, path, 28,
                                            f"what each hidden unit draws (decoder weights): {CAPTION}"),
    "activations": lambda path: plots.activation_histogram(HIDDEN, 0.1, path, f"hidden activations: {CAPTION}"),
    "gradients": lambda path: plots.gradients(HISTORY, path, f"gradients per parameter: {CAPTION}"),
    "topk": lambda path: plots.topk([5, 10, 20, 64], [0.0561, 0.0402, 0.0262, 0.0143], [1.92, 1.95, 1.90, 1.93],
                                    [0.41, 0.77, 1.52, 4.6], path, f"evaluate {CAPTION} on data=mnist_sample"),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_nothing_is_cut_off_at_the_edges(name, tmp_path):
    image = imread(FIGURES[name](tmp_path / f"{name}.png"))[..., :3]
    edges = {"left": image[:, :2], "right": image[:, -2:], "top": image[:2], "bottom": image[-2:]}
    inked = {side: float(pixels.min()) for side, pixels in edges.items() if pixels.min() < 0.9}
    assert not inked, f"{name}.png has ink at its edges (text or lines cut off): {inked}"


def sparsity_sweep_jobs() -> list[JobSummary]:
    """The sparsity sweep's 10 jobs as the comparison loads them: beta=0 once, then 3 betas x 3 targets."""
    jobs = []
    for beta, target in [("0.0", "0.1")] + [(b, t) for b in ("0.01", "0.1", "1.0") for t in ("0.05", "0.1", "0.2")]:
        b, t = float(beta), float(target)
        final = 0.03 + 0.03 * b * (0.25 / t) ** 0.5
        curves = {"train/loss": list(np.geomspace(0.2 + b, final + b * 0.04, 8)),
                  "val/recon_loss": list(np.geomspace(0.1, final, 8)),
                  "mean_activation": [0.8 if b == 0 else t] * 8}
        params = {"beta": beta, "sparsity.target": target, "data.name": "mnist_sample", "data.limit": "null"}
        jobs.append(JobSummary(f"run{len(jobs)}", f"job {len(jobs)}", "FINISHED", params, curves,
                               [f"+experiment/sparsity_sweep=b{beta}t{target}", "experiment=sparsity_sweep"],
                               {"experiment": "sparsity_sweep", "experiment/sparsity_sweep": f"b{beta}t{target}",
                                "sparsity": "kl"}, "", 125))
    return jobs


def test_convergence_names_the_sweep_and_data_and_keeps_its_legends_off_the_panels():
    jobs = sparsity_sweep_jobs()
    columns = Columns.of(jobs)
    assert columns.params == ["beta", "sparsity.target"]
    name = "sweep experiment=sparsity_sweep data=mnist_sample (0069805fcfba43bd9a7fc2c7ee67c14e)"
    fig = convergence_figure(jobs, columns, add_speedups(jobs), title=name)
    heading = fig.get_suptitle()
    assert name in heading.replace("\n", " ") and "10 runs on data=mnist_sample" in heading

    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    left, right = fig.axes[:2]
    for ax in (left, right):
        legend = ax.get_legend()
        assert legend is not None
        assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer)), ax.get_title()
    # the one beta=0 job starts each target's line, on both of the trade-off's axes
    twin = fig.axes[2]
    for ax in (right, twin):
        lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 4]
        assert len(lines) == 3 and all(line.get_xdata()[0] == 0.0 for line in lines), ax.get_ylabel()
    assert [line.get_ydata()[0] for line in twin.get_lines() if len(line.get_xdata()) == 4] == [0.8] * 3


def test_convergence_without_a_title_still_names_the_data():
    jobs = sparsity_sweep_jobs()[:3]
    fig = convergence_figure(jobs, Columns.of(jobs), add_speedups(jobs))
    assert fig.get_suptitle().splitlines() == ["comparison", "3 runs on data=mnist_sample"]
