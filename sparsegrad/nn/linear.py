"""`Linear`: y = x W + b, with Xavier/Glorot uniform initialisation."""

from __future__ import annotations

import math

import numpy as np

from sparsegrad.nn.module import Module, Parameter
from sparsegrad.operations.linalg import Affine
from sparsegrad.tensor import Tensor


class Linear(Module):
    """Affine map from `in_features` to `out_features`; W is stored (in, out) so y = x @ W + b."""

    def __init__(self, in_features: int, out_features: int,
                 rng: np.random.Generator | None = None) -> None:
        if in_features < 1 or out_features < 1:
            raise ValueError(f"Linear: features must be >= 1, got ({in_features}, {out_features})")
        rng = rng if rng is not None else np.random.default_rng()
        # Glorot & Bengio (2010): U(-a, a), a = sqrt(6 / (fan_in + fan_out)), keeps the
        # variance of activations and of gradients about the same from layer to layer.
        bound = math.sqrt(6.0 / (in_features + out_features))
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(rng.uniform(-bound, bound, (in_features, out_features)).astype(np.float32))
        self.bias = Parameter(np.zeros(out_features, dtype=np.float32))

    def forward(self, x: Tensor) -> Tensor:
        return Affine.apply(x, self.weight, self.bias)  # x @ weight + bias, as one op

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"
