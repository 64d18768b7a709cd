"""ReLU, Sigmoid, Tanh: values against closed forms, stability at the extremes, gradients."""

import warnings

import numpy as np
import pytest

from sparsegrad import Tensor, gradcheck
from sparsegrad.operations import ReLU, Sigmoid, Tanh

RNG = np.random.default_rng(7)


def away_from_zero(*shape, margin=0.1):
    x = RNG.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + (x == 0)) * margin * 2, x)


def test_relu_forward():
    x = np.array([-2.0, -0.0, 0.0, 0.5, 3.0])
    np.testing.assert_array_equal(Tensor(x).relu().data, np.maximum(x, 0.0))


def test_relu_gradcheck_away_from_zero():
    x = away_from_zero(4, 5)
    assert gradcheck(lambda t: t.relu(), [x])
    assert gradcheck(lambda t: ReLU.apply(t), [x])


def test_relu_gradient_is_step():
    x = Tensor(np.array([-1.0, 0.0, 2.0]), requires_grad=True)
    x.relu().backward(np.array([5.0, 5.0, 5.0]))
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 5.0])  # 0 at exactly 0


def test_sigmoid_forward_matches_reference():
    x = np.linspace(-20, 20, 401)
    np.testing.assert_allclose(Tensor(x).sigmoid().data, 1.0 / (1.0 + np.exp(-x)), rtol=1e-7, atol=1e-15)
    assert Tensor(0.0).sigmoid().item() == 0.5
    x32 = x.astype(np.float32)
    out = Tensor(x32).sigmoid()
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, 1.0 / (1.0 + np.exp(-x)), rtol=1e-5, atol=1e-7)


# Far out, exp(-|a|) underflows to 0 (or to a subnormal): that is the right rounding, and
# NumPy ignores underflow by default; overflow, division by zero and NaN must not happen.
NO_OVERFLOW = {"over": "raise", "divide": "raise", "invalid": "raise"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_extremes_are_stable(dtype):
    x = np.array([-1000.0, -100.0, 100.0, 1000.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(**NO_OVERFLOW):
            t = Tensor(x, requires_grad=True)
            s = t.sigmoid()
            s.sum().backward()
    assert s.dtype == dtype
    # sigmoid(-100) = e^-100 / (1 + e^-100) = 3.7200760e-44: kept in float64; in float32 it would be a
    # subnormal, so it is flushed to 0 (as everything below -69.9 there)
    tiny = 0.0 if dtype == np.float32 else 3.7200760e-44
    np.testing.assert_allclose(s.data, [0.0, tiny, 1.0, 1.0], rtol=1e-7)
    np.testing.assert_allclose(t.grad, [0.0, tiny, 0.0, 0.0], rtol=1e-7)


def test_sigmoid_makes_no_subnormal_floats_in_float32():
    """A subnormal is ~100x slower to compute with: a trained model's steps were 4x slower."""
    x = np.linspace(-120, 120, 24001, dtype=np.float32)
    t = Tensor(x, requires_grad=True)
    s = t.sigmoid()
    s.backward(np.full_like(x, 1e-7))  # a small gradient, scaled by s (1 - s)
    tiny = np.finfo(np.float32).tiny
    for values in (s.data, t.grad):
        assert not np.any((values != 0) & (np.abs(values) < tiny))
    assert s.data[x > -69.8].min() > 0 and np.all(s.data[x < -70] == 0)


@pytest.mark.parametrize("x, expected", [
    (-20.0, 2.0611536e-09),  # e^-20 / (1 + e^-20), with e^-20 = 2.0611536224e-09
    (-14.4, 5.5739027e-07),  # (float32(-14.4) = -14.3999996) where 1 - 1 / (1 + e^x) was 10% off
    (-16.6, 6.1760586e-08),  # (float32(-16.6) = -16.6000004) where 1 - 1 / (1 + e^x) gave exactly 0
    (-69.0, 1.0806393e-30),  # e^-69, near the flush to 0 (below -69.9: subnormal territory)
    (20.0, 1.0),  # 1 - 2e-9 rounds to 1 in float32
])
def test_sigmoid_keeps_relative_accuracy_for_negative_inputs_in_float32(x, expected):
    out = Tensor(np.array([x], dtype=np.float32)).sigmoid()
    assert out.dtype == np.float32
    assert out.data[0] == pytest.approx(expected, rel=1e-6, abs=0)  # (approx's default abs=1e-12 passes any tiny value)


def test_sigmoid_gradient_closed_form_and_gradcheck():
    x = RNG.standard_normal((3, 4)) * 3
    t = Tensor(x, requires_grad=True)
    t.sigmoid().sum().backward()
    s = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(t.grad, s * (1 - s), rtol=1e-9)
    assert gradcheck(lambda u: u.sigmoid(), [x])
    assert gradcheck(lambda u: Sigmoid.apply(u), [x])


def test_sigmoid_of_scalar_tensor():
    t = Tensor(0.3, requires_grad=True)
    t.sigmoid().backward()
    s = 1 / (1 + np.exp(-0.3))
    assert t.grad.item() == pytest.approx(s * (1 - s), rel=1e-6)


def test_sigmoid_does_not_modify_input():
    x = np.array([1.0, -2.0])
    t = Tensor(x)
    t.sigmoid()
    np.testing.assert_array_equal(t.data, [1.0, -2.0])


def test_tanh():
    x = RNG.standard_normal((3, 4)) * 2
    np.testing.assert_allclose(Tensor(x).tanh().data, np.tanh(x), rtol=1e-12)
    t = Tensor(x, requires_grad=True)
    t.tanh().sum().backward()
    np.testing.assert_allclose(t.grad, 1 - np.tanh(x) ** 2, rtol=1e-9)
    assert gradcheck(lambda u: u.tanh(), [x])
    assert gradcheck(lambda u: Tanh.apply(u), [x])
    with np.errstate(all="raise"):
        np.testing.assert_array_equal(Tensor(np.array([-1e4, 1e4])).tanh().data, [-1.0, 1.0])


def test_activation_chain_gradcheck():
    x = away_from_zero(3, 4)
    assert gradcheck(lambda t: (t.tanh() * 2.0).sigmoid() + t.relu() * t.sigmoid(), [x])
