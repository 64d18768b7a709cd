"""The engine: Tensor construction, backward(), accumulation, aliasing, no_grad, dtypes, errors."""

# ruff: noqa: N805 (an op's first argument is its context, ctx, as in PyTorch)

import re
import warnings

import numpy as np
import pytest

from sparsegrad import Function, Tensor, is_grad_enabled, no_grad
from sparsegrad.operations.loss import MSELoss


def leaf(shape, seed=0, dtype=np.float64, requires_grad=True):
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


# ---- construction -------------------------------------------------------------


@pytest.mark.parametrize(
    "data, dtype",
    [
        ([1.0, 2.0], np.float32),
        (3.0, np.float32),
        (3, np.float32),
        ([1, 2, 3], np.float32),
        (np.arange(3), np.float32),
        (np.array([True, False]), np.float32),
        (np.ones(2, dtype=np.float16), np.float32),
        (np.ones(2, dtype=np.float32), np.float32),
        (np.ones(2, dtype=np.float64), np.float64),
        (np.float64(2.0), np.float32),
    ],
)
def test_construction_dtype(data, dtype):
    assert Tensor(data).dtype == dtype


def test_construction_from_tensor_shares_no_graph():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor(a * 2.0)
    assert b.requires_grad is False and b._ctx is None
    np.testing.assert_array_equal(b.data, [2.0, 4.0])


@pytest.mark.parametrize(
    "data", ["abc", None, {"a": 1}, [1, "a"], np.array([1 + 2j]), object(), np.array(["x"])]
)
def test_non_numeric_data_raises_type_error(data):
    with pytest.raises(TypeError, match="numeric"):
        Tensor(data)


def test_array_like_properties_and_repr():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and len(t) == 2
    assert t.numpy() is t.data
    assert Tensor(5.0).item() == 5.0
    assert "requires_grad=True" in repr(t)
    assert "grad_fn=Mul" in repr(t * 2.0)
    d = (t * 2.0).detach()
    assert d.requires_grad is False and d._ctx is None


# ---- backward against hand-derived derivatives (micrograd style) -------------------


def test_backward_matches_closed_form():
    x0, y0 = 1.7, -0.6
    x, y = Tensor(x0, requires_grad=True), Tensor(y0, requires_grad=True)
    f = x * y + x / y - y**2 + (x * 3.0 - 1.0).tanh() + (-x).sigmoid()
    f.backward()
    s = 1.0 / (1.0 + np.exp(x0))  # sigmoid(-x)
    expected_f = x0 * y0 + x0 / y0 - y0**2 + np.tanh(3 * x0 - 1) + s
    dfdx = y0 + 1.0 / y0 + 3.0 * (1.0 - np.tanh(3 * x0 - 1) ** 2) - s * (1.0 - s)
    dfdy = x0 - x0 / y0**2 - 2.0 * y0
    assert f.item() == pytest.approx(expected_f, rel=1e-5)
    assert x.grad.item() == pytest.approx(dfdx, rel=1e-4)
    assert y.grad.item() == pytest.approx(dfdy, rel=1e-4)


def test_micrograd_sanity_expression():
    # karpathy/micrograd test_sanity_check, with values derived by hand:
    # z = 2x + 2 + x; q = relu(z) + z*x; h = relu(z*z); y = h + q + q*x, at x = -4
    x = Tensor(-4.0, requires_grad=True)
    z = 2.0 * x + 2.0 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    # z = 3x + 2 = -10; q = 0 + z x = 3x^2 + 2x = 40; h = z^2 = (3x+2)^2 = 100
    # y = (3x+2)^2 + (3x^2+2x)(1+x) = -20; dy/dx = 6(3x+2) + (6x+2)(1+x) + 3x^2+2x = 46
    assert y.item() == pytest.approx(-20.0)
    assert x.grad.item() == pytest.approx(46.0)


def test_long_chain_backpropagates_without_recursion_error():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001**10_000] * 2, rtol=1e-9)


def test_long_chain_of_mixed_ops():
    x = Tensor(0.5, requires_grad=True)
    y = x
    for _ in range(5_000):
        y = (y + 1.0) - 1.0
    y = y.sigmoid()
    y.backward()
    s = 1.0 / (1.0 + np.exp(-0.5))
    assert x.grad.item() == pytest.approx(s * (1 - s), rel=1e-5)


# ---- accumulation, shared subexpressions, aliasing ---------------------------------


