"""Learning-rate schedules: values per epoch against closed forms, and resuming from state_dict."""

import math

import numpy as np
import pytest

from sparsegrad.nn import Parameter
from sparsegrad.optim import GD, Adam, ConstantLR, CosineLR, ExponentialLR, LinearLR, StepLR


def optimizer(lr=0.01):
    return GD([Parameter(np.zeros(2))], lr=lr)


def lrs_over(schedule, epochs):
    """The optimizer's lr at epochs 0 .. epochs-1 (step() once per epoch, as a training loop does)."""
    values = []
    for _ in range(epochs):
        values.append(schedule.optimizer.lr)
        schedule.step()
    return values


SCHEDULES = {
    "constant": (lambda o: ConstantLR(o), lambda e: 0.01),
    "linear": (lambda o: LinearLR(o, end_factor=0.1, epochs=50), lambda e: 0.01 + (0.001 - 0.01) * min(e, 49) / 49),
    "exponential": (lambda o: ExponentialLR(o, gamma=0.9), lambda e: 0.01 * 0.9**e),
    "cosine": (lambda o: CosineLR(o, end_factor=0.1, epochs=50),
               lambda e: 0.001 + 0.009 * 0.5 * (1 + math.cos(math.pi * min(e, 49) / 49))),
    "step": (lambda o: StepLR(o, step_size=10, gamma=0.5), lambda e: 0.01 * 0.5 ** (e // 10)),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_values_against_closed_form(name):
    make, formula = SCHEDULES[name]
    values = lrs_over(make(optimizer(0.01)), 60)
    np.testing.assert_allclose(values, [formula(e) for e in range(60)], rtol=1e-12)
    assert values[0] == 0.01  # epoch 0 is the base lr
    assert all(isinstance(v, float) for v in values)  # Python floats: no float64 upcasts


def test_linear_reaches_end_exactly_at_last_epoch():
    values = lrs_over(LinearLR(optimizer(0.01), end_factor=0.1, epochs=50), 50)
    assert len(values) == 50
    assert values[0] == 0.01
    assert values[-1] == 0.001  # exactly, at epoch 49, the last of 50
    assert np.all(np.diff(values) < 0)
    np.testing.assert_allclose(np.diff(values), -0.009 / 49, rtol=1e-9)  # a straight line
    np.testing.assert_allclose(values, np.linspace(0.01, 0.001, 50), rtol=1e-12)


def test_linear_and_cosine_hold_end_lr_after_last_epoch():
    for schedule in (LinearLR(optimizer(0.01), 0.1, 5), CosineLR(optimizer(0.01), 0.1, 5)):
        values = lrs_over(schedule, 10)
        assert values[4:] == [0.001] * 6


def test_cosine_shape():
    values = lrs_over(CosineLR(optimizer(0.01), end_factor=0.1, epochs=51), 51)
    assert values[0] == 0.01 and values[-1] == 0.001
    assert values[25] == pytest.approx((0.01 + 0.001) / 2)  # halfway down at the middle
    assert np.all(np.diff(values) < 0)
    # flat at both ends, steepest in the middle
    steps = -np.diff(values)
    assert steps[0] < steps[24] and steps[-1] < steps[24]


def test_step_lr_changes_only_every_step_size():
    values = lrs_over(StepLR(optimizer(1.0), step_size=3, gamma=0.1), 9)
    np.testing.assert_allclose(values, [1, 1, 1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.01], rtol=1e-12)


def test_single_epoch_schedules_keep_base_lr():
    assert lrs_over(LinearLR(optimizer(0.01), 0.1, 1), 3) == [0.01] * 3
    assert lrs_over(CosineLR(optimizer(0.01), 0.1, 1), 3) == [0.01] * 3


def test_schedule_drives_the_update_size():
    p = Parameter(np.zeros(1))
    opt = GD([p], lr=0.01)
    schedule = LinearLR(opt, end_factor=0.1, epochs=10)
    previous = p.data.copy()
    for epoch in range(10):
        p.grad = np.ones(1)
        opt.step()
        assert previous[0] - p.data[0] == pytest.approx(schedule.lr_at(epoch), rel=1e-12)
        previous = p.data.copy()
        schedule.step()


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_state_dict_resume_gives_same_lrs(name):
    make, _ = SCHEDULES[name]
    uninterrupted = lrs_over(make(optimizer(0.01)), 40)

    first = make(optimizer(0.01))
    lrs_over(first, 17)
    state = first.state_dict()
    assert state["epoch"] == 17
    # resume: the new optimizer was restored with the decayed lr, so the schedule made on
    # it sees a wrong base_lr until its own state is loaded
    resumed_opt = optimizer(first.optimizer.lr)
    resumed = make(resumed_opt)
    resumed.load_state_dict(state)
    assert resumed_opt.lr == uninterrupted[17]
    assert lrs_over(resumed, 23) == uninterrupted[17:]


def test_resume_together_with_optimizer_state():
    p = Parameter(np.ones(3))
    opt = Adam([p], lr=0.01)
    sched = LinearLR(opt, end_factor=0.1, epochs=50)
    for _ in range(5):
        p.grad = np.ones(3)
        opt.step()
        sched.step()
    opt_state, sched_state = opt.state_dict(), sched.state_dict()
    q = Parameter(p.data.copy())
    opt2 = Adam([q], lr=0.01)
    sched2 = LinearLR(opt2, end_factor=0.1, epochs=50)
    opt2.load_state_dict(opt_state)
    sched2.load_state_dict(sched_state)
    assert opt2.lr == opt.lr == sched.lr_at(5)
    for _ in range(5):
        for param in (p, q):
            param.grad = np.full(3, 0.5)
        opt.step()
        opt2.step()
        sched.step()
        sched2.step()
        np.testing.assert_array_equal(p.data, q.data)
        assert opt.lr == opt2.lr
