"""Optimizers (GD, SGD, Adam) and learning-rate schedules."""

from sparsegrad.optim.adam import Adam
from sparsegrad.optim.optimizer import Optimizer
from sparsegrad.optim.schedules import ConstantLR, CosineLR, ExponentialLR, LinearLR, Schedule, StepLR
from sparsegrad.optim.sgd import GD, SGD

__all__ = ["Optimizer", "GD", "SGD", "Adam", "Schedule", "ConstantLR", "LinearLR",
           "ExponentialLR", "CosineLR", "StepLR"]
