"""``UniformDR``: classic domain randomization, the baseline every adaptive policy must beat.

Every *sample* (not every candidate) is drawn uniformly over the physical bounds. For a simulator
that declares its randomized factors (``Simulator.ranges``), each factor's interval is set to its
whole bounds (width 1), so the factor itself is uniform over them; every other parameter (e.g. a
mixture weight) is drawn per sample uniformly from its whole range. It never adapts; successive
candidates differ only in their data seed.

With ``persistent: true`` one learner trains on while fresh uniform-DR batches arrive, and the run
delivers the state with the best validation score, as ADR's and PBT's do: the baseline that tells
how much of a persistent policy's gain comes from moving the parameters rather than from training
one model on fresh data with a checkpoint chosen on validation.
"""

from __future__ import annotations

from typing import Any, Mapping

from .base import Candidate, LearnerMode, Outcome, Policy
from .space import ParamCodec


class UniformDR(Policy):
    """Per-sample uniform randomization over the physical bounds (see the module docstring).

    ``range_params`` is the simulator's ``ranges`` (set by the loop); without it every parameter is
    drawn per sample over its own bounds. ``persistent``: one learner trains on every batch (see the
    module docstring) instead of a fresh learner per candidate.
    """

    searches = False  # nothing to search: the budget goes to one model on fresh uniform-DR data
    loop_options = frozenset({"range_params"})

    @classmethod
    def loop_kwargs(cls, *, env: Any, config: Any, run_dir: Any) -> dict[str, Any]:
        return {"range_params": getattr(env, "ranges", {})}  # each declared factor uniform over its bounds

    def __init__(self, *, param_space, nominal_params, seed: int, range_params: Mapping[str, Any] | None = None,
                 persistent: bool = False, direction: str = "maximize") -> None:
        super().__init__(param_space=param_space, nominal_params=nominal_params, seed=seed, direction=direction)
        if not isinstance(persistent, bool):
            raise ValueError(f"persistent must be true or false, got {persistent!r}")
        self.learner_mode = self.learner_mode_for({"persistent": persistent})
        self._params = dict(nominal_params)
        self._ranges = ParamCodec(param_space).full_ranges()
        for spec in (range_params or {}).values():  # the factor's interval is its whole bounds
            self._params[spec.width] = 1.0
            self._ranges.pop(spec.width, None)
            self._ranges.pop(spec.position, None)

    @classmethod
    def learner_mode_for(cls, options: dict[str, Any]) -> LearnerMode:
        return "persistent" if options.get("persistent") is True else "per_candidate"

    def ask(self, n: int = 1) -> list[Candidate]:
        return [Candidate(id=self._new_id(), params=dict(self._params), ranges=dict(self._ranges)) for _ in range(n)]

    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        pass  # uniform DR never adapts

    def state_dict(self) -> dict[str, Any]:
        return {"next_id": self._next_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._next_id = int(state["next_id"])
