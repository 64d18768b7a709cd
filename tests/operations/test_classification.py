"""Exp, Log, LogSoftmax and CrossEntropyLoss: values worked out by hand, finite differences, PyTorch's choices."""

import math

import numpy as np
import pytest

from sparsegrad import Tensor, gradcheck
from sparsegrad.operations import CrossEntropyLoss, Exp, Log, LogSoftmax

RNG = np.random.default_rng(11)


def test_exp_and_log_values():
    x = np.array([-1.0, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(Tensor(x).exp().data, [math.exp(v) for v in x], rtol=1e-15)
    np.testing.assert_allclose(Tensor(np.exp(x)).log().data, x, rtol=1e-15, atol=1e-15)


def test_exp_and_log_gradients_against_finite_differences():
    assert gradcheck(lambda t: t.exp(), [RNG.standard_normal((3, 4))])
    assert gradcheck(lambda t: Exp.apply(t * 2.0), [RNG.standard_normal(5)])
    assert gradcheck(lambda t: t.log(), [RNG.uniform(0.5, 3.0, (3, 4))])
    assert gradcheck(lambda t: Log.apply(t), [RNG.uniform(0.5, 3.0, 6)])


def test_exp_and_log_gradients_by_hand():
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    x.exp().sum().backward()
    np.testing.assert_allclose(x.grad, [1.0, math.e])  # d exp / dx = exp
    y = Tensor(np.array([0.5, 4.0]), requires_grad=True)
    y.log().sum().backward()
    np.testing.assert_allclose(y.grad, [2.0, 0.25])  # d log / dx = 1 / x


def test_log_softmax_by_hand_and_stable_for_large_logits():
    out = Tensor(np.array([[0.0, math.log(3.0)]])).log_softmax().data
    np.testing.assert_allclose(out, [[math.log(0.25), math.log(0.75)]], rtol=1e-12)  # softmax = 1/4, 3/4
    big = Tensor(np.array([[1000.0, 1000.0]], dtype=np.float32)).log_softmax().data
    np.testing.assert_allclose(big, [[-math.log(2.0)] * 2], rtol=1e-6)  # no overflow, no NaN
    np.testing.assert_allclose(np.exp(Tensor(RNG.standard_normal((4, 7))).log_softmax().data).sum(axis=1), 1.0)


@pytest.mark.parametrize("axis", [-1, 0])
def test_log_softmax_gradient_against_finite_differences(axis):
    weights = RNG.standard_normal((3, 5))  # a weighted sum, so the gradient is not trivially 0
    assert gradcheck(lambda t: (LogSoftmax.apply(t, axis=axis) * weights).sum(), [RNG.standard_normal((3, 5))])


def test_cross_entropy_by_hand():
    logits = np.array([[0.0, math.log(3.0)], [0.0, 0.0]])
    labels = np.array([1, 0])
    t = Tensor(logits, requires_grad=True)
    loss = CrossEntropyLoss.apply(t, labels)
    # -(log 3/4 + log 1/2) / 2
    assert loss.item() == pytest.approx(-(math.log(0.75) + math.log(0.5)) / 2, rel=1e-12)
    loss.backward()
    # (softmax - one_hot) / batch
    np.testing.assert_allclose(t.grad, [[0.25 / 2, -0.25 / 2], [-0.5 / 2, 0.5 / 2]], rtol=1e-12)


def test_cross_entropy_gradient_against_finite_differences():
    labels = RNG.integers(0, 6, size=8)
    assert gradcheck(lambda t: CrossEntropyLoss.apply(t, labels), [RNG.standard_normal((8, 6))])


def test_cross_entropy_equals_mean_negative_log_softmax_of_the_label():
    logits, labels = RNG.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])
    expected = -Tensor(logits).log_softmax().data[np.arange(5), labels].mean()
    assert CrossEntropyLoss.apply(Tensor(logits), labels).item() == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_shapes_are_checked():
    with pytest.raises(ValueError, match="logits \\(batch, classes\\) and labels \\(batch,\\)"):
        CrossEntropyLoss.apply(Tensor(np.zeros((3, 2))), np.array([0, 1]))
