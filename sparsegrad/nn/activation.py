"""Activation modules, so they can stand in a `Sequential`."""

from __future__ import annotations

from sparsegrad.checks import check
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


class TopK(Module):
    """ReLU(TopK(x)): each row's k largest values, those above 0, as in Gao et al. (2024)'s TopK autoencoder.

    At most k units of a code are nonzero, whatever the penalty; ReLU drops a kept value that is negative.
    """

    def __init__(self, k: int) -> None:
        check(isinstance(k, int) and not isinstance(k, bool) and k >= 1, "k", k, "an integer >= 1")
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        return ops.ReLU.apply(ops.TopK.apply(x, k=self.k))

    def extra_repr(self) -> str:
        return f"k={self.k}"


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


ACTIVATIONS: dict[str, type[Module]] = {
    "relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "identity": Identity, "topk": TopK,
}


def activation(name: str, **kwargs: int) -> Module:
    """The activation module called `name` (relu, sigmoid, tanh, identity; topk takes k=)."""
    try:
        cls = ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation '{name}': choose one of {sorted(ACTIVATIONS)}") from None
    return cls(**kwargs)
