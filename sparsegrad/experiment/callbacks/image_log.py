"""The image log: reconstructions and feature density as MLflow images, by epoch (the UI's slider)."""

from __future__ import annotations

import numpy as np

from sparsegrad.checks import check
from sparsegrad.experiment.callback import Callback, TrainState
from sparsegrad.experiment.callbacks.recording import recorder_of
from sparsegrad.experiment.pictures import density_bars, reconstruction_grid, side_of
from sparsegrad.function import no_grad
from sparsegrad.tensor import Tensor


class ImageLog(Callback):
    """Every `every_n_epochs` epochs and at the last: `n_images` validation images over their
    reconstructions, and the feature density (each unit's firing rate, as a histogram).

    Both are drawn with NumPy alone (well under a millisecond; matplotlib took ~0.1 s a figure).
    Images that are not square pictures get none.
    """

    def __init__(self, every_n_epochs: int = 5, n_images: int = 10) -> None:
        check(isinstance(every_n_epochs, int) and every_n_epochs >= 1, "every_n_epochs", every_n_epochs,
              "an integer >= 1")
        check(isinstance(n_images, int) and n_images >= 1, "n_images", n_images, "an integer >= 1")
        self.every, self.n_images = every_n_epochs, n_images

    def on_fit_start(self, state: TrainState) -> None:
        recorder_of(state, self)

    def on_epoch_end(self, state: TrainState) -> None:
        if state.epoch % self.every and state.epoch != state.epochs and not state.should_stop:
            return
        images = state.data.test_images[:self.n_images]
        if not side_of(images.shape[1]):
            return
        with no_grad():
            recon = state.model(Tensor(images)).data
        recorder = recorder_of(state, self)
        recorder.log_image("reconstructions", reconstruction_grid(images, recon), state.epoch)
        rates = state.validation.firing_rate if state.validation is not None else np.zeros(0)
        recorder.log_image("feature_density", density_bars(rates), state.epoch)
