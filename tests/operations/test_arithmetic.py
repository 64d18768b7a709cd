"""Add, Sub, Mul, Div, Neg, Pow: values against NumPy, gradients against finite differences."""

import numpy as np
import pytest

from sparsegrad import Tensor, gradcheck
from sparsegrad.operations import Add, Div, Mul, Neg, Pow, Sub

RNG = np.random.default_rng(1234)


def rand(*shape, low=None):
    """Standard normal values; with `low`, magnitudes kept in [low, low + 1.5] (safe to divide by)."""
    x = RNG.standard_normal(shape)
    if low is not None:
        x = np.sign(x + (x == 0)) * (low + 1.5 * RNG.random(shape))
    return np.asarray(x, dtype=np.float64)  # shape () too: a float64 array, not a Python float


BROADCAST_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((4,), (3, 4)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (3, 1)),
    ((1,), (2, 3)),
    ((), (2, 3)),
    ((2, 3), ()),
    ((), ()),
]

BINARY = {
    "add": (lambda a, b: a + b, np.add),
    "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply),
    "div": (lambda a, b: a / b, np.divide),
}


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_forward_matches_numpy(name, shapes):
    op, reference = BINARY[name]
    a, b = rand(*shapes[0]), rand(*shapes[1], low=0.5)
    out = op(Tensor(a), Tensor(b))
    assert out.shape == np.broadcast_shapes(*shapes)
    np.testing.assert_allclose(out.data, reference(a, b), rtol=1e-12)


@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradcheck_with_broadcasting(name, shapes):
    op, _ = BINARY[name]
    assert gradcheck(op, [rand(*shapes[0]), rand(*shapes[1], low=0.5)])


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_ops_as_functions(name):
    fn = {"add": Add, "sub": Sub, "mul": Mul, "div": Div}[name]
    assert gradcheck(lambda a, b: fn.apply(a, b), [rand(3, 4), rand(4, low=0.5)])


def test_broadcast_gradients_closed_form():
    # d/da sum(a * b) = b summed over the broadcast axes
    a = Tensor(rand(3, 1), requires_grad=True)
    b = Tensor(rand(1, 4), requires_grad=True)
    (a * b).sum().backward()
    np.testing.assert_allclose(a.grad, np.repeat(b.data.sum(axis=1, keepdims=True), 3, axis=0))
    np.testing.assert_allclose(b.grad, np.repeat(a.data.sum(axis=0, keepdims=True), 4, axis=1))
    c = Tensor(rand(3, 4), requires_grad=True)
    d = Tensor(rand(4), requires_grad=True)
    (c + d).sum().backward()
    assert d.grad.shape == (4,)
    np.testing.assert_array_equal(d.grad, np.full(4, 3.0))
    np.testing.assert_array_equal(c.grad, np.ones((3, 4)))


SCALAR_CASES = {
    "x+s": (lambda x: x + 2.5, lambda x: x + 2.5),
    "s+x": (lambda x: 2.5 + x, lambda x: 2.5 + x),
    "x-s": (lambda x: x - 2.5, lambda x: x - 2.5),
    "s-x": (lambda x: 2.5 - x, lambda x: 2.5 - x),
    "x*s": (lambda x: x * -1.5, lambda x: x * -1.5),
    "s*x": (lambda x: -1.5 * x, lambda x: -1.5 * x),
    "x/s": (lambda x: x / 4.0, lambda x: x / 4.0),
    "s/x": (lambda x: 4.0 / x, lambda x: 4.0 / x),
    "x*int": (lambda x: x * 3, lambda x: x * 3),
    "int-x": (lambda x: 3 - x, lambda x: 3 - x),
    "x*np.float64": (lambda x: x * np.float64(1.5), lambda x: x * 1.5),
    "np.float64/x": (lambda x: np.float64(2.0) / x, lambda x: 2.0 / x),
    "x+np.int64": (lambda x: x + np.int64(2), lambda x: x + 2),
}


