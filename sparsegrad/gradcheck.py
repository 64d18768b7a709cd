"""Check analytic gradients against central finite differences, in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from sparsegrad.function import no_grad
from sparsegrad.tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """True when backward() of `fn(*inputs)` matches finite differences for every input.

    Every input is checked except tensors made with `requires_grad=False` (those
    stay constants); arrays and numbers become float64 tensors. A non-scalar
    output is reduced to `sum(out * w)` with a fixed random `w`, which checks
    the vector-Jacobian product backward() really computes. Each gradient entry
    is compared with (L(x + eps) - L(x - eps)) / (2 eps).
    """
    rng = np.random.default_rng(seed)
    tensors = [
        Tensor(np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64),
               requires_grad=not (isinstance(x, Tensor) and not x.requires_grad))
        for x in inputs
    ]
    out = fn(*tensors)
    weight = rng.standard_normal(out.shape)

    def loss() -> float:
        with no_grad():
            return float(np.sum(fn(*tensors).data * weight))

    out.backward(weight)
    for index, t in enumerate(tensors):
        if not t.requires_grad:
            continue
        analytic = t.grad if t.grad is not None else np.zeros_like(t.data)
        numeric = np.zeros_like(t.data)
        flat, flat_numeric = t.data.reshape(-1), numeric.reshape(-1)
        for i in range(flat.size):
            original = flat[i]
            flat[i] = original + eps
            plus = loss()
            flat[i] = original - eps
            minus = loss()
            flat[i] = original
            flat_numeric[i] = (plus - minus) / (2 * eps)
        if not np.allclose(analytic, numeric, atol=atol, rtol=rtol):
            if not raise_exception:
                return False
            worst = np.unravel_index(np.argmax(np.abs(analytic - numeric)), numeric.shape)
            raise GradcheckError(
                f"gradient of input {index} (shape {t.shape}) differs from finite "
                f"differences: at {worst} analytic {analytic[worst]:.6g}, "
                f"numeric {numeric[worst]:.6g} (atol={atol}, rtol={rtol})"
            )
    return True
