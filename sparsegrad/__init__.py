"""sparsegrad: reverse-mode automatic differentiation on NumPy, small enough to read."""

from sparsegrad import nn, optim, viz
from sparsegrad.function import Function, is_grad_enabled, no_grad
from sparsegrad.gradcheck import GradcheckError, gradcheck
from sparsegrad.tensor import Tensor

__all__ = ["Tensor", "Function", "no_grad", "is_grad_enabled", "gradcheck", "GradcheckError",
           "nn", "optim", "viz"]
__version__ = "0.1.0"
