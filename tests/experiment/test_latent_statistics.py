"""Dead and dense units on the validation images, with one meaning of "active" (>= 0.01) for every unit kind."""

from __future__ import annotations

import numpy as np
import pytest

from sparsegrad.experiment.metrics import DENSE_ABOVE, NEAR_ZERO, measure
from sparsegrad.nn import AutoEncoder


def identity_encoder(activation: str, k: int | None = None) -> AutoEncoder:
    """4-4-4 whose code is activation(x): the test picks the pre-activations directly."""
    model = AutoEncoder(4, 4, hidden_activation=activation, k=k, rng=np.random.default_rng(0))
    model.encoder[0].weight.data[...] = np.eye(4, dtype=np.float32)
    return model


def test_dead_and_dense_units_from_a_known_code():
    # rows are images; columns the four units' pre-activations (ReLU: the code itself)
    x = np.array([[0.0, 0.5, 0.9, 0.005],
                  [0.0, 0.2, 0.0, 0.005],
                  [0.0, 0.3, 0.0, 0.005],
                  [0.0, 0.0, 0.0, 0.005]], dtype=np.float32)
    val = measure(identity_encoder("relu"), x)
    # unit 0 never fires, unit 3 only below NEAR_ZERO: both dead; unit 1 fires on 3 of 4 images: dense
    assert val.dead_units == 2 and val.dense_units == 1
    np.testing.assert_allclose(val.firing_rate, [0.0, 0.75, 0.25, 0.0])
    assert val.l0 == pytest.approx(4 / 4)
    assert "dense_units" in val.scalars() and "dead_units" in val.scalars()  # logged each epoch


def test_active_means_the_same_for_sigmoid_relu_and_topk():
    pre = np.array([[-10.0, 3.0, 0.004, 1.0], [-10.0, 2.0, 0.5, -1.0]], dtype=np.float32)
    # sigmoid(-10) = 4.5e-5 is never exactly 0, but is below NEAR_ZERO: silent, as ReLU's 0 is
    for activation, k, dead, rates in (("relu", None, 1, [0.0, 1.0, 0.5, 0.5]),
                                       ("topk", 2, 1, [0.0, 1.0, 0.5, 0.5]),
                                       ("topk", 1, 3, [0.0, 1.0, 0.0, 0.0])):
        val = measure(identity_encoder(activation, k), pre)
        assert val.dead_units == dead, activation
        np.testing.assert_allclose(val.firing_rate, rates)
    val = measure(identity_encoder("sigmoid"), pre)
    assert val.dead_units == 1 and val.dense_units == 3  # sigmoid(0.004) = 0.501: active, like sigmoid(-1)
    assert NEAR_ZERO == 0.01 and DENSE_ABOVE == 0.5


def test_a_unit_active_on_exactly_half_the_images_is_not_dense():
    x = np.array([[1.0, 1, 1, 1], [0, 0, 0, 0]], dtype=np.float32)
    assert measure(identity_encoder("relu"), x).dense_units == 0
