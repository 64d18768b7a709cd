"""A user's own callbacks, each one class in one file, as docs/runner.md shows: a metric, a figure, a stop."""

from __future__ import annotations

from sparsegrad.experiment import Callback, TrainState


class DecoderBiasMean(Callback):
    """A new metric: logged with the epoch's others, through the metric logger."""

    def on_epoch_end(self, state: TrainState) -> None:
        state.log("decoder_bias_mean", float(state.model.decoder[0].bias.data.mean()))


class WeightHistogram(Callback):
    """A new figure: drawn when training ends, stored with the run's plots."""

    def __init__(self, bins: int = 30) -> None:
        self.bins = bins

    def on_fit_end(self, state: TrainState) -> None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 3.5))
        ax = fig.subplots()
        ax.hist(state.model.encoder[0].weight.data.ravel(), bins=self.bins)
        ax.set(xlabel="encoder weight", ylabel="count", title=state.recorder.caption(state.data.name))
        path = state.recorder.run_dir / "plots" / "encoder_weights.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path)
        state.recorder.log_artifact(path, "plots")


class StopAfter(Callback):
    """A callback that stops training."""

    def __init__(self, epochs: int = 1) -> None:
        self.epochs = epochs

    def on_epoch_end(self, state: TrainState) -> None:
        if state.epoch >= self.epochs:
            state.stop(f"stop_after: {self.epochs} epochs")
