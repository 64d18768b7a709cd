"""Property tests over random shapes: values against NumPy, gradients against finite differences."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sparsegrad import Tensor, gradcheck

# database=None: write no .hypothesis/ directory into the repository
SETTINGS = settings(max_examples=30, deadline=None, database=None)
seeds = st.integers(0, 2**32 - 1)


def randn(seed, shape, away_from_zero=False):
    rng = np.random.default_rng(seed)
    x = np.asarray(rng.standard_normal(shape), dtype=np.float64)
    if away_from_zero:
        x = np.sign(x + (x == 0)) * (0.5 + np.abs(x))
    return np.asarray(x, dtype=np.float64)  # shape () too: a float64 array, not a NumPy scalar


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       op=st.sampled_from(["add", "sub", "mul", "div"]), seed=seeds)
def test_broadcasting_binary_ops(shapes, op, seed):
    shape_a, shape_b = shapes.input_shapes
    a, b = randn(seed, shape_a), randn(seed + 1, shape_b, away_from_zero=True)
    fns = {
        "add": (lambda x, y: x + y, np.add),
        "sub": (lambda x, y: x - y, np.subtract),
        "mul": (lambda x, y: x * y, np.multiply),
        "div": (lambda x, y: x / y, np.divide),
    }
    fn, reference = fns[op]
    out = fn(Tensor(a), Tensor(b))
    assert out.shape == shapes.result_shape
    np.testing.assert_allclose(out.data, reference(a, b), rtol=1e-12)
    assert gradcheck(fn, [a, b])


@st.composite
def shape_and_axis(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3))
    ndim = len(shape)
    axis = draw(st.one_of(
        st.none(),
        st.integers(-ndim, ndim - 1),
        hnp.valid_tuple_axes(ndim, min_size=1),  # negative entries included
    ))
    return shape, axis


@SETTINGS
@given(case=shape_and_axis(), keepdims=st.booleans(), name=st.sampled_from(["sum", "mean"]), seed=seeds)
def test_reductions_over_random_axes(case, keepdims, name, seed):
    shape, axis = case
    x = randn(seed, shape)
    out = getattr(Tensor(x), name)(axis=axis, keepdims=keepdims)
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-15)
    assert gradcheck(lambda t: getattr(t, name)(axis=axis, keepdims=keepdims), [x])


@st.composite
def matmul_shapes(draw):
    n, k, m = (draw(st.integers(1, 3)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=2))
    left = batch.input_shapes[0] + (n, k)
    right = batch.input_shapes[1] + (k, m)
    if draw(st.booleans()):
        left = (k,)  # a 1-D left operand is a row vector
    elif draw(st.booleans()):
        right = (k,)  # a 1-D right operand is a column vector
    return left, right


@SETTINGS
@given(shapes=matmul_shapes(), seed=seeds)
def test_matmul_random_compatible_shapes(shapes, seed):
    a, b = randn(seed, shapes[0]), randn(seed + 1, shapes[1])
    out = Tensor(a) @ Tensor(b)
    expected = np.matmul(a, b)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda x, y: x @ y, [a, b])


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=3), data=st.data(), seed=seeds)
def test_transpose_and_reshape_random(shape, data, seed):
    x = randn(seed, shape)
    ndim = len(shape)
    perm = data.draw(st.permutations(range(ndim)))
    # write some axes as negative numbers, as NumPy allows
    axes = tuple(a - ndim if data.draw(st.booleans()) else a for a in perm)
    np.testing.assert_array_equal(Tensor(x).transpose(*axes).data, x.transpose(axes))
    assert gradcheck(lambda t: t.transpose(*axes), [x])
    flat = data.draw(st.sampled_from([(-1,), (x.size, 1), (1, -1)]))
    assert gradcheck(lambda t: t.reshape(*flat).sigmoid(), [x])


@SETTINGS
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=1, max_dims=3, max_side=3), seed=seeds)
def test_composite_expression_with_shared_subexpressions(shapes, seed):
    a, b = randn(seed, shapes.input_shapes[0]), randn(seed + 1, shapes.input_shapes[1])

    def f(x, y):
        s = x * y + x  # x used twice
        return (s.tanh() * s - y).sigmoid().mean(axis=-1)

    assert gradcheck(f, [a, b])


@SETTINGS
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=4), seed=seeds)
def test_float32_preserved_and_close_to_float64(shape, seed):
    x64 = randn(seed, shape)
    x32 = x64.astype(np.float32)
    grads = []
    for x in (x64, x32):
        t = Tensor(x, requires_grad=True)
        out = ((t * np.float64(0.5) + 1.0).sigmoid() * t).sum()
        assert out.dtype == x.dtype
        out.backward()
        assert t.grad.dtype == x.dtype
        grads.append(t.grad)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-4, atol=1e-6)
