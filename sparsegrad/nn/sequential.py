"""`Sequential`: modules applied one after another."""

from __future__ import annotations

from sparsegrad.nn.module import Module
from sparsegrad.tensor import Tensor


class Sequential(Module):
    """`Sequential(a, b, c)(x) == c(b(a(x)))`; sub-modules are named 0, 1, 2, ..."""

    def __init__(self, *modules: Module) -> None:
        for i, module in enumerate(modules):
            setattr(self, str(i), module)

    def __iter__(self):
        return (module for module in vars(self).values() if isinstance(module, Module))

    def __getitem__(self, index: int) -> Module:
        return list(self)[index]

    def __len__(self) -> int:
        return sum(1 for _ in self.children())

    def forward(self, x: Tensor) -> Tensor:
        for module in vars(self).values():  # the sub-modules, in the order they were set
            if isinstance(module, Module):
                x = module(x)
        return x
