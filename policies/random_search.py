"""``RandomSearch``: independent uniform draws of one parameter vector per candidate."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Candidate, Outcome, Policy
from .space import ParamCodec


class RandomSearch(Policy):
    """Each candidate is one point drawn uniformly from ``param_space``; never adapts."""

    multi_objective = True  # it learns nothing, so it serves a Pareto search as well as a single score

    def __init__(self, *, param_space, nominal_params, seed: int, direction: str = "maximize") -> None:
        super().__init__(param_space=param_space, nominal_params=nominal_params, seed=seed, direction=direction)
        self._codec = ParamCodec(param_space)
        self._rng = np.random.default_rng(seed)

    def ask(self, n: int = 1) -> list[Candidate]:
        return [Candidate(id=self._new_id(), params=self._codec.sample_uniform(self._rng)) for _ in range(n)]

    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        pass  # random search does not learn

    def state_dict(self) -> dict[str, Any]:
        return {"next_id": self._next_id, "rng": self._rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._next_id = int(state["next_id"])
        self._rng.bit_generator.state = state["rng"]
