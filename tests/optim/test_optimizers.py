"""GD, SGD (momentum, Nesterov, weight decay), Adam against hand-computed NumPy references."""

import math

import numpy as np
import pytest

from sparsegrad import Tensor
from sparsegrad.checks import ArgumentError
from sparsegrad.nn import Parameter
from sparsegrad.operations.loss import MSELoss
from sparsegrad.optim import GD, SGD, Adam

STEPS = 5
SHAPES = [(3, 2), (4,)]


def make_params(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [Parameter(rng.standard_normal(s).astype(dtype)) for s in SHAPES]


def grad_sequence(seed=1, steps=STEPS):
    """A fixed gradient for every parameter at every step (no autograd needed)."""
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]


def run(optimizer, params, grads):
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = None if g is None else g.astype(p.dtype)
        optimizer.step()
    return [p.data.copy() for p in params]


# ---- hand-written references ------------------------------------------------------------------


def reference_sgd(p0, grads, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
    """torch.optim.SGD's documented algorithm with dampening=0:
    g += wd p; b = g (t=1) else mu b + g; g = g + mu b if nesterov else b; p -= lr g."""
    out = []
    for i, p in enumerate(p0):
        p, buf = p.astype(np.float64).copy(), None
        for t, step_grads in enumerate(grads):
            g = step_grads[i] + weight_decay * p
            if momentum:
                buf = g.copy() if t == 0 else momentum * buf + g
                g = g + momentum * buf if nesterov else buf
            p = p - lr * g
        out.append(p)
    return out


def reference_adam(p0, grads, lr, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
    """Kingma & Ba (2015), Algorithm 1, with L2 weight decay added to the gradient (torch.optim.Adam).

    A gradient None skips the parameter: no update, and its own step count t stays (as PyTorch).
    """
    out = []
    for i, p in enumerate(p0):
        p = p.astype(np.float64).copy()
        m, v, t = np.zeros_like(p), np.zeros_like(p), 0
        for step_grads in grads:
            if step_grads[i] is None:
                continue
            t += 1
            g = step_grads[i] + weight_decay * p
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g**2
            m_hat = m / (1 - b1**t)
            v_hat = v / (1 - b2**t)
            p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


# ---- against the references ----------------------------------------------------------------------


def test_gd_against_reference():
    params, grads = make_params(), grad_sequence()
    p0 = [p.data.copy() for p in params]
    got = run(GD(params, lr=0.1), params, grads)
    for i, p in enumerate(got):
        np.testing.assert_allclose(p, p0[i] - 0.1 * sum(g[i] for g in grads), rtol=1e-12)


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"weight_decay": 0.1},
        {"momentum": 0.9},
        {"momentum": 0.5, "weight_decay": 0.01},
        {"momentum": 0.9, "nesterov": True},
        {"momentum": 0.8, "nesterov": True, "weight_decay": 0.05},
    ],
    ids=str,
)
def test_sgd_against_torch_formula(kwargs):
    params, grads = make_params(), grad_sequence()
    p0 = [p.data.copy() for p in params]
    got = run(SGD(params, lr=0.05, **kwargs), params, grads)
    expected = reference_sgd(p0, grads, lr=0.05, **kwargs)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_sgd_first_two_steps_by_hand():
    p = Parameter(np.array([1.0]))
    opt = SGD([p], lr=0.1, momentum=0.9, nesterov=True)
    p.grad = np.array([2.0])
    opt.step()  # b = 2; step = 2 + 0.9 * 2 = 3.8
    assert p.data[0] == pytest.approx(1.0 - 0.38)
    p.grad = np.array([1.0])
    opt.step()  # b = 0.9 * 2 + 1 = 2.8; step = 1 + 0.9 * 2.8 = 3.52
    assert p.data[0] == pytest.approx(0.62 - 0.352)


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"betas": (0.8, 0.99)}, {"weight_decay": 0.1}, {"eps": 1e-3}, {"betas": (0.0, 0.5)}],
    ids=str,
)
def test_adam_against_textbook(kwargs):
    params, grads = make_params(), grad_sequence(steps=8)
    p0 = [p.data.copy() for p in params]
    got = run(Adam(params, lr=0.01, **kwargs), params, grads)
    b1, b2 = kwargs.get("betas", (0.9, 0.999))
    expected = reference_adam(p0, grads, lr=0.01, b1=b1, b2=b2, eps=kwargs.get("eps", 1e-8),
                              weight_decay=kwargs.get("weight_decay", 0.0))
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_adam_counts_steps_per_parameter_when_some_get_no_gradient():
    # b gets a gradient at steps 1, 3, 6, ... only; as PyTorch, its bias corrections use its own count
    params, grads = make_params(), grad_sequence(steps=30)
    for t, step_grads in enumerate(grads, start=1):
        if t % 3 == 2 or t % 5 == 0:
            step_grads[1] = None
    p0 = [p.data.copy() for p in params]
    got = run(Adam(params, lr=0.01), params, grads)
    for a, b in zip(got, reference_adam(p0, grads, lr=0.01)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_adam_per_parameter_bias_correction_by_hand():
    p = Parameter(np.array([0.0]))
    opt = Adam([p], lr=0.1)
    p.grad = np.array([1.0])
    opt.step()  # t = 1: m = 0.1, v = 0.001, m_hat = v_hat = 1: a step of lr
    assert p.data[0] == pytest.approx(-0.1, rel=1e-7)
    p.grad = None
    opt.step()  # no gradient: no update, t stays 1
    assert p.data[0] == pytest.approx(-0.1, rel=1e-7)
    p.grad = np.array([2.0])
    opt.step()  # t = 2: m = 0.09 + 0.2 = 0.29, v = 0.000999 + 0.004 = 0.004999
    m_hat, v_hat = 0.29 / (1 - 0.9**2), 0.004999 / (1 - 0.999**2)  # 1.5263158, 2.5007504
    assert p.data[0] == pytest.approx(-0.1 - 0.1 * m_hat / (math.sqrt(v_hat) + 1e-8), rel=1e-7)  # -0.1965180
    state = opt.state_dict()  # the paper's m and v, and this parameter's own count
    assert state["m.0"][0] == pytest.approx(0.29) and state["v.0"][0] == pytest.approx(0.004999)
    assert state["step.0"] == 2 and state["steps"] == 3


def test_adam_first_step_is_lr_times_sign():
    # with bias correction, the first update is lr * g / (|g| + eps): lr * sign(g)
    p = Parameter(np.array([0.0, 0.0, 0.0]))
    p.grad = np.array([3.0, -0.001, 250.0])
    Adam([p], lr=0.01).step()
    np.testing.assert_allclose(p.data, [-0.01, 0.01, -0.01], rtol=1e-4)


@pytest.mark.parametrize("make", [lambda ps: GD(ps, lr=0.1), lambda ps: SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: Adam(ps, lr=0.01)])
def test_float32_parameters_stay_float32_and_match_float64(make):
    p32, p64, grads = make_params(dtype=np.float32), make_params(), grad_sequence()
    for p in p64:
        p.data = p.data.astype(np.float32).astype(np.float64)
    got32 = run(make(p32), p32, grads)
    got64 = run(make(p64), p64, grads)
    for a, b in zip(got32, got64):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# ---- mechanics ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda ps: GD(ps, lr=0.1), lambda ps: SGD(ps, lr=0.1, momentum=0.9),
                                  lambda ps: Adam(ps, lr=0.1, weight_decay=0.1)])
