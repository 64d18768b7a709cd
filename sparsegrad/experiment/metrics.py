"""The model's metrics on held-out images: reconstruction, explained variance and the hidden code's sparsity.

`measure(model, images)` returns a `Validation`; every field of it that is a number is logged
each epoch under its own name, or the one its `metric` says (a new field here is a new metric:
nothing else changes). The loss is `val/recon_loss`, beside the trainer's `train/loss`: MLflow's run
page draws a section per prefix, so the two losses' sections open the page.

"Active" means one thing for every hidden unit, sigmoid, ReLU or TopK: an activation of at least
NEAR_ZERO (0.01). Not "nonzero": a sigmoid unit is never exactly 0 (float32 flushes it only below
an input of -70), so every sigmoid code would count all 64 units active and the KL penalty's effect
would not show at all. A ReLU or TopK unit that is off is exactly 0, so for them the threshold only
moves the rare values in (0, 0.01) to "off" (docs/results/sparsity_methods.md measures how many).
On it rest `l0` (active units per image), `dead_units` (active on no validation image) and
`dense_units` (active on more than DENSE_ABOVE of them), and `firing_rate`, each unit's share
of images, drawn as the feature-density histogram (callbacks/image_log.py).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields

import numpy as np

from sparsegrad.experiment.errors import ExperimentError
from sparsegrad.function import no_grad
from sparsegrad.nn import AutoEncoder
from sparsegrad.operations.loss import MSELoss
from sparsegrad.tensor import Tensor

# The losses' names before they took MLflow sections (train/, val/): a monitor or an objective given one
# is told its name now, before anything runs, not one epoch into a run (callbacks/early_stopping.py,
# tuning/study.py).
FORMER_NAMES = {"loss": "train/loss", "recon_loss": "train/recon_loss", "sparsity_loss": "train/sparsity_loss",
                "step_loss": "train/step_loss", "val_recon_loss": "val/recon_loss"}


def renamed(metric: str) -> str | None:
    """What `metric` is called now, if it is a former name (else None)."""
    return FORMER_NAMES.get(metric)


def not_a_metric(setting: str, metric: str, metrics: Iterable[str]) -> ExperimentError:
    """The error for a callback told to watch a metric the run does not log: the nearest names, then all."""
    names = sorted(metrics)
    near = difflib.get_close_matches(metric, names, n=2)
    hint = f"did you mean {' or '.join(near)}? " if near else ""
    return ExperimentError(f"{setting}={metric!r} is not a metric of this run: {hint}"
                           f"its metrics are {', '.join(names)}")


NEAR_ZERO = 0.01  # an activation below this counts as silent
# A unit active on more than half the images is "dense": its silence, not its firing, is the rarer event,
# so it acts more like a bias than a feature. (Even TopK's k = 20 of 64 averages 31%; the seed's
# sigmoid units, active on nearly every image, are all dense.)
DENSE_ABOVE = 0.5


@dataclass
class Validation:
    """Reconstruction and sparsity of the model on held-out images."""

    recon_loss: float = field(metadata={"metric": "val/recon_loss"})  # mean squared error per pixel
    explained_variance: float  # 1 - FVU: 1 - sum (x - x_hat)^2 / sum (x - mean x)^2; scale-free
    l0: float  # hidden units above NEAR_ZERO per image, on average
    mean_activation: float  # should approach sparsity.target
    near_zero_fraction: float  # share of activations below NEAR_ZERO
    dead_units: int  # hidden units below NEAR_ZERO on every image
    dense_units: int  # hidden units active on more than DENSE_ABOVE of the images
    firing_rate: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0))  # per unit: share of images

    def scalars(self) -> dict[str, float]:
        """The metrics to log: every field that is a number."""
        values = {f.metadata.get("metric", f.name): getattr(self, f.name) for f in fields(self)}
        return {k: float(v) for k, v in values.items() if isinstance(v, int | float)}


def total_variance(images: np.ndarray, chunk: int = 10_000) -> float:
    """sum over pixels and images of (x - mean x)^2, explained variance's denominator (the data's alone:
    `fit` computes it once)."""
    pixel_sum = pixel_squares = 0.0  # per pixel: sum (x - mean x)^2 = sum x^2 - n mean^2
    for start in range(0, len(images), chunk):
        x = images[start:start + chunk]
        pixel_sum = pixel_sum + x.sum(axis=0, dtype=np.float64)
        pixel_squares = pixel_squares + np.einsum("ij,ij->j", x, x, dtype=np.float64)
    return float((pixel_squares - pixel_sum**2 / len(images)).sum())


# Validation runs in chunks of images small enough for the CPU's cache (1,000 images of 784 float32
# pixels are 3 MB): each op's pass over a chunk then reads memory once, and 10,000 validation images
# take about half the time they take in one piece (measured here: ~60-80 ms against ~130-180 ms).
CHUNK = 1000


def measure(model: AutoEncoder, images: np.ndarray, chunk: int = CHUNK, variance: float | None = None) -> Validation:
    """Reconstruction, explained variance and hidden-unit statistics on `images`, without a graph."""
    squared_error, hidden_sum, near_zero = 0.0, 0.0, 0
    unit_max, firing = None, None
    with no_grad(), np.errstate(over="ignore", invalid="ignore"):
        for start in range(0, len(images), chunk):
            x = images[start:start + chunk]
            hidden = model.encode(Tensor(x))
            squared_error += float(MSELoss.apply(Tensor(x), model.decode(hidden)).data) * x.size
            h = hidden.data
            hidden_sum += float(h.sum())
            silent = h < NEAR_ZERO
            near_zero += int(np.count_nonzero(silent))
            lit = h.shape[0] - silent.sum(axis=0)  # images each unit fires on
            top = h.max(axis=0)
            unit_max = top if unit_max is None else np.maximum(unit_max, top)
            firing = lit if firing is None else firing + lit
    n, units = len(images), unit_max.size
    variance = total_variance(images, chunk) if variance is None else variance
    return Validation(recon_loss=squared_error / images.size,
                      explained_variance=1.0 - squared_error / variance if variance > 0 else math.nan,
                      l0=(n * units - near_zero) / n, mean_activation=hidden_sum / (n * units),
                      near_zero_fraction=near_zero / (n * units),
                      dead_units=int(np.count_nonzero(unit_max < NEAR_ZERO)),
                      dense_units=int(np.count_nonzero(firing > DENSE_ABOVE * n)), firing_rate=firing / n)
