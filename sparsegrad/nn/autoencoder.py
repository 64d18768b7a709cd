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
    """784-64-784 by default. Sigmoid hidden units: KL sparsity needs activations in (0, 1).

    `hidden_activation="topk"` keeps each code's `k` largest units (those above 0) and zeros the rest:
    `AutoEncoder(hidden_activation="topk", k=10)`. `k` is for topk only.
    """

    def __init__(self, input_dim: int = 784, hidden_dim: int = 64,
                 hidden_activation: str = "sigmoid", output_activation: str = "sigmoid",
                 k: int | None = None, rng: np.random.Generator | None = None) -> None:
        check(isinstance(input_dim, int) and input_dim >= 1, "input_dim", input_dim, "an integer >= 1")
        check(isinstance(hidden_dim, int) and hidden_dim >= 1, "hidden_dim", hidden_dim, "an integer >= 1")
        for name, value in (("hidden_activation", hidden_activation), ("output_activation", output_activation)):
            check(value in ACTIVATIONS, name, value, f"one of {', '.join(ACTIVATIONS)}")
        check(output_activation != "topk", "output_activation", output_activation,
              f"one of {', '.join(a for a in ACTIVATIONS if a != 'topk')} (topk is for the hidden code)")
        if hidden_activation == "topk":
            check(isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= hidden_dim, "k", k,
                  f"an integer in [1, hidden_dim={hidden_dim}] with hidden_activation=topk")
        else:
            check(k is None, "k", k, "null: k is the number of units hidden_activation=topk keeps")
        rng = rng if rng is not None else np.random.default_rng()
        hidden = activation(hidden_activation, **({"k": k} if hidden_activation == "topk" else {}))
        self.encoder = Sequential(Linear(input_dim, hidden_dim, rng), hidden)
        self.decoder = Sequential(Linear(hidden_dim, input_dim, rng), activation(output_activation))

    def encode(self, x: Tensor) -> Tensor:
        """The hidden code h of each row of x."""
        return self.encoder(x)

    def decode(self, h: Tensor) -> Tensor:
        """The reconstruction from a code h."""
        return self.decoder(h)

    def forward(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x))
