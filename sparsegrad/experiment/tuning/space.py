"""The search space: Hydra's override grammar (`interval`, `choice`, `range`, `tag(log, ...)`) as Optuna
distributions, and the overrides that stay fixed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep

from sparsegrad.experiment.errors import ConfigError


@dataclass
class Space:
    """What Optuna chooses (`distributions`, by key) and what every trial gets as it is (`fixed`)."""

    distributions: dict[str, Any] = field(default_factory=dict)
    fixed: list[str] = field(default_factory=list)

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """A trial's overrides: the fixed ones, then its parameters."""
        return [*self.fixed, *(f"{key}={value}" for key, value in params.items())]

    def corners(self) -> list[list[str]]:
        """A few points that together reach every bound and every choice (what the config check composes)."""
        low = {k: _ends(d)[0] for k, d in self.distributions.items()}
        points = [low]
        for key, dist in self.distributions.items():
            points += [{**low, key: value} for value in _ends(dist)[1:]]
        return [self.overrides(p) for p in points]


def _ends(dist: Any) -> list[Any]:
    from optuna.distributions import CategoricalDistribution

    if isinstance(dist, CategoricalDistribution):
        return list(dist.choices)
    return [dist.low, dist.high]


def _distribution(override: Override) -> Any:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    key, sweep = override.get_key_element(), override.value()
    log = "log" in getattr(sweep, "tags", set())
    if isinstance(sweep, IntervalSweep):
        low, high = sweep.start, sweep.end
        if low >= high:
            raise ConfigError(key, f"interval({low}, {high})", "an interval whose start is below its end")
        if isinstance(low, int) and isinstance(high, int) and not log:
            return IntDistribution(low, high)
        if log and low <= 0:
            raise ConfigError(key, f"tag(log, interval({low}, {high}))", "a log interval of numbers > 0")
        return FloatDistribution(float(low), float(high), log=log)
    if isinstance(sweep, RangeSweep):
        return CategoricalDistribution(list(override.sweep_iterator()))
    if isinstance(sweep, ChoiceSweep):
        choices = list(override.sweep_iterator())
        return CategoricalDistribution([c if isinstance(c, bool | int | float | str) or c is None else str(c)
                                        for c in choices])
    raise ConfigError(key, override.input_line.split("=", 1)[1], "interval(a, b), choice(a, b, ...) or range(a, b)")


def parse_space(arguments: Sequence[str]) -> Space:
    """`arguments`: overrides as a user writes them (sweeps and fixed values alike)."""
    space = Space()
    for override in OverridesParser.create().parse_overrides(list(arguments)):
        if override.is_sweep_override():
            space.distributions[override.get_key_element()] = _distribution(override)
        else:
            space.fixed.append(f"{override.get_key_element()}={override.get_value_element_as_str()}")
    if not space.distributions:
        raise ConfigError("hydra.sweeper.params", "{}", "a search space: e.g. 'optimizer.lr=tag(log, interval(1e-4, "
                          "1e-1))' 'beta=interval(0, 1)' 'model.hidden_dim=choice(32, 64, 128)'")
    return space
