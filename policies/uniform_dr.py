"""``UniformDR``: classic domain randomization, the baseline every adaptive policy must beat.

Every *sample* (not every candidate) gets fresh parameters drawn uniformly from the whole
``param_space``: each candidate carries full-width per-sample ranges, and the generator does the
drawing. It never adapts; successive candidates differ only in their data seed.
"""

from __future__ import annotations

from typing import Any

from .base import Candidate, Outcome, Policy
from .space import ParamCodec


class UniformDR(Policy):
    """Per-sample uniform randomization over the whole ``param_space``."""

    def __init__(self, *, param_space, nominal_params, seed: int) -> None:
        super().__init__(param_space=param_space, nominal_params=nominal_params, seed=seed)
        self._ranges = ParamCodec(param_space).full_ranges()

    def ask(self, n: int = 1) -> list[Candidate]:
        return [
            Candidate(id=self._new_id(), params=dict(self.nominal_params), ranges=dict(self._ranges))
            for _ in range(n)
        ]

    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        pass  # uniform DR never adapts

    def state_dict(self) -> dict[str, Any]:
        return {"next_id": self._next_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._next_id = int(state["next_id"])
