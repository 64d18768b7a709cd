"""Differentiable ops, each a `Function` with its forward and backward side by side."""

from sparsegrad.operations.activation import LogSoftmax, ReLU, Sigmoid, Tanh, TopK
from sparsegrad.operations.arithmetic import Add, Div, Exp, Log, Mul, Neg, Pow, Sub
from sparsegrad.operations.linalg import Affine, MatMul, Reshape, Transpose
from sparsegrad.operations.loss import BCELoss, CrossEntropyLoss, KLDiv, L1Penalty, MSELoss
from sparsegrad.operations.reduction import Mean, Sum

__all__ = [
    "Add", "Sub", "Mul", "Div", "Neg", "Pow", "Exp", "Log", "MatMul", "Affine", "Transpose", "Reshape",
    "ReLU", "Sigmoid", "Tanh", "LogSoftmax", "TopK", "Sum", "Mean", "MSELoss", "BCELoss", "CrossEntropyLoss", "KLDiv",
    "L1Penalty",
]
