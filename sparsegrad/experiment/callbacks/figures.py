"""The run's figures, drawn with matplotlib when training ends and stored under `plots/`."""

from __future__ import annotations

from pathlib import Path

from sparsegrad.experiment.callback import Callback, TrainState
from sparsegrad.experiment.callbacks.recording import recorder_of
from sparsegrad.experiment.pictures import side_of
from sparsegrad.function import no_grad
from sparsegrad.tensor import Tensor


class Figures(Callback):
    """At the end: the loss curve, reconstructions, features, activations and gradients, as PNGs.

    `target` is the sparsity target drawn on the activations' histogram (null: none).
    """

    def __init__(self, target: float | None = None, n_images: int = 10, n_hidden: int = 2000) -> None:
        self.target, self.n_images, self.n_hidden = target, n_images, n_hidden

    def on_fit_start(self, state: TrainState) -> None:
        recorder_of(state, self)

    def on_fit_end(self, state: TrainState) -> None:
        recorder = recorder_of(state, self)
        for png in self.draw(state, recorder.run_dir / "plots", recorder.caption(state.data.name)):
            recorder.log_artifact(png, "plots")

    def draw(self, state: TrainState, folder: Path, caption: str) -> list[Path]:
        """Every figure as a PNG in `folder`; their paths."""
        from sparsegrad.experiment import plots  # (matplotlib's import: only once a run ends)

        model, h, images = state.model, state.history, state.data.test_images
        with no_grad():
            hidden = model.encode(Tensor(images[:self.n_hidden])).data
        paths = [plots.loss_curve(h["train/loss"], h["val/recon_loss"], folder / "loss_curve.png",
                                  f"loss per epoch: {caption}")]
        side = side_of(images.shape[1])
        if side:
            sample = images[:self.n_images]
            with no_grad():
                recon = model(Tensor(sample)).data
            paths.append(plots.reconstructions(sample, recon, folder / "reconstructions.png", side,
                                               f"reconstructions: {caption}"))
            # The decoder's rows: the image each hidden unit adds to the reconstruction. (The
            # encoder's columns show the same patterns through the noise of rarely lit pixels.)
            paths.append(plots.features(model.decoder[0].weight.data, folder / "features.png", side,
                                        f"what each hidden unit draws (decoder weights): {caption}"))
        paths.append(plots.activation_histogram(hidden, self.target, folder / "activations.png",
                                                f"hidden activations: {caption}"))
        paths.append(plots.gradients(h, folder / "gradients.png", f"gradients per parameter: {caption}"))
        return paths