@pytest.mark.parametrize("name", sorted(SCALAR_CASES))
def test_scalar_operands_on_both_sides(name):
    op, reference = SCALAR_CASES[name]
    x = rand(3, 2, low=0.5)
    np.testing.assert_allclose(op(Tensor(x)).data, reference(x), rtol=1e-12)
    assert gradcheck(op, [x])


ARRAY = np.linspace(0.5, 2.0, 12).reshape(3, 4)
ROW = np.linspace(1.0, 2.0, 4)
ARRAY_CASES = {
    "x+arr": lambda x: x + ARRAY,
    "arr+x": lambda x: ARRAY + x,
    "arr-x": lambda x: ARRAY - x,
    "x*row": lambda x: x * ROW,
    "row*x": lambda x: ROW * x,
    "arr/x": lambda x: ARRAY / x,
    "x/row": lambda x: x / ROW,
}


@pytest.mark.parametrize("name", sorted(ARRAY_CASES))
def test_numpy_array_operands(name):
    op = ARRAY_CASES[name]
    x = rand(3, 4, low=0.5)
    out = op(Tensor(x))
    assert isinstance(out, Tensor) and out.shape == (3, 4)
    assert gradcheck(op, [x])


def test_mul_gradient_closed_form():
    a, b = Tensor(rand(2, 3), requires_grad=True), Tensor(rand(2, 3), requires_grad=True)
    g = rand(2, 3)
    (a * b).backward(g)
    np.testing.assert_allclose(a.grad, g * b.data)
    np.testing.assert_allclose(b.grad, g * a.data)


def test_div_gradient_closed_form():
    a, b = Tensor(rand(4), requires_grad=True), Tensor(rand(4, low=0.5), requires_grad=True)
    (a / b).sum().backward()
    np.testing.assert_allclose(a.grad, 1 / b.data)
    np.testing.assert_allclose(b.grad, -a.data / b.data**2)


def test_neg():
    x = rand(2, 3)
    np.testing.assert_array_equal((-Tensor(x)).data, -x)
    assert gradcheck(lambda t: -t, [x])
    assert gradcheck(lambda t: Neg.apply(t), [x])


@pytest.mark.parametrize("p", [2, 3, 1, 0.5, -1, -2.5, 1.7, np.float64(2.0)])
def test_pow(p):
    x = np.abs(rand(3, 2, low=0.5))  # positive base for fractional exponents
    np.testing.assert_allclose((Tensor(x) ** p).data, x**p, rtol=1e-12)
    assert gradcheck(lambda t: t**p, [x])
    t = Tensor(x, requires_grad=True)
    (t**p).sum().backward()
    np.testing.assert_allclose(t.grad, p * x ** (p - 1), rtol=1e-12)


def test_pow_integer_exponent_of_negative_base():
    x = rand(5, low=0.3)
    assert gradcheck(lambda t: t**3, [x])
    assert gradcheck(lambda t: Pow.apply(t, 2), [x])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pow_zero_has_zero_gradient_also_at_zero(dtype):
    # d(x^0)/dx = 0 * x^-1: 0 everywhere, as PyTorch gives, not 0 * inf = NaN at x = 0
    x = Tensor(np.array([0.0, -2.0, 3.0], dtype=dtype), requires_grad=True)
    y = x**0
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0])
    assert x.grad.dtype == dtype
    assert gradcheck(lambda t: t**0, [rand(3, 2)])


def test_pow_with_tensor_exponent_raises_type_error():
    with pytest.raises(TypeError, match="exponent"):
        Tensor([1.0, 2.0], requires_grad=True) ** Tensor([2.0, 2.0])


def test_shared_subexpressions_gradcheck():
    assert gradcheck(lambda x: x * x + x, [rand(3, 4)])
    assert gradcheck(lambda x: (x + 1.0) * (x - 2.0) / (x * x + 1.0), [rand(3, 4)])

    def diamond(a, b):
        c = a * b
        d = c + a
        e = c * d - b
        return e * e + d

    assert gradcheck(diamond, [rand(2, 3), rand(3)])


def test_same_tensor_both_operands():
    for op in (lambda x: x + x, lambda x: x - x, lambda x: x * x, lambda x: x / x):
        assert gradcheck(op, [rand(3, low=0.5)])