def test_grad_accumulates_over_two_backward_calls():
    x = leaf((3,), seed=1)
    (x * x).sum().backward()
    first = x.grad.copy()
    np.testing.assert_allclose(first, 2 * x.data)
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3.0)
    x.zero_grad()
    assert x.grad is None


def test_shared_subexpression_x_used_twice():
    x = leaf((4,), seed=2)
    f = x * x + x
    f.sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 1)


def test_x_plus_x_gives_two():
    x = leaf((2, 3), seed=3)
    (x + x).sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))


def test_diamond_graph():
    a = leaf((3,), seed=4)
    b = a * 2.0
    c = a * 3.0
    d = b * c  # = 6 a^2
    e = d + b  # = 6 a^2 + 2 a
    e.sum().backward()
    np.testing.assert_allclose(a.grad, 12 * a.data + 2)


def test_deep_reuse_of_intermediate():
    x = Tensor(1.5, requires_grad=True)
    y = x * x  # y used by three consumers at different depths
    z = y * y + y * 2.0 + (y + 1.0) * y  # 2 y^2 + 3 y
    z.backward()
    assert x.grad.item() == pytest.approx((4 * 1.5**2 + 3) * 2 * 1.5)


def test_add_grads_are_independent_arrays_after_two_backwards():
    a, b = leaf((2, 3), seed=5), leaf((2, 3), seed=6)
    for _ in range(2):
        (a + b).sum().backward()
    np.testing.assert_array_equal(a.grad, np.full((2, 3), 2.0))
    np.testing.assert_array_equal(b.grad, np.full((2, 3), 2.0))
    assert not np.shares_memory(a.grad, b.grad)
    a.grad[0, 0] = 100.0
    np.testing.assert_array_equal(b.grad, np.full((2, 3), 2.0))


def test_chain_of_adds_grads_independent():
    a, b, c = leaf((3,), 1), leaf((3,), 2), leaf((3,), 3)
    y = (a + b) + c
    y.backward(np.ones(3))
    y2 = a + (b + c)
    y2.backward(np.ones(3))
    for t in (a, b, c):
        np.testing.assert_array_equal(t.grad, [2.0, 2.0, 2.0])
    a.grad += 1.0
    b.grad *= 10.0
    np.testing.assert_array_equal(c.grad, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(a.grad, [3.0, 3.0, 3.0])


def test_explicit_gradient_array_is_not_modified_or_aliased():
    a, b = leaf((3,), 7), leaf((3,), 8)
    g = np.array([1.0, 2.0, 3.0])
    (a + b).backward(g)
    (a + b).backward(g)
    np.testing.assert_array_equal(g, [1.0, 2.0, 3.0])
    assert not np.shares_memory(a.grad, g) and not np.shares_memory(b.grad, g)
    np.testing.assert_array_equal(a.grad, 2 * g)


def test_leaf_backward_copies_gradient():
    x = leaf((2,), 9)
    g = np.array([1.0, -1.0])
    x.backward(g)
    x.grad += 5.0
    np.testing.assert_array_equal(g, [1.0, -1.0])


def test_leaf_grads_from_broadcast_views_are_writable():
    x = leaf((2, 3), 10)
    x.sum().backward()  # Sum's backward hands out a read-only broadcast view
    x.grad += 1.0
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))
    y = leaf((2, 3), 11)
    y.mean(axis=0).sum().backward()
    y.grad *= 2.0
    np.testing.assert_allclose(y.grad, np.full((2, 3), 1.0))


def test_constant_operands_get_no_grad():
    x = leaf((3,), 12)
    c = Tensor(np.ones(3))
    (x * c + c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, np.ones(3))


# ---- retain_graph, errors of backward -------------------------------------------------


def test_retain_graph_allows_second_backward():
    x = leaf((3,), 13)
    out = (x * x).sum()
    out.backward(retain_graph=True)
    out.backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)


def test_second_backward_without_retain_graph_raises():
    x = leaf((3,), 14)
    out = (x * x).sum()
    out.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        out.backward()


def test_non_scalar_backward_without_gradient_raises():
    x = leaf((2, 3), 15)
    with pytest.raises(RuntimeError, match=re.escape("(2, 3)")):
        (x * 2.0).backward()


