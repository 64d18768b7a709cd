"""gradcheck itself: passes correct backwards, catches wrong ones, leaves constants alone."""

# ruff: noqa: N805 (an op's first argument is its context, ctx, as in PyTorch)

import numpy as np
import pytest

from sparsegrad import Function, GradcheckError, Tensor, gradcheck

RNG = np.random.default_rng(3)


class Square(Function):
    """a^2 with a correct backward."""

    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a * a

    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * 2 * a


class BadSquare(Square):
    """a^2 with the classic bug: the factor 2 forgotten."""

    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * a


class SlightlyOffSquare(Square):
    """a^2 with a backward 1% too large: only a real comparison notices."""

    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        return grad * 2.02 * a


class BadSecondInput(Function):
    """a * b whose gradient for b is wrong (uses b instead of a)."""

    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return a * b

    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        return grad * b, grad * b


class IgnoresUpstream(Function):
    """3a whose backward forgets to multiply by the incoming gradient."""

    def forward(ctx, a):
        return 3 * a

    def backward(ctx, grad):
        return np.full(grad.shape, 3.0)


def test_correct_backward_passes_and_returns_true():
    assert gradcheck(lambda a: Square.apply(a), [RNG.standard_normal((3, 4))]) is True


@pytest.mark.parametrize("bad", [BadSquare, SlightlyOffSquare, IgnoresUpstream], ids=lambda c: c.__name__)
def test_wrong_backward_returns_false(bad):
    x = RNG.standard_normal((3, 4)) + 2.0
    assert gradcheck(lambda a: bad.apply(a), [x], raise_exception=False) is False


def test_wrong_backward_raises_gradcheck_error_with_details():
    x = RNG.standard_normal((2, 3)) + 2.0
    with pytest.raises(GradcheckError, match=r"input 0 \(shape \(2, 3\)\).*analytic.*numeric"):
        gradcheck(lambda a: BadSquare.apply(a), [x])
    assert issubclass(GradcheckError, AssertionError)


def test_wrong_gradient_of_second_input_is_named():
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(lambda a, b: BadSecondInput.apply(a, b), [RNG.standard_normal(3) + 3, RNG.standard_normal(3)])


def test_wrong_backward_caught_when_output_is_not_scalar():
    # a vector output is reduced with random weights, so a backward that ignores the
    # incoming gradient is caught even through a sum-free graph
    assert not gradcheck(lambda a: IgnoresUpstream.apply(a) * 1.0, [RNG.standard_normal(5)], raise_exception=False)


def test_constant_inputs_are_not_checked():
    c = Tensor(RNG.standard_normal(3) + 3)  # requires_grad=False: stays a constant
    x = RNG.standard_normal(3)
    # BadSecondInput's gradient for its second input is wrong, but that input is a constant
    assert gradcheck(lambda a, b: BadSecondInput.apply(a, b), [x, c])
    assert not gradcheck(lambda a, b: BadSecondInput.apply(a, b), [x, RNG.standard_normal(3) + 3],
                         raise_exception=False)


def test_inputs_are_not_modified():
    x = RNG.standard_normal((2, 2))
    before = x.copy()
    t = Tensor(x.astype(np.float32), requires_grad=True)
    gradcheck(lambda a, b: (a * b).sum(), [x, t])
    np.testing.assert_array_equal(x, before)
    assert t.grad is None and t.dtype == np.float32


def test_unused_input_has_zero_gradient():
    assert gradcheck(lambda a, b: a * 2.0, [RNG.standard_normal(3), RNG.standard_normal(3)])


def test_tolerances_are_used():
    x = RNG.standard_normal(4) + 3.0
    # a 1% error passes only when rtol allows it
    assert gradcheck(lambda a: SlightlyOffSquare.apply(a), [x], rtol=0.05)
    assert not gradcheck(lambda a: SlightlyOffSquare.apply(a), [x], rtol=1e-3, raise_exception=False)
