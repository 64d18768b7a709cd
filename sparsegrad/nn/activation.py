"""Activation modules, so they can stand in a `Sequential`."""

from __future__ import annotations

from sparsegrad.nn.module import Module
from sparsegrad.operations import activation as ops
from sparsegrad.tensor import Tensor


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.ReLU.apply(x)


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.Sigmoid.apply(x)


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return ops.Tanh.apply(x)


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


ACTIVATIONS: dict[str, type[Module]] = {
    "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "identity": Identity,
}


def activation(name: str) -> Module:
    """The activation module called `name` (relu, sigmoid, tanh, identity)."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown activation '{name}': choose one of {sorted(ACTIVATIONS)}") from None
