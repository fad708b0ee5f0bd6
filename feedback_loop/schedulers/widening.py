"""The delivered model's distribution: the search's winner, its intervals widened (``final.widen``).

The search scores candidates on a few thousand samples, where narrow intervals pay; the delivered
model trains on far more data, where wider ones may (on the digits it was no better: BENCHMARKS.md).
Widening keeps every searched interval inside the delivered one, so the winner's distribution stays
covered. Only intervals are widened: a simulator's range factors and a candidate's per-sample ranges.
"""

from __future__ import annotations

from typing import Any, Mapping

from gymnasium import spaces

from ..envs import RangeParam, widen_params
from ..types import Candidate


def widen_candidate(candidate: Candidate, fraction: float, param_space: spaces.Dict,
                    range_params: Mapping[str, RangeParam]) -> Candidate:
    """``candidate`` with its intervals widened by ``fraction`` of the room left toward the whole bounds:
    the simulator's factors (``range_params``) and the continuous per-sample ``ranges``. ``info`` keeps
    the searched parameters (``searched_params``, ``searched_ranges``). A candidate with nothing to
    widen (``fraction`` 0, no intervals, or all of them whole already) is returned as is."""
    if fraction == 0:
        return candidate
    ranges = None
    if candidate.ranges is not None:
        ranges = {name: _widen_interval(interval, param_space.spaces.get(name), fraction)
                  for name, interval in candidate.ranges.items()}
    params = widen_params(candidate.params, range_params, fraction)
    if params == candidate.params and ranges == candidate.ranges:
        return candidate
    info: dict[str, Any] = {**candidate.info, "widen": fraction, "searched_params": dict(candidate.params),
                            "searched_ranges": candidate.ranges}
    return Candidate(candidate.id, params, ranges, info, candidate.member, candidate.copy_from)


def _widen_interval(interval: list[float], space: Any, fraction: float) -> list[float]:
    if not isinstance(space, spaces.Box):  # a discrete range stays as searched
        return list(interval)
    low, high = float(space.low.min()), float(space.high.max())
    a, b = float(interval[0]), float(interval[1])
    return [a - fraction * (a - low), b + fraction * (high - b)]
