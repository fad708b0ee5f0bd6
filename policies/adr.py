"""``ADRPolicy``: Automatic Domain Randomization (OpenAI et al. 2019, "Solving Rubik's Cube with a
Robot Hand", arXiv 1910.07113; boundary sampling and buffers as in NVIDIA IsaacGymEnvs' ADR).

Every continuous parameter is randomized per sample, uniformly on [low, high], starting in a narrow
range around its nominal value. The learner (``persistent``) trains on while the ranges grow as it
copes with them:

- with probability ``boundary_prob`` a candidate pins one dimension (chosen uniformly) at one of its
  current boundaries (``ranges[name] = [b, b]``, ``info["boundary"] = [name, "low" | "high"]``);
  the other dimensions stay randomized over their current ranges;
- the learner's performance on pinned candidates (``metrics["fresh_accuracy"]``, the accuracy on the
  fresh batch before training on it; else ``score``) goes into that boundary's buffer;
- once a buffer holds ``buffer_size`` entries: mean ≥ ``t_high`` widens that side by ``delta``
  (clipped to the parameter's bounds), mean < ``t_low`` narrows it (never inside the initial
  range); the buffer is cleared either way.

Progress is the entropy of the randomization distribution, Σ_dims log(high − low) in normalized
units (``entropy()``, also on every candidate as ``info["adr_entropy"]``).

Discrete parameters stay at their nominal values: ADR's boundary logic is defined for intervals,
and a policy that should randomize categories can use ``UniformDR`` or ``AdversarialPolicy``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from .base import Candidate, Direction, Outcome, Policy
from .space import ParamCodec

MIN_WIDTH = 1e-4  # entropy floor for a zero-width range (log 0 is −∞), in normalized units
SIDES = ("low", "high")


class ADRPolicy(Policy):
    """Automatic Domain Randomization: per-parameter uniform ranges that widen where the learner copes.

    Options (all via ``config.policy.options``; widths are fractions of each parameter's full range):
      init_width: width of the initial range around nominal (clipped to the bounds).
      boundary_prob: probability that a candidate pins one dimension at a boundary.
      buffer_size: performances per boundary before a widen/narrow decision.
      t_high: buffer mean at which that side widens: at or above it (a maximized score), at or below it
        (a minimized one, e.g. an error), in the score's units.
      t_low: buffer mean past which that side narrows (never inside the initial range): below it
        (maximized), above it (minimized). ``t_high`` must be the better of the two in the score's direction.
      delta: step by which a side widens or narrows.
    """

    learner_mode = "persistent"
    signal = "fresh_score"  # the learner's score on each fresh synthetic batch, not the fed-back score

    def __init__(
        self,
        *,
        param_space: spaces.Dict,
        nominal_params: dict[str, Any],
        seed: int,
        direction: Direction = "maximize",
        init_width: float = 0.1,
        boundary_prob: float = 0.5,
        buffer_size: int = 8,
        t_high: float = 0.8,
        t_low: float = 0.5,
        delta: float = 0.05,
    ) -> None:
        super().__init__(param_space=param_space, nominal_params=nominal_params, seed=seed, direction=direction)
        if not 0.0 <= init_width <= 1.0 or not 0.0 < delta <= 1.0:
            raise ValueError(f"need init_width in [0, 1] and delta in (0, 1], got {init_width}, {delta}")
        if not 0.0 <= boundary_prob <= 1.0:
            raise ValueError(f"boundary_prob must be in [0, 1], got {boundary_prob}")
        if buffer_size < 1:
            raise ValueError(f"buffer_size must be at least 1, got {buffer_size}")
        if self.utility(t_low) > self.utility(t_high):  # t_high is the better of the two in the score's direction
            where = "above" if direction == "maximize" else "below"
            raise ValueError(f"t_low {t_low} is {where} t_high {t_high}; for a {direction}d score t_high must be the "
                             "better threshold (both are in the score's units: set both for this task)")
        self.boundary_prob = float(boundary_prob)
        self.buffer_size = int(buffer_size)
        self.t_high, self.t_low, self.delta = float(t_high), float(t_low), float(delta)
        self._codec = ParamCodec(param_space)
        self._rng = np.random.default_rng(seed)

        # Ranges in normalized [0, 1] units, one entry per continuous parameter (codec order).
        unit, _ = self._codec.encode(self.nominal_params)
        unit = np.clip(unit, 0.0, 1.0)
        self._init_low = [float(max(0.0, u - init_width / 2)) for u in unit]
        self._init_high = [float(min(1.0, u + init_width / 2)) for u in unit]
        self._low, self._high = list(self._init_low), list(self._init_high)
        self._buffers: dict[str, dict[str, list[float]]] = {
            name: {side: [] for side in SIDES} for name, _, _ in self._codec.continuous
        }
        self._index = {name: i for i, (name, _, _) in enumerate(self._codec.continuous)}

    # -- asking -----------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Candidate]:
        return [self._sample() for _ in range(n)]

    def _sample(self) -> Candidate:
        params, ranges = dict(self.nominal_params), self.current_ranges()
        info: dict[str, Any] = {"adr_entropy": self.entropy()}
        if ranges and self._rng.uniform() < self.boundary_prob:
            name, _, _ = self._codec.continuous[int(self._rng.integers(self._codec.n_continuous))]
            side = SIDES[int(self._rng.integers(2))]
            value = ranges[name][SIDES.index(side)]
            ranges[name] = [value, value]
            params[name] = value
            info["boundary"] = [name, side]
        return Candidate(id=self._new_id(), params=params, ranges=ranges or None, info=info)

    # -- learning ---------------------------------------------------------------------------
    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        boundary = candidate.info.get("boundary")
        if boundary is None or not outcome.ok:
            return  # only boundary samples measure whether a range can grow
        # the score on the fresh batch before training on it (older learners named it fresh_accuracy)
        performance = outcome.metrics.get("fresh_score", outcome.metrics.get("fresh_accuracy", outcome.score))
        if performance is None or not math.isfinite(performance):
            return
        name, side = boundary
        buffer = self._buffers[name][side]
        buffer.append(float(performance))
        if len(buffer) < self.buffer_size:
            return
        mean = float(np.mean(buffer))
        buffer.clear()
        i = self._index[name]
        if self.utility(mean) >= self.utility(self.t_high):  # the learner copes at this edge: push it outwards
            if side == "low":
                self._low[i] = max(0.0, self._low[i] - self.delta)
            else:
                self._high[i] = min(1.0, self._high[i] + self.delta)
        elif self.utility(mean) < self.utility(self.t_low):  # too hard: pull it back, never inside the initial range
            if side == "low":
                self._low[i] = min(self._init_low[i], self._low[i] + self.delta)
            else:
                self._high[i] = max(self._init_high[i], self._high[i] - self.delta)

    # -- reporting --------------------------------------------------------------------------
    def current_ranges(self) -> dict[str, list[float]]:
        """Each continuous parameter's current randomization range, in the simulator's units."""
        return {
            name: [float(low + lo * (high - low)), float(low + hi * (high - low))]
            for (name, low, high), lo, hi in zip(self._codec.continuous, self._low, self._high)
        }

    def entropy(self) -> float:
        """Entropy of the randomization distribution: Σ log(high − low) in normalized units."""
        return float(sum(math.log(max(hi - lo, MIN_WIDTH)) for lo, hi in zip(self._low, self._high)))

    # -- persistence ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "next_id": self._next_id,
            "rng": self._rng.bit_generator.state,
            "low": list(self._low),
            "high": list(self._high),
            "buffers": {name: {side: list(b) for side, b in sides.items()} for name, sides in self._buffers.items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._next_id = int(state["next_id"])
        self._rng.bit_generator.state = state["rng"]
        self._low = [float(v) for v in state["low"]]
        self._high = [float(v) for v in state["high"]]
        self._buffers = {
            name: {side: [float(v) for v in b] for side, b in sides.items()} for name, sides in state["buffers"].items()
        }
