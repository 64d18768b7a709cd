"""Figures of a run, drawn with matplotlib's Agg backend and saved as PNG."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure  # (no pyplot: a Figure of its own draws with Agg, and no window opens)

from sparsegrad.experiment.pictures import tile


def _wrap(title: str, width: int = 90) -> str:
    """A long title (a run's name holds its overrides) on several lines, so it does not widen the figure."""
    return "\n".join(textwrap.wrap(title, width)) or title


def titled_figure(size: tuple[float, float], title: str, width: int, axes: int = 1, *, axis_titles: bool = False,
                  title_size: float = 10, left: float = 0.8, bottom: float = 0.55) -> tuple[Figure, list[Axes]]:
    """`axes` side by side under `title` (wrapped at `width` characters), in a figure of `size` inches.

    The margins are in inches (room for tick labels, axis labels and the title's lines); `left`
    is the least room left of the first panel: `save_png` widens it, and the gaps between panels,
    to what the y axes' tick labels and labels measure. Nothing is drawn twice, as
    `bbox_inches="tight"` would.
    """
    text = _wrap(title, width)
    w, h = size
    top = 0.15 + (text.count("\n") + 1) * title_size / 72 * 1.3 + (0.3 if axis_titles else 0.0)
    fig = Figure(figsize=size)
    panels = list(fig.subplots(1, axes, squeeze=False)[0])
    fig.subplots_adjust(left=left / w, right=1 - 0.2 / w, bottom=bottom / h, top=1 - top / h,
                        wspace=(left + 0.2) / ((w - left - 0.2) / axes))
    fig.suptitle(text, fontsize=title_size, y=1 - 0.1 / h, va="top")
    return fig, panels


GAP = 0.35  # inches between a panel's right edge and the next panel's y axis (its last x tick label, air)


def _fit_y_axes(fig: Figure) -> None:
    """Room for each panel's y axis, measured: log-scale tick labels such as 6x10^-2 are wider than a
    fixed margin allows when the data span less than a decade. Lays out the y axes' text only (a few
    ms a panel), not the figure."""
    panels = [ax for ax in fig.axes if ax.axison]
    if not panels:
        return
    renderer = FigureCanvasAgg(fig).get_renderer()

    def reach(ax: Axes) -> float:  # inches the y axis (tick labels and label) reaches left of the panel
        axis = ax.yaxis.get_tightbbox(renderer)
        return 0.0 if axis is None else max(0.0, (ax.get_window_extent(renderer).x0 - axis.x0) / fig.dpi)

    w, pars = fig.get_figwidth(), fig.subplotpars
    reaches = [reach(ax) + 0.08 for ax in panels]
    left, right = max(pars.left * w, reaches[0]), (1 - pars.right) * w
    if len(panels) == 1:
        fig.subplots_adjust(left=left / w)
        return
    gap = max(pars.wspace * (w - left - right) / (len(panels) + pars.wspace * (len(panels) - 1)),
              max(reaches[1:]) + GAP)
    width = (w - left - right - gap * (len(panels) - 1)) / len(panels)
    fig.subplots_adjust(left=left / w, wspace=gap / width)


def save_png(fig: Figure, path: Path) -> Path:
    """`fig` as the PNG `path`, its y-axis labels given the room they need."""
    _fit_y_axes(fig)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def loss_curve(train: Sequence[float], val: Sequence[float], path: Path, title: str = "") -> Path:
    """Training loss and validation reconstruction loss per epoch (log scale)."""
    fig, (ax,) = titled_figure((6, 4.3), title or "loss per epoch", 70, title_size=9)
    epochs = np.arange(1, len(train) + 1)
    ax.plot(epochs, train, marker="o", markersize=3, label="train/loss (recon + beta * sparsity)")
    ax.plot(epochs, val, marker="o", markersize=3, label="val/recon_loss (reconstruction, validation)")
    ax.set(xlabel="epoch", ylabel="loss", yscale="log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right")
    return save_png(fig, path)


def reconstructions(originals: np.ndarray, recon: np.ndarray, path: Path, side: int = 28, title: str = "") -> Path:
    """Originals on the top row, their reconstructions below."""
    n = len(originals)
    fig, (ax,) = titled_figure((max(n * 0.9, 6), 2.6), title or "validation images and their reconstructions", 90,
                               title_size=9, left=1.3, bottom=0.1)
    ax.imshow(tile(np.concatenate([originals, recon]), n, side), cmap="gray", vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([(side + 1) * 0.5, (side + 1) * 1.5], ["original", "reconstructed"])
    return save_png(fig, path)


def gradients(history: dict[str, list[float]], path: Path, title: str = "") -> Path:
    """Per parameter over the epochs: gradient norm, weight norm, update-to-weight ratio (log scales)."""
    # (the gradient monitor's names, callbacks/gradient_monitor.metric_name: weights.KIND.PARAM)
    kinds = (("weights.grad_norm.", "gradient norm (mean over sampled steps)"), ("weights.norm.", "weight norm"),
             ("weights.update_ratio.", "update norm / weight norm"))
    fig, axes = titled_figure((15, 4.4), title or "gradients per parameter", 140, 3, axis_titles=True)
    for ax, (prefix, label) in zip(axes, kinds):
        for key, values in sorted(history.items()):
            if key.startswith(prefix) and any(math.isfinite(v) and v > 0 for v in values):
                ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=key[len(prefix):])
        ax.set(xlabel="epoch", ylabel=label, yscale="log", title=label)
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    return save_png(fig, path)


def features(weights: np.ndarray, path: Path, side: int = 28,
             title: str = "what each hidden unit draws (decoder weights)") -> Path:
    """Each hidden unit's weights to the pixels (one row of W: hidden x pixels) as an image."""
    units = weights.shape[0]
    # Scale each unit's weights to [0, 1] on its own, so every feature shows its pattern;
    # the 1st and 99th percentiles bound the scale, so a few extreme weights (on pixels
    # that are almost always blank) do not wash the pattern out.
    low, high = np.percentile(weights, [1, 99], axis=1, keepdims=True)
    scaled = np.clip((weights - low) / np.maximum(high - low, 1e-12), 0.0, 1.0)
    cols = math.ceil(math.sqrt(units))
    width = max(cols * 0.8, 6)
    fig, (ax,) = titled_figure((width, math.ceil(units / cols) * 0.8 + 0.8), title, round(width * 10), left=0.1,
                               bottom=0.1)
    ax.imshow(tile(scaled, cols, side), cmap="gray", vmin=0.0, vmax=1.0)
    ax.axis("off")
    return save_png(fig, path)


def activation_histogram(hidden: np.ndarray, target: float | None, path: Path, title: str = "") -> Path:
    """Distribution of hidden activations and of each unit's mean activation."""
    fig, (ax1, ax2) = titled_figure((9, 3.9), title or "hidden activations", 90, 2, axis_titles=True, left=1.1)
    ax1.hist(hidden.ravel(), bins=50, color="tab:blue", histtype="stepfilled")
    ax1.set(xlabel="activation", ylabel="count", yscale="log", title="all activations")
    ax2.hist(hidden.mean(axis=0), bins=30, color="tab:orange", histtype="stepfilled")
    if target is not None:
        ax2.axvline(target, color="k", linestyle="--", label=f"target {target:g}")
        ax2.legend()
    ax2.set(xlabel="mean activation of a unit", ylabel="units", title="per-unit means")
    return save_png(fig, path)


def topk(ks: Sequence[int], losses: Sequence[float], dense_ms: Sequence[float], sparse_ms: Sequence[float],
         path: Path, title: str) -> Path:
    """Left: reconstruction loss from the k largest activations. Right: decode time, dense against sparse."""
    fig, (left, right) = titled_figure((11, 4.4), title, 110, 2, axis_titles=True)
    left.plot(ks, losses, "o-")
    left.set(xlabel="k (hidden activations kept per image)", ylabel="reconstruction MSE", yscale="log",
             title="top-k reconstruction")
    right.plot(ks, dense_ms, "o-", label="dense codes (BLAS matrix product)")
    right.plot(ks, sparse_ms, "s--", label="sparse codes (CSR, k nonzeros per image)")
    right.set(xlabel="k", ylabel="decode time of the test set (ms, best of 5)", yscale="log",
              title="does sparsity buy faster decoding?")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
    right.legend(fontsize=8)
    return save_png(fig, path)
