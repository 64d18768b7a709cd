"""The callbacks on their own, with the live state: clipping, the gradient monitor, SAE metrics, images over
time, figures, early stopping, and the order and stopping rules of `fit`."""

from __future__ import annotations

import numpy as np
import pytest

from sparsegrad.data import Dataset
from sparsegrad.experiment.build import build
from sparsegrad.experiment.callbacks import Callback, EarlyStopping, Figures, GradientMonitor, ImageLog, OptunaPruning
from sparsegrad.experiment.callbacks.gradient_monitor import metric_name
from sparsegrad.experiment.metrics import measure
from sparsegrad.experiment.tracking import provenance_tags
from sparsegrad.experiment.trainer import Settings, fit
from sparsegrad.nn import AutoEncoder, Parameter
from sparsegrad.nn.clip import clip_grad_norm

from .conftest import ROOT, compose_config


def tiny(epochs: int = 2, *overrides: str):
    cfg = compose_config(["model.input_dim=16", "model.hidden_dim=4", f"trainer.epochs={epochs}", *overrides])
    images = np.random.default_rng(1).random((40, 16)).astype(np.float32)
    labels = np.zeros(40, dtype=np.int64)
    data = Dataset("tiny", "random pixels", images, labels, images[:16], labels[:16])
    return build(cfg, np.random.default_rng(0)), data, Settings(epochs, 8, 50, progress=False)


