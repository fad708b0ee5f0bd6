"""``UniformDR``: classic domain randomization, the baseline every adaptive policy must beat.

Every *sample* (not every candidate) is drawn uniformly over the physical bounds. For a simulator
that declares its randomized factors (``Simulator.ranges``), each factor's interval is set to its
whole bounds (width 1), so the factor itself is uniform over them; every other parameter (e.g. a
mixture weight) is drawn per sample uniformly from its whole range. It never adapts; successive
candidates differ only in their data seed.
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import Candidate, Outcome, Policy
from .space import ParamCodec


class UniformDR(Policy):
    """Per-sample uniform randomization over the physical bounds (see the module docstring).

    ``range_params`` is the simulator's ``ranges`` (set by the loop); without it every parameter is
    drawn per sample over its own bounds.
    """

    def __init__(self, *, param_space, nominal_params, seed: int, range_params: Mapping[str, Any] | None = None) -> None:
        super().__init__(param_space=param_space, nominal_params=nominal_params, seed=seed)
        self._params = dict(nominal_params)
        self._ranges = ParamCodec(param_space).full_ranges()
        for spec in (range_params or {}).values():  # the factor's interval is its whole bounds
            self._params[spec.width] = 1.0
            self._ranges.pop(spec.width, None)
            self._ranges.pop(spec.position, None)

    def ask(self, n: int = 1) -> list[Candidate]:
        return [Candidate(id=self._new_id(), params=dict(self._params), ranges=dict(self._ranges)) for _ in range(n)]

    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        pass  # uniform DR never adapts

    def state_dict(self) -> dict[str, Any]:
        return {"next_id": self._next_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._next_id = int(state["next_id"])
