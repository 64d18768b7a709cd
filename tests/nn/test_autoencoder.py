"""AutoEncoder: shapes, code range, end-to-end gradients, and that training lowers the loss."""

import contextlib

import numpy as np
import pytest

from sparsegrad import Tensor, no_grad
from sparsegrad.nn import AutoEncoder, Linear, Parameter, Sequential, Sigmoid
from sparsegrad.operations.loss import KLDiv, MSELoss
from sparsegrad.optim import SGD, Adam


@pytest.fixture(autouse=True)
def single_threaded_blas():
    """Matrices this small train fastest on one BLAS thread; many threads on a busy
    2-core machine spin against each other and make the suite 10-50x slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        limits = contextlib.nullcontext()
    else:
        limits = threadpool_limits(limits=1, user_api="blas")
    with limits:
        yield


def low_rank_data(n=256, dim=784, rank=4, seed=0):
    """Samples in (0, 1) that live near a `rank`-dimensional manifold, as MNIST-like pixels."""
    rng = np.random.default_rng(seed)
    z, mixing = rng.standard_normal((n, rank)), rng.standard_normal((rank, dim))
    return (1.0 / (1.0 + np.exp(-(z @ mixing)))).astype(np.float32)


def sparse_ae_loss(model, x, beta=0.1, rho=0.1):
    h = model.encode(x)
    recon = MSELoss.apply(x, model.decode(h))
    return recon + beta * KLDiv.apply(h, rho), recon


def test_default_shapes_and_parameters():
    model = AutoEncoder(input_dim=784, hidden_dim=64, rng=np.random.default_rng(0))
    shapes = {name: p.shape for name, p in model.named_parameters()}
    assert shapes == {
        "encoder.0.weight": (784, 64), "encoder.0.bias": (64,),
        "decoder.0.weight": (64, 784), "decoder.0.bias": (784,),
    }
    assert isinstance(model.encoder, Sequential) and isinstance(model.encoder[0], Linear)
    assert isinstance(model.encoder[1], Sigmoid)
    x = Tensor(low_rank_data(n=8))
    out, code = model(x), model.encode(x)
    assert out.shape == (8, 784) and code.shape == (8, 64)
    assert out.dtype == np.float32 and code.dtype == np.float32
    assert np.all((code.data > 0) & (code.data < 1))
    assert np.all((out.data > 0) & (out.data < 1))
    np.testing.assert_array_equal(model.decode(code).data, out.data)
    AutoEncoder()  # the defaults are 784-64 without an rng


def test_encode_matches_numpy():
    model = AutoEncoder(input_dim=6, hidden_dim=3, rng=np.random.default_rng(1))
    x = low_rank_data(n=5, dim=6)
    w, b = model.encoder[0].weight.data, model.encoder[0].bias.data
    np.testing.assert_allclose(model.encode(Tensor(x)).data, 1 / (1 + np.exp(-(x @ w + b))), rtol=1e-5)


def test_hidden_activation_choice():
    model = AutoEncoder(input_dim=5, hidden_dim=3, hidden_activation="relu", output_activation="identity")
    h = model.encode(Tensor(np.full((2, 5), -10.0)))
    assert np.all(h.data >= 0)
    with pytest.raises(ValueError, match="hidden_activation='softsign' is not allowed: one of relu, sigmoid"):
        AutoEncoder(input_dim=5, hidden_dim=3, hidden_activation="softsign")


@pytest.mark.parametrize("kwargs, name", [({"input_dim": 0}, "input_dim"), ({"hidden_dim": -1}, "hidden_dim"),
                                          ({"hidden_dim": 2.5}, "hidden_dim")])
def test_sizes_are_checked_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=f"^{name}=.* is not allowed: an integer >= 1"):
        AutoEncoder(**{"input_dim": 5, "hidden_dim": 3, **kwargs})


def test_every_parameter_gets_a_gradient_matching_finite_differences():
    rng = np.random.default_rng(2)
    model = AutoEncoder(input_dim=5, hidden_dim=3, rng=rng)
    for p in model.parameters():  # float64 for a precise finite-difference comparison
        p.data = p.data.astype(np.float64)
    model.encoder[0].bias.data[...] = rng.standard_normal(3) * 0.1
    x = Tensor(rng.random((4, 5)))
    loss, _ = sparse_ae_loss(model, x)
    loss.backward()
    eps = 1e-6
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        numeric = np.zeros_like(p.data)
        for i in np.ndindex(p.shape):
            orig = p.data[i]
            with no_grad():
                p.data[i] = orig + eps
                plus = sparse_ae_loss(model, x)[0].item()
                p.data[i] = orig - eps
                minus = sparse_ae_loss(model, x)[0].item()
            p.data[i] = orig
            numeric[i] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(p.grad, numeric, rtol=1e-4, atol=1e-7, err_msg=name)


def test_state_dict_round_trip_reproduces_outputs():
    a = AutoEncoder(input_dim=20, hidden_dim=4, rng=np.random.default_rng(3))
    b = AutoEncoder(input_dim=20, hidden_dim=4, rng=np.random.default_rng(4))
    b.load_state_dict(a.state_dict())
    x = Tensor(low_rank_data(n=3, dim=20))
    np.testing.assert_array_equal(a(x).data, b(x).data)


def train(model, optimizer, data, epochs, batch_size=32, seed=0):
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(data))
        for start in range(0, len(data), batch_size):
            batch = Tensor(data[order[start:start + batch_size]])
            optimizer.zero_grad()
            loss, _ = sparse_ae_loss(model, batch)
            loss.backward()
            optimizer.step()


def test_adam_training_lowers_sparse_autoencoder_loss():
    data = low_rank_data()
    model = AutoEncoder(input_dim=784, hidden_dim=64, rng=np.random.default_rng(0))
    x = Tensor(data)
    with no_grad():
        loss_before, recon_before = (t.item() for t in sparse_ae_loss(model, x))
        mean_activation_before = model.encode(x).data.mean()
    train(model, Adam(model.parameters(), lr=1e-2), data, epochs=10)
    with no_grad():
        loss_after, recon_after = (t.item() for t in sparse_ae_loss(model, x))
        mean_activation_after = model.encode(x).data.mean()
    assert loss_after < 0.1 * loss_before
    assert recon_after < 0.5 * recon_before  # reconstruction itself improves, not just sparsity
    assert abs(mean_activation_after - 0.1) < abs(mean_activation_before - 0.1)  # codes sparser
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_adam_beats_sgd_on_the_autoencoder():
    data = low_rank_data(n=128, dim=64, seed=5)
    x = Tensor(data)
    results = {}
    for name, make in [("adam", lambda ps: Adam(ps, lr=1e-2)), ("sgd", lambda ps: SGD(ps, lr=1e-2))]:
        model = AutoEncoder(input_dim=64, hidden_dim=16, rng=np.random.default_rng(6))
        train(model, make(model.parameters()), data, epochs=5)
        with no_grad():
            results[name] = sparse_ae_loss(model, x)[0].item()
    assert results["adam"] < 0.5 * results["sgd"]


def test_parameters_are_the_ones_optimizers_update():
    model = AutoEncoder(input_dim=4, hidden_dim=2, rng=np.random.default_rng(7))
    params = model.parameters()
    assert all(isinstance(p, Parameter) for p in params)
    before = [p.data.copy() for p in params]
    x = Tensor(low_rank_data(n=4, dim=4))
    sparse_ae_loss(model, x)[0].backward()
    SGD(params, lr=0.1).step()
    assert all(not np.array_equal(b, p.data) for b, p in zip(before, model.parameters()))
