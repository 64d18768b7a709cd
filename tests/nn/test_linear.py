"""Linear: Xavier initialisation, forward against NumPy, gradients against closed forms."""

import math

import numpy as np
import pytest

from sparsegrad import Tensor, gradcheck
from sparsegrad.nn import Linear, Parameter


@pytest.mark.parametrize("fan_in, fan_out", [(784, 64), (64, 784), (300, 200), (10, 1)])
def test_xavier_uniform_bounds_and_variance(fan_in, fan_out):
    layer = Linear(fan_in, fan_out, np.random.default_rng(0))
    w = layer.weight.data
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    assert w.shape == (fan_in, fan_out) and w.dtype == np.float32
    assert np.all(np.abs(w) <= bound)
    assert isinstance(layer.weight, Parameter) and isinstance(layer.bias, Parameter)
    np.testing.assert_array_equal(layer.bias.data, np.zeros(fan_out, dtype=np.float32))
    assert layer.bias.dtype == np.float32
    if w.size >= 10_000:  # enough samples for the moments to be tight
        assert np.abs(w).max() > 0.99 * bound  # the whole interval is used
        assert w.var() == pytest.approx(2.0 / (fan_in + fan_out), rel=0.05)  # U(-a, a): a^2 / 3
        assert abs(w.mean()) < 0.02 * bound


def test_init_is_reproducible_with_rng_and_random_without():
    a = Linear(5, 4, np.random.default_rng(1)).weight.data
    b = Linear(5, 4, np.random.default_rng(1)).weight.data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(Linear(5, 4).weight.data, Linear(5, 4).weight.data)


def test_forward_matches_numpy():
    layer = Linear(3, 2, np.random.default_rng(2))
    layer.bias.data[...] = [0.5, -1.0]
    x = np.random.default_rng(3).standard_normal((4, 3)).astype(np.float32)
    out = layer(Tensor(x))
    assert out.shape == (4, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out.data, x @ layer.weight.data + layer.bias.data, rtol=1e-6)
    # a single sample (1-D) works too
    np.testing.assert_allclose(layer(Tensor(x[0])).data, x[0] @ layer.weight.data + layer.bias.data, rtol=1e-6)


def test_gradients_closed_form():
    rng = np.random.default_rng(4)
    layer = Linear(3, 2, rng)
    x = Tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    g = rng.standard_normal((5, 2)).astype(np.float32)
    layer(x).backward(g)
    np.testing.assert_allclose(layer.weight.grad, x.data.T @ g, rtol=1e-5)
    np.testing.assert_allclose(layer.bias.grad, g.sum(axis=0), rtol=1e-5)
    np.testing.assert_allclose(x.grad, g @ layer.weight.data.T, rtol=1e-5)
    assert layer.weight.grad.dtype == np.float32


def test_gradcheck_of_layer_computation():
    rng = np.random.default_rng(5)
    layer = Linear(4, 3, rng)
    assert gradcheck(lambda x, w, b: (x @ w + b).sigmoid(),
                     [rng.standard_normal((2, 4)), layer.weight.data, layer.bias.data])


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (-1, 2)])
def test_rejects_bad_sizes(shape):
    with pytest.raises(ValueError, match="features"):
        Linear(*shape)


def test_repr():
    assert repr(Linear(784, 64)) == "Linear(in_features=784, out_features=64)"