def test_updates_are_in_place(make):
    params = make_params()
    arrays = [p.data for p in params]
    opt = make(params)
    buffers = {k: list(v) for k, v in opt.buffers.items()}
    run(opt, params, grad_sequence())
    assert all(p.data is a for p, a in zip(params, arrays))
    assert all(x is y for k in buffers for x, y in zip(opt.buffers[k], buffers[k]))


def test_parameters_without_grad_are_untouched():
    a, b = make_params()
    before = b.data.copy()
    for opt in (GD([a, b], lr=0.1), SGD([a, b], lr=0.1, momentum=0.9), Adam([a, b], lr=0.1)):
        a.grad, b.grad = np.ones_like(a.data), None
        opt.step()
    np.testing.assert_array_equal(b.data, before)


def test_zero_grad():
    params = make_params()
    for p in params:
        p.grad = np.ones_like(p.data)
    opt = Adam(params)
    opt.zero_grad()
    assert all(p.grad is None for p in params)


def test_with_autograd_on_a_quadratic():
    # minimise |w - c|^2: GD with lr 0.25 halves the distance each step (grad = 2 (w - c))
    c = np.array([1.0, -2.0, 3.0])
    w = Parameter(np.zeros(3))
    opt = GD([w], lr=0.25)
    for _ in range(10):
        opt.zero_grad()
        ((w - c) * (w - c)).sum().backward()
        opt.step()
    np.testing.assert_allclose(w.data, c * (1 - 0.5**10), rtol=1e-12)


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
        lambda ps: Adam(ps, lr=0.01, weight_decay=0.01),
        lambda ps: GD(ps, lr=0.1),
    ],
)
def test_state_dict_round_trip_continues_identically(make):
    params, grads = make_params(), grad_sequence(steps=10)
    opt = make(params)
    run(opt, params, grads[:4])
    saved_params = [p.data.copy() for p in params]
    state = opt.state_dict()
    assert state["steps"] == 4
    # a fresh optimizer (different lr on purpose) resumed from the saved state
    resumed_params = [Parameter(a.copy()) for a in saved_params]
    resumed = make(resumed_params)
    resumed.lr = 123.0
    resumed.load_state_dict(state)
    assert resumed.lr == opt.lr and resumed.steps == 4
    # the saved state is a copy: continuing the first optimizer does not change it
    snapshot = {k: np.copy(v) for k, v in state.items()}
    original = run(opt, params, grads[4:])
    for k, v in state.items():
        np.testing.assert_array_equal(v, snapshot[k])
    continued = run(resumed, resumed_params, grads[4:])
    for a, b in zip(original, continued):
        np.testing.assert_array_equal(a, b)


