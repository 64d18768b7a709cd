"""Sum and Mean over axis None / int / negative / tuple, with and without keepdims."""

import numpy as np
import pytest

from sparsegrad import Tensor, gradcheck
from sparsegrad.operations import Mean, Sum

RNG = np.random.default_rng(5)
AXES = [None, 0, 1, 2, -1, -2, (0, 2), (-1, 0), (0, 1, 2), ()]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", AXES, ids=str)
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_reduction_forward_and_gradcheck(name, axis, keepdims):
    x = RNG.standard_normal((2, 3, 4))
    out = getattr(Tensor(x), name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)
    assert gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), [x])
    op = Sum if name == "sum" else Mean
    assert gradcheck(lambda t: op.apply(t, axis=axis, keepdims=keepdims), [x])


@pytest.mark.parametrize("axis", AXES, ids=str)
def test_reduction_gradients_closed_form(axis):
    x = RNG.standard_normal((2, 3, 4))
    t = Tensor(x, requires_grad=True)
    t.sum(axis=axis).sum().backward()
    np.testing.assert_array_equal(t.grad, np.ones_like(x))
    u = Tensor(x, requires_grad=True)
    u.mean(axis=axis).sum().backward()
    count = x.size / np.mean(x, axis=axis).size
    np.testing.assert_allclose(u.grad, np.full_like(x, 1.0 / count))


def test_weighted_reduction_gradient():
    x = Tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    g = RNG.standard_normal(4)
    x.mean(axis=0).backward(g)
    np.testing.assert_allclose(x.grad, np.broadcast_to(g / 3, (3, 4)))


@pytest.mark.parametrize("shape", [(), (1,), (5,), (1, 1, 1)])
def test_reduction_small_shapes(shape):
    x = np.asarray(RNG.standard_normal(shape))
    assert gradcheck(lambda t: t.sum(), [x])
    assert gradcheck(lambda t: t.mean(keepdims=True), [x])


@pytest.mark.parametrize("axis", [3, -4, (0, 5)])
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_axis_out_of_range(name, axis):
    with pytest.raises(ValueError, match="out of range"):
        getattr(Tensor(np.zeros((2, 3, 4))), name)(axis=axis)


def test_float32_reductions_stay_float32():
    x = Tensor(RNG.standard_normal((3, 4)).astype(np.float32), requires_grad=True)
    out = x.mean(axis=1) + x.sum(axis=0, keepdims=True).mean()
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32
