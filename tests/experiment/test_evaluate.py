"""scripts/evaluate.py: top-k codes, the linear probe, and an evaluation run beside the run it scores."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from sparsegrad.experiment.errors import ConfigError
from sparsegrad.experiment.evaluate import probe, top_k, validate_settings
from sparsegrad.function import no_grad
from sparsegrad.nn import AutoEncoder
from sparsegrad.tensor import Tensor


def test_top_k_keeps_the_k_largest_activations_and_all_of_them_is_the_model():
    model = AutoEncoder(16, 6, rng=np.random.default_rng(0))
    images = np.random.default_rng(1).random((20, 16)).astype(np.float32)
    with no_grad():
        full = float(((model(Tensor(images)).data - images) ** 2).mean())
    results = [top_k(model, images, k, repeats=1) for k in (1, 3, 6)]
    assert results[-1].recon_loss == pytest.approx(full, rel=1e-6)  # k = every unit: the model itself
    assert all(r.dense_ms > 0 and r.sparse_ms > 0 for r in results)
    assert top_k(model, images, 99, repeats=1).k == 6  # k capped at the hidden units


def test_the_probe_learns_classes_that_a_line_separates():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 600)
    features = (np.eye(3)[labels] + 0.1 * rng.standard_normal((600, 3))).astype(np.float32)
    settings = OmegaConf.create({"epochs": 20, "lr": 0.05, "batch_size": 32})
    accuracy = probe((features[:500], features[500:]), (labels[:500], labels[500:]), settings, rng)
    assert accuracy > 0.95


@pytest.mark.parametrize("override, key", [({"run": None}, "run"), ({"topk": [0]}, "topk"),
                                           ({"probe": {"epochs": 0, "lr": 0.1, "batch_size": 8}}, "probe.epochs")])
def test_settings_are_checked_naming_the_key(override, key):
    cfg = OmegaConf.create({"run": "abc", "topk": [5], "probe": {"epochs": 1, "lr": 0.1, "batch_size": 8},
                            **override})
    with pytest.raises(ConfigError, match=f"config error: {key}="):
        validate_settings(cfg)
