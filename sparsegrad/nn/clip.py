"""Gradient clipping by the global norm, as torch.nn.utils.clip_grad_norm_."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from sparsegrad.checks import check
from sparsegrad.nn.module import Parameter


def clip_grad_norm(parameters: Iterable[Parameter], max_norm: float) -> float:
    """Scale every gradient by min(1, max_norm / total norm), in place; returns the total norm before.

    total norm = sqrt(sum over parameters of ||grad||^2), over the parameters that have a gradient.
    """
    check(max_norm > 0, "max_norm", max_norm, "a number > 0")
    with_grad = [p for p in parameters if p.grad is not None]
    total = math.sqrt(sum(float(np.vdot(p.grad, p.grad)) for p in with_grad))
    scale = max_norm / (total + 1e-6)  # PyTorch's epsilon: a zero gradient stays zero
    if scale < 1.0:
        for p in with_grad:
            p.grad = p.grad * scale  # a new array: a gradient may share its memory with another
    return total
