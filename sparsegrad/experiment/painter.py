"""A run's figures, drawn by a process of its own while this one goes on training.

matplotlib holds the GIL for the second or so that a run's five figures take (its import
another half second), so a thread would stop training for that long: the painter is a
process, started when a run begins (it imports matplotlib meanwhile) and kept for the
runs that follow, as a sweep's jobs do in one process. `paint(figures)` hands it what
the figures show and returns at once; the run's background writer waits for the PNGs
and stores them before the run is recorded FINISHED. (In a joblib worker, whose
processes loky starts, the figures are drawn in the worker itself.)
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Figures:
    """What a finished run's figures show (arrays and numbers only: it is sent to the painter)."""

    folder: Path  # where the PNGs go
    caption: str  # which run and data they show: "run <name> (<id>), data=<name>"
    history: dict[str, list[float]]  # the run's per-epoch metrics
    hidden: np.ndarray  # hidden activations of validation images
    target: float | None  # the sparsity target rho, if any
    images: np.ndarray | None = None  # a few validation images, when they are square pictures
    recon: np.ndarray | None = None  # and their reconstructions
    decoder: np.ndarray | None = None  # the decoder's weights (hidden x pixels)


def draw(f: Figures) -> list[Path]:
    """Draw every figure of `f` as a PNG in `f.folder` (in the painter); their paths."""
    from sparsegrad.experiment import plots
    from sparsegrad.experiment.pictures import side_of

    h, c = f.history, f.caption
    paths = [plots.loss_curve(h["loss"], h["val_recon_loss"], f.folder / "loss_curve.png", f"loss per epoch: {c}")]
    if f.images is not None and f.recon is not None and f.decoder is not None:
        side = side_of(f.images.shape[1])
        paths.append(plots.reconstructions(f.images, f.recon, f.folder / "reconstructions.png", side,
                                           f"reconstructions: {c}"))
        # The decoder's rows: the image each hidden unit adds to the reconstruction. (The
        # encoder's columns show the same patterns through the noise of rarely lit pixels.)
        paths.append(plots.features(f.decoder, f.folder / "features.png", side,
                                    f"what each hidden unit draws (decoder weights): {c}"))
    paths.append(plots.activation_histogram(f.hidden, f.target, f.folder / "activations.png",
                                            f"hidden activations: {c}"))
    paths.append(plots.gradients(h, f.folder / "gradients.png", f"gradients per parameter: {c}"))
    return paths


def _ready() -> None:
    """The painter's start: imports matplotlib, and leaves Ctrl-C to the process that started it
    (a terminal sends it to the whole process group; that process decides what ends)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from sparsegrad.experiment import plots  # noqa: F401


_painter: ProcessPoolExecutor | None = None


def _can_start() -> bool:
    """False in a joblib worker: its start method is loky's, which a spawned child cannot set up."""
    return multiprocessing.get_start_method(allow_none=True) in (None, "spawn", "fork", "forkserver")


def start() -> None:
    """Start the painter (if not running), so that it is ready when a run ends."""
    global _painter
    if _painter is None and _can_start():
        # "spawn": a fresh interpreter; forking a process that runs threads (MLflow's, the run's
        # writer) could copy a lock some thread holds.
        painter = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_ready)
        try:
            painter.submit(int)  # (a process starts with its first task)
        except OSError as exc:  # no process to be had (a limit on processes or memory)
            log.warning("cannot start a painter process (%s): the figures are drawn in this one", exc)
            return
        _painter = painter


def paint(figures: Figures) -> Future[list[Path]]:
    """Have the painter draw `figures`; the future gives the PNGs' paths, or the error."""
    global _painter
    for _ in range(2):  # a painter that died (killed) is replaced, once
        start()
        if _painter is None:
            break
        try:
            return _painter.submit(draw, figures)
        except BrokenProcessPool:
            _painter = None
    drawn: Future[list[Path]] = Future()  # drawn here, now
    try:
        drawn.set_result(draw(figures))
    except Exception as exc:  # (raised where the result is awaited, as from the painter)
        drawn.set_exception(exc)
    return drawn
