"""The research instruments on their own: clipping, the gradient monitor, SAE metrics, images over time."""

from __future__ import annotations

import numpy as np
import pytest

from sparsegrad.data import Dataset
from sparsegrad.experiment.build import build
from sparsegrad.experiment.instruments import GradientMonitor, ImageLog
from sparsegrad.experiment.tracking import provenance_tags
from sparsegrad.experiment.trainer import Settings, fit, validate_model
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
    monitor = GradientMonitor(parts.model, every=1)
    state = fit(parts.model, parts.optimizer, parts.schedule, data, [monitor], objective=parts.objective,
                settings=settings, rng=np.random.default_rng(0))
    for name, _ in parts.model.named_parameters():  # each one's norm is at most the global norm
        assert max(state.history[f"grad_norm_max/{name}"]) <= 1e-3 * (1 + 1e-4)


class Spy:
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

    def on_epoch_end(self, state):
        pass


def test_gradient_monitor_records_each_parameters_norms_per_epoch():
    parts, data, settings = tiny(epochs=1)
    monitor, spy = GradientMonitor(parts.model, every=3), Spy(parts.model)
    state = fit(parts.model, parts.optimizer, parts.schedule, data, [spy, monitor], objective=parts.objective,
                settings=settings, rng=np.random.default_rng(0))
    for name, p in parts.model.named_parameters():
        assert len(spy.grads[name]) == 2  # 5 steps, sampled at the first and the third
        assert state.history[f"grad_norm/{name}"] == pytest.approx([np.mean(spy.grads[name])], rel=1e-5)
        assert state.history[f"grad_norm_max/{name}"] == pytest.approx([max(spy.grads[name])], rel=1e-5)
        assert state.history[f"update_ratio/{name}"] == pytest.approx([np.mean(spy.ratios[name])], rel=1e-4)
        assert state.history[f"weight_norm/{name}"] == pytest.approx([np.linalg.norm(p.data)], rel=1e-5)
    assert f"grad_norm/{name}" in state.last()


def test_explained_variance_and_l0_against_their_definitions():
    model = AutoEncoder(16, 4, rng=np.random.default_rng(0))
    x = np.random.default_rng(1).random((30, 16)).astype(np.float32)
    val = validate_model(model, x, chunk=7)  # in chunks: the same as at once
    recon, hidden = model(x_tensor := __import__("sparsegrad").Tensor(x)).data, model.encode(x_tensor).data
    fvu = ((x - recon) ** 2).sum() / ((x - x.mean(axis=0)) ** 2).sum()
    assert val.explained_variance == pytest.approx(1 - fvu, rel=1e-4)
    assert val.l0 == pytest.approx((hidden >= 0.01).sum(axis=1).mean())
    np.testing.assert_allclose(val.firing_rate, (hidden >= 0.01).mean(axis=0))
    assert val.val_recon_loss == pytest.approx(((x - recon) ** 2).mean(), rel=1e-5)


def test_image_log_draws_every_n_epochs_and_at_the_last():
    parts, data, settings = tiny(epochs=7)
    seen = []
    log = ImageLog(data.test_images[:4], 7, lambda key, picture, epoch: seen.append((key, picture.shape, epoch)),
                   every=3, caption="run test, data=tiny")
    fit(parts.model, parts.optimizer, parts.schedule, data, [log], objective=parts.objective, settings=settings,
        rng=np.random.default_rng(0))
    assert [(k, e) for k, _, e in seen] == [(k, e) for e in (3, 6, 7) for k in ("reconstructions", "feature_density")]
    assert all(len(shape) == 3 and shape[2] == 3 for _, shape, _ in seen)  # RGB pictures


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