def test_adam_state_dict_holds_the_papers_moments_and_resumes_bit_for_bit_in_float32():
    # Adam keeps m / (1 - b1) and v / (1 - b2) inside; state_dict() must still give the paper's
    # m and v, and loading them must give back the kept arrays exactly (float32, as the runner)
    params, grads = make_params(dtype=np.float32), grad_sequence(steps=12)
    opt = Adam(params, lr=0.01, betas=(0.8, 0.99))
    run(opt, params, grads[:7])
    state = opt.state_dict()
    m, v = [np.zeros(s) for s in SHAPES], [np.zeros(s) for s in SHAPES]
    for step_grads in grads[:7]:  # the paper's recursions, in float64
        for i, g in enumerate(step_grads):
            g = g.astype(np.float32).astype(np.float64)
            m[i], v[i] = 0.8 * m[i] + 0.2 * g, 0.99 * v[i] + 0.01 * g * g
    for i in range(len(SHAPES)):
        np.testing.assert_allclose(state[f"m.{i}"], m[i], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(state[f"v.{i}"], v[i], rtol=1e-5, atol=1e-9)
    resumed_params = [Parameter(p.data.copy()) for p in params]
    resumed = Adam(resumed_params, lr=0.01, betas=(0.8, 0.99))
    resumed.load_state_dict(state)
    for a, b in zip(run(opt, params, grads[7:]), run(resumed, resumed_params, grads[7:])):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_state_dict_contents_and_npz_round_trip(tmp_path):
    sgd = SGD(make_params(), lr=0.01, momentum=0.9)
    assert set(sgd.state_dict()) == {"lr", "steps", "momentum.0", "momentum.1"}
    params = make_params()
    opt = Adam(params, lr=0.01)
    run(opt, params, grad_sequence(steps=3))
    state = opt.state_dict()
    assert set(state) == {"lr", "steps", "m.0", "m.1", "v.0", "v.1", "step.0", "step.1"}
    np.savez(tmp_path / "opt.npz", **state)  # flat arrays and numbers: no pickle needed
    other = Adam(make_params(), lr=0.5)
    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        other.load_state_dict(dict(f))
    assert other.lr == 0.01 and other.steps == 3
    for k in ("m.0", "m.1", "v.0", "v.1", "step.0", "step.1"):
        np.testing.assert_array_equal(other.state_dict()[k], state[k])


def test_load_state_dict_errors():
    opt = Adam(make_params(), lr=0.01)
    state = opt.state_dict()
    del state["v.1"]
    with pytest.raises(KeyError, match="v.1"):
        opt.load_state_dict(state)
    state = opt.state_dict()
    state["m.0"] = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"m\.0.*\(2, 3\).*\(3, 2\)"):
        opt.load_state_dict(state)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda ps: GD(ps, lr=0.0), "lr"),
        (lambda ps: SGD(ps, lr=-1.0), "lr"),
        (lambda ps: SGD(ps, lr=0.1, momentum=1.0), "momentum"),
        (lambda ps: SGD(ps, lr=0.1, momentum=-0.1), "momentum"),
        (lambda ps: SGD(ps, lr=0.1, nesterov=True), "nesterov"),
        (lambda ps: SGD(ps, lr=0.1, weight_decay=-1.0), "weight_decay"),
        (lambda ps: Adam(ps, betas=(1.0, 0.999)), "betas"),
        (lambda ps: Adam(ps, betas=(0.9, -0.1)), "betas"),
        (lambda ps: Adam(ps, weight_decay=-0.1), "weight_decay"),
        (lambda ps: Adam(ps, eps=0.0), "eps"),
        (lambda ps: Adam(ps, lr=math.inf), "lr"),
        (lambda ps: Adam([], lr=0.1), "no parameters"),
    ],
)
def test_invalid_hyperparameters(make, match):
    with pytest.raises(ValueError, match=match):
        make(make_params())


