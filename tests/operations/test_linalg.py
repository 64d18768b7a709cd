"""MatMul (2-D, 1-D, batched), Transpose, Reshape: values against NumPy, gradients against finite differences."""

import itertools

import numpy as np
import pytest

from sparsegrad import Tensor, gradcheck
from sparsegrad.operations import Affine, MatMul, Reshape, Transpose

RNG = np.random.default_rng(99)


def rand(*shape):
    return np.asarray(RNG.standard_normal(shape), dtype=np.float64)


MATMUL_SHAPES = [
    ((3, 4), (4, 2)),
    ((1, 4), (4, 1)),
    ((4,), (4, 3)),  # 1-D left: a row
    ((3, 4), (4,)),  # 1-D right: a column
    ((4,), (4,)),  # dot product
    ((2, 3, 4), (4, 5)),  # batched left
    ((3, 4), (2, 4, 5)),  # batched right
    ((2, 3, 4), (2, 4, 5)),  # both batched
    ((2, 1, 3, 4), (3, 4, 2)),  # batch axes broadcast (stretched 1 and prepended)
    ((4,), (2, 4, 3)),  # 1-D with a batch
    ((2, 3, 4), (4,)),
]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_forward_matches_numpy(shapes):
    a, b = rand(*shapes[0]), rand(*shapes[1])
    out = Tensor(a) @ Tensor(b)
    expected = a @ b
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-12)


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul_gradcheck(shapes):
    # bilinear: central differences are exact up to rounding, so the tolerances can be tight
    assert gradcheck(lambda a, b: a @ b, [rand(*shapes[0]), rand(*shapes[1])], atol=1e-8, rtol=1e-6)
    assert gradcheck(lambda a, b: MatMul.apply(a, b), [rand(*shapes[0]), rand(*shapes[1])])


def test_matmul_gradient_closed_form():
    a, b = Tensor(rand(3, 4), requires_grad=True), Tensor(rand(4, 2), requires_grad=True)
    g = rand(3, 2)
    (a @ b).backward(g)
    np.testing.assert_allclose(a.grad, g @ b.data.T)
    np.testing.assert_allclose(b.grad, a.data.T @ g)


def test_batched_matmul_gradient_sums_over_batch():
    a, w = Tensor(rand(5, 3, 4), requires_grad=True), Tensor(rand(4, 2), requires_grad=True)
    (a @ w).sum().backward()
    assert w.grad.shape == (4, 2)
    np.testing.assert_allclose(w.grad, np.einsum("bij->j", a.data)[:, None] * np.ones((1, 2)))


def test_matmul_with_numpy_operands():
    m = rand(4, 3)
    assert gradcheck(lambda x: x @ m, [rand(2, 4)])
    assert gradcheck(lambda x: m @ x, [rand(3, 2)])


def test_matmul_shape_error():
    with pytest.raises(ValueError, match=r"MatMul.*\(2, 3\).*\(2, 3\)"):
        Tensor(rand(2, 3)) @ Tensor(rand(2, 3))


# ---- Affine (a @ w + b as one op, used by Linear) -------------------------------------------------

AFFINE_SHAPES = [
    ((5, 3), (3, 4), (4,)),
    ((3,), (3, 4), (4,)),  # one sample
    ((2, 5, 3), (3, 4), (4,)),  # batched rows
    ((5, 3), (3, 4), (5, 4)),  # a full bias
    ((5, 3), (3, 4), (1, 4)),
    ((5, 3), (3, 4), ()),
]


@pytest.mark.parametrize("shapes", AFFINE_SHAPES, ids=str)
def test_affine_forward_and_gradcheck(shapes):
    a, w, b = (rand(*s) for s in shapes)
    out = Affine.apply(Tensor(a), Tensor(w), Tensor(b))
    np.testing.assert_allclose(out.data, a @ w + b, rtol=1e-12)
    assert gradcheck(lambda x, y, z: Affine.apply(x, y, z), [a, w, b])


def test_affine_gradient_closed_form_and_inputs_untouched():
    a, w, b = rand(5, 3), rand(3, 4), rand(4)
    copies = a.copy(), w.copy(), b.copy()
    ta, tw, tb = (Tensor(v, requires_grad=True) for v in (a, w, b))
    g = rand(5, 4)
    Affine.apply(ta, tw, tb).backward(g)
    np.testing.assert_allclose(ta.grad, g @ w.T)
    np.testing.assert_allclose(tw.grad, a.T @ g)
    np.testing.assert_allclose(tb.grad, g.sum(axis=0))
    for before, t in zip(copies, (ta, tw, tb)):  # the bias is added into a new array, not into b
        np.testing.assert_array_equal(t.data, before)


