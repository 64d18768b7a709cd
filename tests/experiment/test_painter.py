"""The painter: a run's figures drawn in a process of its own, which outlives Ctrl-C and is replaced if killed."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest

from sparsegrad.experiment import painter

PNG = b"\x89PNG"


def figures(folder, square=True, history=None):
    rng = np.random.default_rng(0)
    epochs = 3
    if history is None:
        history = {"loss": [0.3, 0.2, 0.1], "val_recon_loss": [0.25, 0.2, 0.15]}
        history |= {f"{k}/encoder.weight": list(rng.random(epochs) + 0.1)
                    for k in ("grad_norm", "weight_norm", "update_ratio")}
    pictures = dict(images=rng.random((4, 784)), recon=rng.random((4, 784)), decoder=rng.normal(size=(16, 784)))
    return painter.Figures(folder, "run test (0123abcd), data=synthetic", history, rng.random((50, 16)), 0.1,
                           **(pictures if square else {}))


def painter_pid() -> int:
    (pid,) = painter._painter._processes  # the one process of the pool
    return pid


def test_the_painter_draws_each_figure_as_a_png(tmp_path):
    paths = painter.paint(figures(tmp_path / "plots")).result(timeout=60)
    assert sorted(p.name for p in paths) == ["activations.png", "features.png", "gradients.png", "loss_curve.png",
                                             "reconstructions.png"]
    assert all(p.read_bytes().startswith(PNG) for p in paths)
    assert painter_pid() != os.getpid()


def test_images_that_are_not_square_pictures_get_no_picture_figures(tmp_path):
    paths = painter.paint(figures(tmp_path, square=False)).result(timeout=60)
    assert sorted(p.name for p in paths) == ["activations.png", "gradients.png", "loss_curve.png"]


def test_a_figure_that_cannot_be_drawn_raises_where_it_is_awaited(tmp_path):
    with pytest.raises(KeyError, match="loss"):
        painter.paint(figures(tmp_path, history={})).result(timeout=60)


def test_ctrl_c_is_left_to_the_process_that_started_the_painter(tmp_path):
    painter.paint(figures(tmp_path / "a")).result(timeout=60)
    pid = painter_pid()
    os.kill(pid, signal.SIGINT)  # what a terminal's Ctrl-C sends the whole process group
    assert painter.paint(figures(tmp_path / "b")).result(timeout=60)
    assert painter_pid() == pid


def test_a_killed_painter_is_replaced(tmp_path):
    painter.paint(figures(tmp_path / "a")).result(timeout=60)
    pid = painter_pid()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not painter._painter._broken and time.monotonic() < deadline:  # the pool sees it die at once
        time.sleep(0.01)
    paths = painter.paint(figures(tmp_path / "b")).result(timeout=60)
    assert len(paths) == 5 and painter_pid() != pid


def test_a_run_whose_painter_dies_is_failed_with_one_line_keeping_its_weights(store_template, tmp_path):
    from sparsegrad.experiment.errors import ExperimentError
    from sparsegrad.experiment.job import _store_figures
    from sparsegrad.experiment.run import Run
    from sparsegrad.experiment.tracking import Tracker
    from tests.harness import client_for, copy_store

    store = copy_store(store_template.result(), tmp_path / "store" / "mlflow.db")
    painter.start()
    pid = painter_pid()
    with Run(Tracker(store, "sparsegrad"), tmp_path / "run", name="r", on_failure="record") as run:
        drawing = painter.paint(figures(tmp_path / "plots"))
        os.kill(pid, signal.SIGKILL)  # (while it draws: the figures take most of a second)
        run.later(_store_figures, run, drawing)
        (tmp_path / "weights.npz").write_bytes(b"weights")
        run.later(run.tracker.log_artifact, run.run_id, tmp_path / "weights.npz", "model")
    assert run.status == "FAILED" and run.reason.startswith("the painter process drawing this run's figures died")
    assert [f.path for f in client_for(store).list_artifacts(run.run_id, "model")] == ["model/weights.npz"]
    with pytest.raises(ExperimentError, match="the painter process drawing this run's figures died"):
        _store_figures(run, drawing)


def test_where_no_painter_can_start_the_figures_are_drawn_in_this_process(tmp_path, monkeypatch):
    monkeypatch.setattr(painter, "_painter", None)
    monkeypatch.setattr(painter, "_can_start", lambda: False)  # as in a joblib (loky) worker
    drawn = painter.paint(figures(tmp_path))
    assert drawn.done() and len(drawn.result()) == 5 and painter._painter is None