def test_argument_errors_name_the_argument():
    # the runner turns these into config errors naming the key (optimizer.lr=0.0 is not allowed: ...)
    with pytest.raises(ArgumentError) as caught:
        Adam(make_params(), lr=0.0)
    assert (caught.value.name, caught.value.value) == ("lr", 0.0) and "> 0" in str(caught.value)
    with pytest.raises(ArgumentError, match="eps=-1.0 is not allowed"):
        Adam(make_params(), eps=-1.0)


def test_params_may_be_a_generator():
    params = make_params()
    opt = SGD((p for p in params), lr=0.1)
    assert opt.params == params


# ---- Adam is faster on an ill-conditioned problem -------------------------------------------------------


def ill_conditioned_least_squares(n=64, d=8, condition=1e3, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, d)))
    scales = np.logspace(0, -0.5 * math.log10(condition), d)  # Hessian eigenvalues 2 s^2
    a = q * scales * math.sqrt(n)
    y = a @ rng.standard_normal(d)
    return a, y


def steps_to_reach(make, a, y, threshold, max_steps=3000):
    w = Parameter(np.zeros(a.shape[1]))
    opt = make([w])
    a_t, y_t = Tensor(a), Tensor(y)
    for step in range(max_steps):
        opt.zero_grad()
        loss = MSELoss.apply(y_t, a_t @ w)
        if loss.item() < threshold:
            return step
        loss.backward()
        opt.step()
    return max_steps


def test_adam_needs_fewer_steps_than_sgd_on_ill_conditioned_least_squares():
    a, y = ill_conditioned_least_squares()
    threshold = 1e-3 * np.mean(y**2)
    smoothness = 2.0  # largest Hessian eigenvalue; SGD diverges for lr > 2 / smoothness
    sgd_best = min(
        steps_to_reach(lambda ps, lr=lr: SGD(ps, lr=lr), a, y, threshold)
        for lr in (0.25 / smoothness, 0.5 / smoothness, 1.0 / smoothness, 1.9 / smoothness)
    )
    adam = steps_to_reach(lambda ps: Adam(ps, lr=0.1), a, y, threshold)
    assert adam < sgd_best / 2, (adam, sgd_best)
    assert sgd_best < 3000  # SGD does get there, just slower
