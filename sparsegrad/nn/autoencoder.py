"""`AutoEncoder`: input -> hidden code -> reconstruction, one `Linear` each way."""

from __future__ import annotations

import numpy as np

from sparsegrad.checks import check
from sparsegrad.nn.activation import ACTIVATIONS, activation
from sparsegrad.nn.linear import Linear
from sparsegrad.nn.module import Module
from sparsegrad.nn.sequential import Sequential
from sparsegrad.tensor import Tensor


class AutoEncoder(Module):
    """784-64-784 by default. Sigmoid hidden units: KL sparsity needs activations in (0, 1)."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = 64,
                 hidden_activation: str = "sigmoid", output_activation: str = "sigmoid",
                 rng: np.random.Generator | None = None) -> None:
        check(isinstance(input_dim, int) and input_dim >= 1, "input_dim", input_dim, "an integer >= 1")
        check(isinstance(hidden_dim, int) and hidden_dim >= 1, "hidden_dim", hidden_dim, "an integer >= 1")
        for name, value in (("hidden_activation", hidden_activation), ("output_activation", output_activation)):
            check(value in ACTIVATIONS, name, value, f"one of {', '.join(ACTIVATIONS)}")
        rng = rng if rng is not None else np.random.default_rng()
        self.encoder = Sequential(Linear(input_dim, hidden_dim, rng), activation(hidden_activation))
        self.decoder = Sequential(Linear(hidden_dim, input_dim, rng), activation(output_activation))

    def encode(self, x: Tensor) -> Tensor:
        """The hidden code h of each row of x."""
        return self.encoder(x)

    def decode(self, h: Tensor) -> Tensor:
        """The reconstruction from a code h."""
        return self.decoder(h)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))
