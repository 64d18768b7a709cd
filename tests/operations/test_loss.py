"""MSELoss, BCELoss, KLDiv, L1Penalty against direct formulas; gradients against finite differences."""

import re
import warnings

import numpy as np
import pytest

from sparsegrad import Tensor, gradcheck
from sparsegrad.operations.loss import BCELoss, KLDiv, L1Penalty, MSELoss

RNG = np.random.default_rng(11)


def probs(*shape, low=0.05, high=0.95):
    return RNG.uniform(low, high, shape)


# ---- MSE ---------------------------------------------------------------------------------------


def test_mse_forward():
    t, o = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))
    out = MSELoss.apply(Tensor(t), Tensor(o))
    assert out.shape == ()
    assert out.item() == pytest.approx(np.mean((o - t) ** 2), rel=1e-12)


def test_mse_gradcheck_both_inputs():
    assert gradcheck(lambda t, o: MSELoss.apply(t, o), [RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))])


def test_mse_gradient_closed_form_and_numpy_target():
    t, o = RNG.standard_normal((2, 3)), Tensor(RNG.standard_normal((2, 3)), requires_grad=True)
    MSELoss.apply(t, o).backward()  # target a plain array
    np.testing.assert_allclose(o.grad, 2 * (o.data - t) / t.size)


def test_mse_shape_mismatch():
    with pytest.raises(ValueError, match=re.escape("MSELoss: shapes (2, 3) and (3, 2)")):
        MSELoss.apply(Tensor(np.zeros((2, 3))), Tensor(np.zeros((3, 2))))


def test_mse_float32():
    t = Tensor(RNG.random((3, 4)).astype(np.float32))
    o = Tensor(RNG.random((3, 4)).astype(np.float32), requires_grad=True)
    loss = MSELoss.apply(t, o)
    assert loss.dtype == np.float32
    loss.backward()
    assert o.grad.dtype == np.float32


# ---- BCE ---------------------------------------------------------------------------------------


def bce_reference(t, o):
    return -np.mean(t * np.log(o) + (1 - t) * np.log(1 - o))


def test_bce_forward():
    t, o = RNG.random((4, 6)), probs(4, 6)
    assert BCELoss.apply(Tensor(t), Tensor(o)).item() == pytest.approx(bce_reference(t, o), rel=1e-10)
    tb = (RNG.random((4, 6)) > 0.5).astype(np.float64)  # hard 0/1 targets
    assert BCELoss.apply(Tensor(tb), Tensor(o)).item() == pytest.approx(bce_reference(tb, o), rel=1e-10)


def test_bce_gradcheck_output_and_target():
    assert gradcheck(lambda t, o: BCELoss.apply(t, o), [RNG.random((3, 4)), probs(3, 4)])