def test_clip_grad_norm_scales_to_the_global_norm_as_pytorch():
    a, b, c = Parameter(np.zeros(2)), Parameter(np.zeros(1)), Parameter(np.zeros(1))
    a.grad, b.grad = np.array([3.0, 0.0]), np.array([4.0])  # global norm 5; c has no gradient
    assert clip_grad_norm([a, b, c], 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(a.grad, [3 / (5 + 1e-6), 0.0])
    np.testing.assert_allclose(b.grad, [4 / (5 + 1e-6)])
    assert c.grad is None
    assert clip_grad_norm([a, b], 10.0) == pytest.approx(1.0, rel=1e-5)  # under the bound: unchanged
    np.testing.assert_allclose(np.hypot(a.grad[0], b.grad[0]), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="max_norm=0 is not allowed"):
        clip_grad_norm([a], 0)


def test_training_with_clipping_keeps_every_sampled_gradient_norm_under_the_bound():
    parts, data, settings = tiny()
    settings.clip_grad_norm = 1e-3
    monitor = GradientMonitor(every_n_steps=1)
    state = fit(parts.model, parts.optimizer, parts.schedule, data, [monitor], objective=parts.objective,
                settings=settings, rng=np.random.default_rng(0))
    for name, _ in parts.model.named_parameters():  # each one's norm is at most the global norm
        assert max(state.history[metric_name("grad_norm_max", name)]) <= 1e-3 * (1 + 1e-4)


class Spy(Callback):
    """Records the gradients and weights the monitor saw, to recompute its numbers by hand."""

    def __init__(self, model):
        self.params = dict(model.named_parameters())
        self.grads, self.ratios = {n: [] for n in self.params}, {n: [] for n in self.params}
        self.before = {}

    def on_before_update(self, state, step):
        if step % 3 == 0 or step == 1:
            self.before = {n: p.data.copy() for n, p in self.params.items()}
            for n, p in self.params.items():
                self.grads[n].append(np.linalg.norm(p.grad))

    def on_after_update(self, state, step):
        for n, w in self.before.items():
            if np.linalg.norm(w) > 0:
                self.ratios[n].append(np.linalg.norm(self.params[n].data - w) / np.linalg.norm(w))
        self.before = {}



def test_gradient_monitor_records_each_parameters_norms_per_epoch():
    parts, data, settings = tiny(epochs=1)
    monitor, spy = GradientMonitor(every_n_steps=3), Spy(parts.model)
    state = fit(parts.model, parts.optimizer, parts.schedule, data, [spy, monitor], objective=parts.objective,
                settings=settings, rng=np.random.default_rng(0))
    for name, p in parts.model.named_parameters():
        assert len(spy.grads[name]) == 2  # 5 steps, sampled at the first and the third
        assert state.history[metric_name("grad_norm", name)] == pytest.approx([np.mean(spy.grads[name])], rel=1e-5)
        assert state.history[metric_name("grad_norm_max", name)] == pytest.approx([max(spy.grads[name])], rel=1e-5)
        assert state.history[metric_name("update_ratio", name)] == pytest.approx([np.mean(spy.ratios[name])], rel=1e-4)
        assert state.history[metric_name("norm", name)] == pytest.approx([np.linalg.norm(p.data)], rel=1e-5)
    assert metric_name("grad_norm", name) in state.metrics


def mlflow_run_page_order(keys):
    """The charts of a run's Model metrics tab in MLflow 3.17's order (RunsChartsCardConfig.
    getBaseChartAndSectionConfigs): a section per prefix (the key's part before its last "/"), named
    sections sorted by name above "Model metrics" (keys without "/"), charts sorted by key in each."""
    sections = {}
    for key in sorted(keys):
        sections.setdefault(key.rpartition("/")[0], []).append(key)
    return [(name or "Model metrics", sections[name]) for name in sorted(sections, key=lambda n: (n == "", n))]


def test_a_runs_page_opens_on_the_losses_and_the_gradient_charts_follow():
    parts, data, settings = tiny(epochs=1)
    state = fit(parts.model, parts.optimizer, parts.schedule, data, [GradientMonitor()], objective=parts.objective,
                settings=settings, rng=np.random.default_rng(0))
    sections = mlflow_run_page_order(state.history)
    assert [name for name, _ in sections] == ["train", "val", "Model metrics"], sections
    (_, train), (_, val), (_, plain) = sections
    assert train == ["train/loss", "train/recon_loss", "train/sparsity_loss"]  # + train/step_loss in MLflow
    assert val == ["val/recon_loss"]
    gradients = [i for i, k in enumerate(plain) if k.startswith("weights.")]
    assert len(gradients) == 16 and gradients[0] == len(plain) - 16, plain  # last, after l0 and the rest


def test_explained_variance_and_l0_against_their_definitions():
    model = AutoEncoder(16, 4, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).random((30, 16)).astype(np.float32)
    val = measure(model, x, chunk=7)  # in chunks: the same as at once
    recon, hidden = model(x_tensor := __import__("sparsegrad").Tensor(x)).data, model.encode(x_tensor).data
    fvu = ((x - recon) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    assert val.explained_variance == pytest.approx(1 - fvu, rel=1e-4)
    assert val.l0 == pytest.approx((hidden >= 0.01).sum(axis=1).mean())
    np.testing.assert_allclose(val.firing_rate, (hidden >= 0.01).mean(axis=0))
    assert val.recon_loss == pytest.approx(((x - recon) ** 2).mean(), rel=1e-5)


@pytest.fixture
def run(store_template, tmp_path):
    """An open run in a fresh store, whose recorder the callbacks write through."""
    from sparsegrad.experiment.run import Run
    from sparsegrad.experiment.tracking import Tracker
    from tests.harness import copy_store

    store = copy_store(store_template.result(), tmp_path / "store" / "mlflow.db")
    with Run(Tracker(store, "sparsegrad"), tmp_path / "run", name="test") as opened:
        yield opened


def test_image_log_draws_every_n_epochs_and_at_the_last(run):
    from tests.harness import client_for

    parts, data, settings = tiny(7)  # (16 pixels: 4 x 4 pictures)
    log = ImageLog(every_n_epochs=3, n_images=4)
    fit(parts.model, parts.optimizer, parts.schedule, data, [log], objective=parts.objective, settings=settings,
        rng=np.random.default_rng(0), recorder=run.recorder)
    stored = [f.path.split("/")[1].split("+") for f in client_for(run.tracker.uri).list_artifacts(run.run_id, "images")
              if f.path.endswith(".png")]  # images/<key>+step+<step>+timestamp+...png
    for key in ("reconstructions", "feature_density"):
        assert sorted(int(parts[2]) for parts in stored if parts[0] == key) == [3, 6, 7], key


def test_figures_draws_each_figure_as_a_png_and_stores_it(run, tmp_path):
    from tests.harness import client_for

    parts, data, settings = tiny(2)
    fit(parts.model, parts.optimizer, parts.schedule, data, [GradientMonitor(), Figures(target=0.1)],
        objective=parts.objective, settings=settings, rng=np.random.default_rng(0), recorder=run.recorder)
    names = ["activations.png", "features.png", "gradients.png", "loss_curve.png", "reconstructions.png"]
    assert sorted(p.name for p in (run.run_dir / "plots").iterdir()) == names
    assert all((run.run_dir / "plots" / n).read_bytes().startswith(b"\x89PNG") for n in names)
    stored = sorted(f.path for f in client_for(run.tracker.uri).list_artifacts(run.run_id, "plots"))
    assert stored == [f"plots/{n}" for n in names]


def test_images_that_are_not_square_pictures_get_no_picture_figures(tmp_path):
    parts, data, settings = tiny(1, "model.input_dim=12")
    images = data.train_images[:, :12].copy()
    data = Dataset("tiny", "random pixels", images, data.train_labels, images[:16], data.test_labels)
    state = fit(parts.model, parts.optimizer, parts.schedule, data, objective=parts.objective, settings=settings,
                rng=np.random.default_rng(0))
    paths = Figures().draw(state, tmp_path, "run test, data=tiny")
    assert sorted(p.name for p in paths) == ["activations.png", "gradients.png", "loss_curve.png"]


def test_a_callback_that_writes_says_so_when_fit_has_no_run():
    from sparsegrad.experiment.errors import ExperimentError

    parts, data, settings = tiny(1)
    with pytest.raises(ExperimentError, match="ImageLog writes through a run's recorder"):
        fit(parts.model, parts.optimizer, parts.schedule, data, [ImageLog()], objective=parts.objective,
            settings=settings, rng=np.random.default_rng(0))


class Order(Callback):
    """Writes down which hooks it saw, with the live model's identity."""

    def __init__(self, name, seen, runs_last=False):
        self.name, self.seen, self.runs_last = name, seen, runs_last

    def on_fit_start(self, state):
        self.seen.append((self.name, "fit_start", state.epoch))

    def on_epoch_end(self, state):
        self.seen.append((self.name, "epoch_end", state.epoch))
        state.log(f"{self.name}_metric", state.epoch * 10)

    def on_fit_end(self, state):
        self.seen.append((self.name, "fit_end", state.epoch))


def test_callbacks_run_in_order_on_the_live_state_and_those_that_record_last():
    parts, data, settings = tiny(2)
    seen = []
    last, first = Order("last", seen, runs_last=True), Order("first", seen)

    class Live(Callback):
        def on_epoch_end(self, state):
            assert state.model is parts.model  # the model being trained, not a copy
            assert state.metrics["first_metric"] == state.epoch * 10  # the epoch's metrics so far
            assert "last_metric" not in state.metrics
            seen.append(("live", "epoch_end", state.epoch))

    state = fit(parts.model, parts.optimizer, parts.schedule, data, [last, first, Live()],
                objective=parts.objective, settings=settings, rng=np.random.default_rng(0))
    assert seen == [("first", "fit_start", 0), ("last", "fit_start", 0),
                    ("first", "epoch_end", 1), ("live", "epoch_end", 1), ("last", "epoch_end", 1),
                    ("first", "epoch_end", 2), ("live", "epoch_end", 2), ("last", "epoch_end", 2),
                    ("first", "fit_end", 2), ("last", "fit_end", 2)]
    assert state.history["first_metric"] == [10.0, 20.0] and state.history["last_metric"] == [10.0, 20.0]


def test_a_callback_stops_training_after_the_epoch_and_says_why():
    parts, data, settings = tiny(5)
    seen = []

    class StopAtTwo(Callback):
        def on_epoch_end(self, state):
            if state.epoch == 2:
                state.stop("enough")

    state = fit(parts.model, parts.optimizer, parts.schedule, data, [StopAtTwo(), Order("after", seen)],
                objective=parts.objective, settings=settings, rng=np.random.default_rng(0))
    assert state.epoch == 2 and state.should_stop and state.stop_reason == "enough"
    assert ("after", "epoch_end", 2) in seen and seen[-1] == ("after", "fit_end", 2)  # its epoch ends whole


def test_early_stopping_waits_patience_epochs_without_improvement():
    stopper = EarlyStopping(monitor="train/loss", mode="min", patience=2, min_delta=0.01)

    class State:
        history: dict = {}
        stop_reason = ""

        def stop(self, reason):
            self.stop_reason = reason

    state = State()
    stopper.on_fit_start(state)
    for value in (1.0, 0.5, 0.495, 0.492):  # 0.495 and 0.492 improve by less than min_delta
        state.metrics = {"train/loss": value}
        stopper.on_epoch_end(state)
    assert "loss did not improve by more than 0.01 for 2 epochs (best 0.5)" in state.stop_reason
    resumed = EarlyStopping(monitor="explained_variance", mode="max", patience=3)
    state = State()
    state.history = {"explained_variance": [0.1, 0.5, 0.4, 0.3]}  # a resumed run's epochs count
    resumed.on_fit_start(state)
    assert resumed.best == 0.5 and resumed.bad_epochs == 2


@pytest.mark.parametrize("kwargs, key", [({"mode": "median"}, "mode"), ({"patience": 0}, "patience"),
                                         ({"min_delta": -1}, "min_delta"),
                                         ({"monitor": "val_recon_loss"}, "the metric is named val/recon_loss")])
def test_early_stopping_checks_its_arguments(kwargs, key):
    from sparsegrad.checks import ArgumentError

    with pytest.raises(ArgumentError, match=key):
        EarlyStopping(**kwargs)


@pytest.mark.parametrize("callback, setting", [
    (lambda: EarlyStopping(monitor="val/recon_los"), "callbacks.early_stopping.monitor"),
    (lambda: OptunaPruning("sqlite:///nowhere.db", "a study", 0, monitor="val/recon_los"), "hydra.sweeper.objective"),
])
def test_a_callback_watching_a_metric_the_run_does_not_log_names_the_nearest(callback, setting):
    from sparsegrad.experiment.errors import ExperimentError

    class State:
        metrics = {"train/loss": 0.1, "val/recon_loss": 0.05, "l0": 3.0}

    with pytest.raises(ExperimentError) as error:
        callback().on_epoch_end(State())
    assert str(error.value) == (f"{setting}='val/recon_los' is not a metric of this run: did you mean "
                                "val/recon_loss? its metrics are l0, train/loss, val/recon_loss")


def test_provenance_names_the_code_it_ran():
    tags = provenance_tags("scripts/train.py")
    assert tags["mlflow.source.name"] == "scripts/train.py"
    if (ROOT / ".git").exists():
        assert len(tags["mlflow.source.git.commit"]) == 40 and tags["sparsegrad.git_dirty"] in ("true", "false")


def test_the_printed_link_opens_mlflows_model_training_view():
    from sparsegrad.experiment.tracking import Tracker

    tracker = Tracker.__new__(Tracker)  # (no store needed to format a link)
    tracker.uri, tracker.experiment_id = "http://127.0.0.1:5000/", "3"
    assert tracker.run_url_hint("abc").endswith(
        "http://127.0.0.1:5000/#/experiments/3/runs/abc?workflowType=machine_learning")


def test_training_flushes_subnormal_floats_to_zero_on_x86_64():
    import platform

    from sparsegrad.experiment.denormals import flush_denormals

    tiny = np.full(4, 1e-39, dtype=np.float32)  # subnormal
    with flush_denormals() as flushed:
        inside = tiny * np.float32(0.5)
    after = tiny * np.float32(0.5)
    if platform.machine() == "x86_64" and platform.system() == "Linux":
        assert flushed and np.all(inside == 0)
    assert np.all(after != 0)  # only inside the block
    with flush_denormals(False) as flushed:
        assert not flushed and np.all(tiny * np.float32(0.5) != 0)
