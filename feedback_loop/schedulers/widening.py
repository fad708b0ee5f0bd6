"""The delivered model's distribution: the search's winner, its intervals widened (``final.widen``).

The search scores candidates on a few thousand samples, where narrow intervals pay; the delivered
model trains on far more data, where wider ones do (measured on the digits: BENCHMARKS.md). Widening
keeps every searched interval inside the delivered one, so the winner's distribution stays covered.
"""

from __future__ import annotations

from typing import Any, Mapping

from gymnasium import spaces

from ..envs import RangeParam, widen_params
from ..types import Candidate


def widen_candidate(candidate: Candidate, fraction: float, param_space: spaces.Dict,
                    range_params: Mapping[str, RangeParam] | None = None) -> Candidate:
    """``candidate`` with its intervals widened by ``fraction`` of the room left toward the whole bounds:
    the simulator's factors (``range_params``) and the continuous per-sample ``ranges``. ``info`` keeps
    the searched parameters (``searched_params``, ``searched_ranges``). ``fraction`` 0 returns it as is."""
    if fraction == 0:
        return candidate
    ranges = None
    if candidate.ranges is not None:
        ranges = {name: _widen_interval(interval, param_space.spaces.get(name), fraction)
                  for name, interval in candidate.ranges.items()}
    info: dict[str, Any] = {**candidate.info, "widen": fraction, "searched_params": dict(candidate.params),
                            "searched_ranges": candidate.ranges}
    return Candidate(candidate.id, widen_params(candidate.params, range_params or {}, fraction), ranges, info,
                     candidate.member, candidate.copy_from)


def _widen_interval(interval: list[float], space: Any, fraction: float) -> list[float]:
    if not isinstance(space, spaces.Box):  # a discrete range stays as searched
        return list(interval)
    low, high = float(space.low.min()), float(space.high.max())
    a, b = float(interval[0]), float(interval[1])
    return [a - fraction * (a - low), b + fraction * (high - b)]