def test_bce_gradient_closed_form():
    t, o = RNG.random((3, 4)), Tensor(probs(3, 4), requires_grad=True)
    BCELoss.apply(t, o).backward()
    p = o.data
    np.testing.assert_allclose(o.grad, (p - t) / (p * (1 - p)) / t.size, rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bce_finite_for_outputs_exactly_zero_and_one(dtype):
    t = np.array([[0.0, 1.0, 0.0, 1.0, 0.3]], dtype=dtype)
    o = Tensor(np.array([[0.0, 1.0, 1.0, 0.0, 0.5]], dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise"):
            loss = BCELoss.apply(Tensor(t), o)
            loss.backward()
    assert np.isfinite(loss.item())
    assert np.all(np.isfinite(o.grad))
    # perfect predictions cost ~nothing, confident wrong ones about -log(1e-7) each (the clip;
    # 1 - 1e-7 rounds to 1 - 1.2e-7 in float32, hence rel=1e-2), and t=0.3 at o=0.5 costs log 2
    eps = 1e-7
    assert loss.item() == pytest.approx((2 * -np.log(eps) + np.log(2.0)) / 5, rel=1e-2)
    assert loss.dtype == dtype


def test_bce_shape_mismatch():
    with pytest.raises(ValueError, match=re.escape("BCELoss: shapes (3,) and (4,)")):
        BCELoss.apply(Tensor(np.zeros(3)), Tensor(np.full(4, 0.5)))


# ---- KL sparsity ---------------------------------------------------------------------------------


def kl_reference(h, rho):
    rho_hat = h.mean(axis=0)
    return np.sum(rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))


@pytest.mark.parametrize("rho", [0.05, 0.1, 0.5, 0.9])
def test_kl_forward_against_formula(rho):
    h = probs(16, 8)
    out = KLDiv.apply(Tensor(h), rho)
    assert out.shape == ()
    assert out.item() == pytest.approx(kl_reference(h, rho), rel=1e-10)
    # and against SciPy's relative entropy of two Bernoullis, summed over units
    rel_entr = pytest.importorskip("scipy.special").rel_entr
    rho_hat = h.mean(axis=0)
    scipy_kl = np.sum(rel_entr(rho, rho_hat) + rel_entr(1 - rho, 1 - rho_hat))
    assert out.item() == pytest.approx(scipy_kl, rel=1e-10)


def test_kl_uses_batch_mean_per_unit():
    # unit 0 averages to rho exactly (KL 0) although no single row equals rho
    h = np.array([[0.0, 0.5], [0.2, 0.5]])
    rho = 0.1
    expected = rho * np.log(rho / 0.5) + (1 - rho) * np.log((1 - rho) / 0.5)
    assert KLDiv.apply(Tensor(h), rho).item() == pytest.approx(expected, rel=1e-10)


def test_kl_zero_with_zero_gradient_at_target():
    h = Tensor(np.full((5, 3), 0.1), requires_grad=True)
    out = KLDiv.apply(h, 0.1)
    out.backward()
    assert out.item() == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(h.grad, 0.0, atol=1e-12)


@pytest.mark.parametrize("rho", [0.05, 0.3])
def test_kl_gradcheck(rho):
    assert gradcheck(lambda h: KLDiv.apply(h, rho), [probs(6, 4)])


def test_kl_gradient_closed_form():
    h, rho = Tensor(probs(4, 3), requires_grad=True), 0.2
    KLDiv.apply(h, rho).backward()
    r = h.data.mean(axis=0)
    np.testing.assert_allclose(h.grad, np.broadcast_to((-rho / r + (1 - rho) / (1 - r)) / 4, (4, 3)))


def test_kl_finite_for_dead_and_saturated_units():
    h = Tensor(np.array([[0.0, 1.0, 0.5], [0.0, 1.0, 0.5]]), requires_grad=True)
    with np.errstate(all="raise"):
        out = KLDiv.apply(h, 0.1)
        out.backward()
    assert np.isfinite(out.item()) and np.all(np.isfinite(h.grad))


@pytest.mark.parametrize("rho", [0.0, 1.0, -0.1, 1.5])
def test_kl_rejects_bad_rho(rho):
    with pytest.raises(ValueError, match="rho"):
        KLDiv.apply(Tensor(probs(2, 2)), rho)


def test_kl_rejects_non_2d_hidden():
    with pytest.raises(ValueError, match=re.escape("(2, 2, 2)")):
        KLDiv.apply(Tensor(probs(2, 2, 2)), 0.1)


def test_kl_float32():
    h = Tensor(probs(8, 4).astype(np.float32), requires_grad=True)
    out = KLDiv.apply(h, 0.1)
    assert out.dtype == np.float32
    out.backward()
    assert h.grad.dtype == np.float32


# ---- L1 ----------------------------------------------------------------------------------------------


def test_l1_forward_and_gradient():
    h = RNG.standard_normal((4, 5))
    assert L1Penalty.apply(Tensor(h)).item() == pytest.approx(np.abs(h).sum() / 4, rel=1e-12)
    t = Tensor(h, requires_grad=True)
    L1Penalty.apply(t).backward()
    np.testing.assert_array_equal(t.grad, np.sign(h) / 4)


def test_l1_gradcheck_away_from_zero():
    h = RNG.standard_normal((4, 5))
    h = np.where(np.abs(h) < 0.1, 0.5, h)
    assert gradcheck(lambda t: L1Penalty.apply(t), [h])


def test_total_autoencoder_style_loss_gradcheck():
    x = RNG.random((6, 5))

    def loss(w1, w2):
        h = (Tensor(x) @ w1).sigmoid()
        out = (h @ w2).sigmoid()
        return MSELoss.apply(Tensor(x), out) + 0.1 * KLDiv.apply(h, 0.1) + 0.01 * L1Penalty.apply(h)

    assert gradcheck(loss, [RNG.standard_normal((5, 3)), RNG.standard_normal((3, 5))])
