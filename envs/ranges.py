"""Range parameters: a factor each sample draws uniformly from an interval, encoded one to one.

An interval ``[a, b]`` inside a factor's physical bounds ``[low, high]`` is two parameters in [0, 1]:
``width`` (the fraction of the physical span it covers) and ``position`` (where it sits in the room
left: 0 at the lower bound, 1 at the upper bound). Every encoding decodes to an ordered interval,
and distinct encodings give distinct intervals (except ``width = 1``, the whole span, whose position
does not matter), so a policy never models a mirrored objective. ``width = 1`` for every factor is
uniform domain randomization over the physical bounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np


@dataclass(frozen=True)
class RangeParam:
    """A randomized factor: the names of its two parameters and its physical bounds."""

    position: str
    width: str
    low: float
    high: float

    def interval(self, position: Any, width: Any) -> tuple[Any, Any]:
        """The ordered interval ``(a, b)`` an encoding stands for (scalars or per-sample arrays)."""
        span = self.high - self.low
        a = self.low + np.asarray(position) * (1.0 - np.asarray(width)) * span
        return a, a + np.asarray(width) * span

    def encode(self, a: float, b: float) -> tuple[float, float]:
        """``(position, width)`` of the interval ``[a, b]`` (``a <= b``, inside the bounds)."""
        if not self.low <= a <= b <= self.high:
            raise ValueError(f"interval [{a}, {b}] is not ordered inside [{self.low}, {self.high}]")
        width = (b - a) / (self.high - self.low)
        room = 1.0 - width
        return (0.0 if room <= 0 else float((a - self.low) / ((self.high - self.low) * room))), float(width)


def intervals(ranges: Mapping[str, RangeParam], params: Mapping[str, Any]) -> dict[str, list[float]]:
    """Each factor's ordered interval ``[a, b]`` at scalar ``params`` (for reports)."""
    out = {}
    for factor, spec in ranges.items():
        a, b = spec.interval(float(params[spec.position]), float(params[spec.width]))
        out[factor] = [round(float(a), 6), round(float(b), 6)]
    return out


def widen_params(params: Mapping[str, Any], ranges: Mapping[str, RangeParam], fraction: float) -> dict[str, Any]:
    """``params`` with every factor's interval widened toward its whole bounds by ``fraction`` of the
    room left: width ``w`` becomes ``w + fraction * (1 - w)`` at the same position, so the new interval
    contains the old one (0: unchanged; 1: the factor is uniform over its bounds)."""
    out = dict(params)
    for spec in ranges.values():
        if spec.width in out:
            out[spec.width] = float(out[spec.width]) + fraction * (1.0 - float(out[spec.width]))
    return out


def starting_points(param_space: Any, nominal: Mapping[str, Any], ranges: Mapping[str, RangeParam]) -> list[dict[str, Any]]:
    """Where a search starts, as a user would: nominal, and, for a simulator that declares its randomized
    factors, uniform DR (the widest member of the family)."""
    return [dict(nominal)] + ([widest_params(param_space, nominal, ranges)] if ranges else [])


def widest_params(param_space: Any, nominal: Mapping[str, Any], ranges: Mapping[str, RangeParam]) -> dict[str, Any]:
    """The widest member of a simulator's family: every declared factor over its whole bounds (width 1),
    every other continuous parameter at the middle of its bounds (equal mixture weights, say), discrete
    ones nominal. Policies can start there: it is uniform domain randomization as one candidate."""
    from gymnasium import spaces

    params = dict(nominal)
    for name, space in param_space.spaces.items():
        if isinstance(space, spaces.Box):
            params[name] = float((float(space.low) + float(space.high)) / 2)
    for spec in ranges.values():
        params[spec.width], params[spec.position] = 1.0, 0.5
    return params


FactorTable = Mapping[str, tuple]  # name -> (unit, low, high, nominal low, nominal high, meaning)


def factor_ranges(factors: FactorTable) -> dict[str, RangeParam]:
    """The ``RangeParam`` of every factor of a table, its parameters named ``<factor>_position``/``_width``."""
    return {name: RangeParam(f"{name}_position", f"{name}_width", low, high)
            for name, (_, low, high, *_rest) in factors.items()}


def factor_space(factors: FactorTable, scalars: Mapping[str, tuple] | None = None) -> tuple[Any, dict[str, float]]:
    """``param_space`` and the nominal setting of a factor table: a position and a width in [0, 1] per
    factor (nominal: its nominal interval), and each scalar ``name -> (unit, low, high, nominal, meaning)``."""
    from gymnasium import spaces

    def box(low: float, high: float) -> spaces.Box:
        return spaces.Box(low=np.float32(low), high=np.float32(high), shape=(), dtype=np.float32)

    entries: dict[str, Any] = {}
    nominal: dict[str, float] = {}
    for name, spec in factor_ranges(factors).items():
        entries[spec.position], entries[spec.width] = box(0.0, 1.0), box(0.0, 1.0)
        nominal[spec.position], nominal[spec.width] = spec.encode(*factors[name][3:5])
    for name, (_, low, high, value, _) in (scalars or {}).items():
        entries[name], nominal[name] = box(low, high), value
    return spaces.Dict(entries), nominal
