"""Argument checks that name the argument, its value and what is allowed (as PyTorch's do)."""

from __future__ import annotations


class ArgumentError(ValueError):
    """An argument out of its range: `lr=-1.0 is not allowed: a number > 0`."""

    def __init__(self, name: str, value: object, allowed: str) -> None:
        super().__init__(f"{name}={value!r} is not allowed: {allowed}")
        self.name, self.value, self.allowed = name, value, allowed


def check(ok: bool, name: str, value: object, allowed: str) -> None:
    """Raise ArgumentError unless `ok`."""
    if not ok:
        raise ArgumentError(name, value, allowed)
