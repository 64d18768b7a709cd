"""Differentiable ops, each a `Function` with its forward and backward side by side."""

from sparsegrad.operations.activation import ReLU, Sigmoid, Tanh
from sparsegrad.operations.arithmetic import Add, Div, Mul, Neg, Pow, Sub
from sparsegrad.operations.linalg import Affine, MatMul, Reshape, Transpose
from sparsegrad.operations.loss import BCELoss, KLDiv, L1Penalty, MSELoss
from sparsegrad.operations.reduction import Mean, Sum

__all__ = [
    "Add", "Sub", "Mul", "Div", "Neg", "Pow", "MatMul", "Affine", "Transpose", "Reshape",
    "ReLU", "Sigmoid", "Tanh", "Sum", "Mean", "MSELoss", "BCELoss", "KLDiv", "L1Penalty",
]