def test_affine_only_some_inputs_need_grad():
    a, w, b = Tensor(rand(5, 3)), Tensor(rand(3, 4), requires_grad=True), Tensor(rand(4))
    Affine.apply(a, w, b).sum().backward()
    assert a.grad is None and b.grad is None
    np.testing.assert_allclose(w.grad, a.data.T @ np.ones((5, 4)))


def test_affine_dtypes():
    a = Tensor(rand(5, 3).astype(np.float32), requires_grad=True)
    w = Tensor(rand(3, 4).astype(np.float32), requires_grad=True)
    b = Tensor(rand(4).astype(np.float32), requires_grad=True)
    out = Affine.apply(a, w, b)
    assert out.dtype == np.float32
    out.sum().backward()
    assert a.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    b64 = Tensor(rand(4))  # a float64 bias promotes, as a @ w + b would
    assert Affine.apply(a, w, b64).dtype == np.float64


def test_affine_errors():
    with pytest.raises(ValueError, match=r"Affine.*\(5, 3\).*\(4, 4\)"):
        Affine.apply(Tensor(rand(5, 3)), Tensor(rand(4, 4)), Tensor(rand(4)))
    with pytest.raises(ValueError, match="2-D"):
        Affine.apply(Tensor(rand(5, 3)), Tensor(rand(3)), Tensor(rand(1)))
    with pytest.raises(ValueError, match="Affine"):
        Affine.apply(Tensor(rand(5, 3)), Tensor(rand(3, 4)), Tensor(rand(3)))


# ---- Transpose ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3,), (3, 4), (2, 3, 4)])
def test_transpose_default_reverses_axes(shape):
    x = rand(*shape)
    np.testing.assert_array_equal(Tensor(x).T.data, x.T)
    np.testing.assert_array_equal(Tensor(x).transpose().data, x.T)
    assert gradcheck(lambda t: t.T, [x])
    assert gradcheck(lambda t: t.transpose(), [x])


@pytest.mark.parametrize("axes", list(itertools.permutations(range(3))), ids=str)
def test_transpose_with_axes(axes):
    x = rand(2, 3, 4)
    out = Tensor(x).transpose(*axes)
    np.testing.assert_array_equal(out.data, x.transpose(axes))
    assert gradcheck(lambda t: t.transpose(*axes), [x])
    assert gradcheck(lambda t: Transpose.apply(t, axes=axes), [x])


@pytest.mark.parametrize("axes", [(-1, 0, 1), (1, -1, 0), (-2, -3, -1), (2, -3, 1)], ids=str)
def test_transpose_with_negative_axes(axes):
    x = rand(2, 3, 4)
    t = Tensor(x, requires_grad=True)
    out = t.transpose(*axes)
    np.testing.assert_array_equal(out.data, x.transpose(axes))
    out.backward(np.ones(out.shape))
    assert t.grad.shape == x.shape
    assert gradcheck(lambda u: u.transpose(*axes), [x])


def test_transpose_accepts_a_tuple_like_numpy():
    x = rand(2, 3, 4)
    np.testing.assert_array_equal(Tensor(x).transpose((2, 0, 1)).data, x.transpose((2, 0, 1)))


def test_transpose_gradient_is_inverse_permutation():
    x = Tensor(rand(2, 3, 4), requires_grad=True)
    g = rand(4, 2, 3)
    x.transpose(2, 0, 1).backward(g)
    np.testing.assert_array_equal(x.grad, g.transpose(1, 2, 0))


# ---- Reshape --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape, new",
    [((2, 3), (6,)), ((2, 3), (3, 2)), ((2, 3, 4), (4, -1)), ((6,), (1, 2, 3)), ((1,), ()), ((), (1, 1))],
    ids=str,
)
def test_reshape(shape, new):
    x = rand(*shape)
    np.testing.assert_array_equal(Tensor(x).reshape(*new).data, x.reshape(new))
    np.testing.assert_array_equal(Tensor(x).reshape(new).data, x.reshape(new))
    assert gradcheck(lambda t: t.reshape(*new), [x])
    assert gradcheck(lambda t: Reshape.apply(t, shape=new), [x])


def test_reshape_gradient_has_input_shape():
    x = Tensor(rand(2, 3), requires_grad=True)
    g = np.arange(6.0)
    x.reshape(-1).backward(g)
    np.testing.assert_array_equal(x.grad, g.reshape(2, 3))


def test_reshape_error():
    with pytest.raises(ValueError, match=r"Reshape.*\(2, 3\).*\(5,\)"):
        Tensor(rand(2, 3)).reshape(5)


def test_composed_linear_algebra_gradcheck():
    def f(x, w, b):
        h = (x @ w + b).tanh()
        return (h.T @ h).reshape(-1).sum()

    assert gradcheck(f, [rand(5, 3), rand(3, 4), rand(4)])