def test_explicit_gradient_for_non_scalar_output():
    x = leaf((2, 3), 16)
    g = np.arange(6.0).reshape(2, 3)
    (x * 3.0).backward(g)
    np.testing.assert_allclose(x.grad, 3 * g)
    y = leaf((2, 3), 17)
    (y * 1.0).backward(Tensor(g))
    np.testing.assert_allclose(y.grad, g)


def test_explicit_gradient_of_wrong_shape_raises():
    x = leaf((2, 3), 18)
    with pytest.raises(ValueError, match=re.escape("(3, 2)")):
        (x * 2.0).backward(np.ones((3, 2)))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="requires_grad=True"):
        (Tensor([1.0]) * 2.0).sum().backward()


# ---- no_grad ---------------------------------------------------------------------------


def test_no_grad_records_no_graph():
    x = leaf((3,), 19)
    assert is_grad_enabled()
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2.0 + 1.0).sigmoid().sum()
    assert is_grad_enabled()
    assert y.requires_grad is False and y._ctx is None
    with pytest.raises(RuntimeError):
        y.backward()


def test_no_grad_restores_state_after_exception():
    with pytest.raises(ZeroDivisionError):
        with no_grad():
            raise ZeroDivisionError
    assert is_grad_enabled()
    x = leaf((2,), 20)
    assert (x * 2.0).requires_grad


def test_no_grad_nested():
    with no_grad():
        with no_grad():
            pass
        assert not is_grad_enabled()
    assert is_grad_enabled()


# ---- dtypes ----------------------------------------------------------------------------

F64_SCALAR = np.float64(2.0)
OPS = {
    "add": lambda a, b: a + b,
    "radd": lambda a, b: 1.5 + a,
    "sub": lambda a, b: a - b,
    "rsub": lambda a, b: 1.5 - a,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1.0),
    "rdiv": lambda a, b: 2.0 / (b * b + 1.0),
    "neg": lambda a, b: -a,
    "pow": lambda a, b: (a * a + 1.0) ** 1.5,
    "matmul": lambda a, b: a @ b.T,
    "transpose": lambda a, b: a.transpose(),
    "reshape": lambda a, b: a.reshape(-1),
    "relu": lambda a, b: a.relu(),
    "sigmoid": lambda a, b: a.sigmoid(),
    "tanh": lambda a, b: a.tanh(),
    "sum": lambda a, b: a.sum(axis=0),
    "mean": lambda a, b: a.mean(axis=(0, 1), keepdims=True),
    "mse": lambda a, b: MSELoss.apply(b, a),
    "f64_mul": lambda a, b: a * F64_SCALAR,
    "f64_rmul": lambda a, b: F64_SCALAR * a,
    "f64_add": lambda a, b: a + np.float64(0.5),
    "f64_radd": lambda a, b: np.float64(0.5) + a,
    "f64_sub": lambda a, b: a - np.float64(0.5),
    "f64_div": lambda a, b: a / F64_SCALAR,
    "f64_rdiv": lambda a, b: F64_SCALAR / (a * a + 1.0),
    "f64_pow": lambda a, b: (a * a) ** np.float64(2.0),
    "f32_mul": lambda a, b: a * np.float32(3.0),
    "int_mul": lambda a, b: a * np.int64(3),
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_float32_stays_float32_through_forward_and_backward(name):
    a = leaf((2, 3), 21, dtype=np.float32)
    b = leaf((2, 3), 22, dtype=np.float32)
    out = OPS[name](a, b)
    assert out.dtype == np.float32, name
    out.sum().backward()
    for t in (a, b):
        assert t.grad is None or t.grad.dtype == np.float32, name


@pytest.mark.parametrize("name", sorted(OPS))
def test_float64_stays_float64(name):
    a, b = leaf((2, 3), 23), leaf((2, 3), 24)
    out = OPS[name](a, b)
    assert out.dtype == np.float64
    out.sum().backward()
    for t in (a, b):
        assert t.grad is None or t.grad.dtype == np.float64


def test_float32_graph_grads_against_float64_reference():
    x64 = leaf((3, 4), 25)
    x32 = Tensor(x64.data.astype(np.float32), requires_grad=True)
    for x in (x64, x32):
        ((x * np.float64(2.0)).sigmoid() @ Tensor(np.ones((4, 2), dtype=x.dtype))).mean().backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_allclose(x32.grad, x64.grad, rtol=1e-5, atol=1e-7)


# ---- shape errors name the op and both shapes -----------------------------------------


