"""TopK: each row's k largest values kept, the rest 0; the gradient reaches the kept values only.

Checked by finite differences (gradcheck) and against PyTorch's topk-and-scatter when torch is importable.
"""

import numpy as np
import pytest

from sparsegrad import Tensor, gradcheck
from sparsegrad.checks import ArgumentError
from sparsegrad.nn import AutoEncoder, TopK
from sparsegrad.operations import TopK as TopKOp

RNG = np.random.default_rng(11)


def well_separated(rows, cols):
    """Values at least 0.1 apart in each row: a finite-difference step (1e-6) never reorders them."""
    return np.stack([RNG.permutation(cols) * 0.1 - 0.3 * cols / 10 + RNG.uniform(-0.02, 0.02) for _ in range(rows)])


def test_forward_keeps_each_rows_k_largest():
    x = np.array([[3.0, 1.0, 2.0, -1.0], [0.0, 5.0, -2.0, 4.0], [-3.0, -1.0, -2.0, -4.0]])
    np.testing.assert_array_equal(TopKOp.apply(Tensor(x), k=2).data,
                                  [[3.0, 0.0, 2.0, 0.0], [0.0, 5.0, 0.0, 4.0], [0.0, -1.0, -2.0, 0.0]])
    np.testing.assert_array_equal(TopKOp.apply(Tensor(x), k=4).data, x)  # k = width: the identity
    out = TopKOp.apply(Tensor(x.astype(np.float32)), k=1)
    assert out.dtype == np.float32 and np.count_nonzero(out.data, axis=1).tolist() == [1, 1, 1]


def test_backward_passes_the_gradient_to_the_kept_values_only():
    x = Tensor(np.array([[3.0, 1.0, 2.0, -1.0], [0.0, 5.0, -2.0, 4.0]]), requires_grad=True)
    TopKOp.apply(x, k=2).backward(np.arange(8.0).reshape(2, 4))
    np.testing.assert_array_equal(x.grad, [[0.0, 0.0, 2.0, 0.0], [0.0, 5.0, 0.0, 7.0]])


@pytest.mark.parametrize("k", [1, 3, 7])
def test_gradcheck(k):
    x = well_separated(4, 7)
    w = RNG.standard_normal((4, 7))
    assert gradcheck(lambda t: TopKOp.apply(t, k=k), [x])
    assert gradcheck(lambda t: (TopKOp.apply(t * t, k=k) * w).sum(), [x])  # something nonlinear around it


def test_a_k_out_of_range_is_one_clear_error():
    for k in (0, 5, 2.0):
        with pytest.raises(ArgumentError, match=r"k=.* is not allowed: an integer in \[1, 4\]"):
            TopKOp.apply(Tensor(np.zeros((2, 4))), k=k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k", [1, 5, 16])
def test_against_pytorch_topk_and_scatter(dtype, k):
    torch = pytest.importorskip("torch")
    x = RNG.standard_normal((32, 64)).astype(dtype)
    upstream = RNG.standard_normal((32, 64)).astype(dtype)
    t = Tensor(x, requires_grad=True)
    ours = TopKOp.apply(t, k=k)
    ours.backward(upstream)

    xt = torch.tensor(x, requires_grad=True)
    values, indices = torch.topk(xt, k, dim=-1)
    theirs = torch.zeros_like(xt).scatter(-1, indices, values)
    theirs.backward(torch.from_numpy(upstream))
    np.testing.assert_array_equal(ours.data, theirs.detach().numpy())
    np.testing.assert_array_equal(t.grad, xt.grad.numpy())


def test_module_is_relu_of_topk_and_the_autoencoder_takes_k():
    x = np.array([[3.0, -1.0, -2.0, -4.0]])
    np.testing.assert_array_equal(TopK(2)(Tensor(x)).data, [[3.0, 0.0, 0.0, 0.0]])  # -1 kept by TopK, dropped by ReLU
    model = AutoEncoder(784, 64, hidden_activation="topk", k=10, rng=np.random.default_rng(0))
    code = model.encode(Tensor(RNG.random((50, 784)).astype(np.float32))).data
    assert code.dtype == np.float32 and np.all(np.count_nonzero(code, axis=1) <= 10) and np.all(code >= 0)


@pytest.mark.parametrize("kwargs, message", [
    ({"hidden_activation": "topk"}, r"k=None is not allowed: an integer in \[1, hidden_dim=64\]"),
    ({"hidden_activation": "topk", "k": 65}, r"k=65 is not allowed"),
    ({"k": 5}, r"k=5 is not allowed: null: k is the number of units hidden_activation=topk keeps"),
    ({"output_activation": "topk"}, r"output_activation='topk' is not allowed"),
])
def test_autoencoder_checks_k(kwargs, message):
    with pytest.raises(ArgumentError, match=message):
        AutoEncoder(**kwargs)