@pytest.mark.parametrize(
    "op, make, shapes",
    [
        ("Add", lambda a, b: a + b, ((2, 3), (4,))),
        ("Sub", lambda a, b: a - b, ((2, 3), (2, 2))),
        ("Mul", lambda a, b: a * b, ((3,), (4,))),
        ("Div", lambda a, b: a / b, ((3,), (4,))),
        ("MatMul", lambda a, b: a @ b, ((2, 3), (4, 5))),
        ("MatMul", lambda a, b: a @ b, ((3,), (4,))),
        ("MSELoss", lambda a, b: MSELoss.apply(a, b), ((2, 3), (3, 2))),
    ],
)
def test_incompatible_shapes_raise_value_error_naming_op_and_shapes(op, make, shapes):
    a, b = leaf(shapes[0], 26), leaf(shapes[1], 27)
    with pytest.raises(ValueError) as info:
        make(a, b)
    message = str(info.value)
    assert op in message
    assert str(shapes[0]) in message and str(shapes[1]) in message


def test_reshape_error_names_op_and_shapes():
    with pytest.raises(ValueError) as info:
        leaf((2, 3), 28).reshape(4, 2)
    message = str(info.value)
    assert "Reshape" in message and "(2, 3)" in message and "(4, 2)" in message


# ---- mixing with NumPy ----------------------------------------------------------------------


def test_numpy_array_on_either_side_gives_tensor():
    x = leaf((2, 3), 29)
    arr = np.arange(6.0).reshape(2, 3)
    for out in (arr + x, arr * x, arr - x, arr / (x * x + 1.0), x + arr):
        assert isinstance(out, Tensor)
    out = arr @ leaf((3, 2), 30)
    assert isinstance(out, Tensor) and out.shape == (2, 2)
    (arr - x).sum().backward()
    np.testing.assert_array_equal(x.grad, -np.ones((2, 3)))


def test_sigmoid_of_extremes_emits_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise"):  # exp(-1000) may underflow to 0
            x = Tensor(np.array([-1000.0, 1000.0], dtype=np.float32), requires_grad=True)
            x.sigmoid().sum().backward()
    assert np.all(np.isfinite(x.grad))


# ---- custom Functions: what the engine does with what backward returns --------------------------


class TwiceSum(Function):
    """2 (a + b), whose backward hands the SAME new array to both inputs."""

    def forward(ctx, a, b):
        return 2.0 * (a + b)

    def backward(ctx, grad):
        g = grad * 2.0
        return g, g


def test_same_new_array_for_two_inputs_is_not_shared_by_their_grads():
    x, y = leaf((3,), 31), leaf((3,), 32)
    out = TwiceSum.apply(x, y) + x * 1.0 + TwiceSum.apply(y, x)
    out.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 5.0))
    np.testing.assert_allclose(y.grad, np.full(3, 4.0))
    assert not np.shares_memory(x.grad, y.grad)
    x.grad[...] = 0.0
    np.testing.assert_allclose(y.grad, np.full(3, 4.0))
    out2 = TwiceSum.apply(x, y)
    out2.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(3, 2.0))
    np.testing.assert_allclose(y.grad, np.full(3, 6.0))


class Probe(Function):
    """a * b that records which gradients the engine asked for."""

    seen: list = []

    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    def backward(ctx, grad):
        Probe.seen.append(tuple(ctx.needs_input_grad))
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad
        return (grad * b if need_a else None), (grad * a if need_b else None)


def test_needs_input_grad_marks_the_inputs_that_require_grad():
    Probe.seen = []
    x, c = leaf((2,), 33), Tensor(np.array([3.0, 4.0]))
    Probe.apply(x, c).sum().backward()
    Probe.apply(c, x).sum().backward()
    Probe.apply(x, 2.0).sum().backward()
    assert Probe.seen == [(True, False), (False, True), (True, False)]
    np.testing.assert_allclose(x.grad, 2 * np.array([3.0, 4.0]) + 2.0)
    assert c.grad is None


def test_gradients_of_function_outputs_used_twice():
    x = leaf((2, 2), 34)
    p = Probe.apply(x, x)  # x * x, both inputs the same tensor
    (p + p).sum().backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)


def test_grad_of_zero_dim_leaf_is_an_array():
    x = Tensor(3.0, requires_grad=True)
    (x * 2.0).backward()
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == ()
    x.grad[...] = 0.0
