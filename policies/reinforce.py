"""``ReinforcePolicy``: "Learning to Simulate" (Ruiz, Schulter & Chandraker, ICLR 2019, arXiv 1810.02513).

A policy πω(ψ) over the simulator parameters ψ — a diagonal Gaussian over the continuous ones (in
the normalized [0, 1] coordinates of ``ParamCodec``) and one categorical per discrete one. Each
iteration K parameter vectors are sampled, each trains a fresh learner (``per_candidate``), and its
validation score is the reward R_k. With an exponential moving average b of rewards,

    ω ← ω + η · (1/K) · Σ_k (R_k − b) ∇ω log πω(ψ_k)        (Adam as the step rule)

Candidates may be asked before the iteration's outcomes are all told (the loop keeps several in
flight): they are drawn from the current ω, and the update runs whenever K told outcomes have
piled up. The gradient is taken at the current ω (on-policy REINFORCE, slightly stale).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch.distributions import Categorical, Normal

from .base import Candidate, Direction, Outcome, Policy
from ..optimizer_state import adam_state_from_json, adam_state_to_json
from .space import ParamCodec


class ReinforcePolicy(Policy):
    """Learning to Simulate: REINFORCE on a Gaussian/categorical policy over the parameters.

    Options (all via ``config.policy.options``):
      population: K, told outcomes per policy update.
      lr: Adam step size on the policy parameters (mean, log-std, logits).
      baseline_decay: EMA decay of the reward baseline b (b starts at the first iteration's mean).
      init_std: initial standard deviation of the Gaussian, in normalized units.
      min_std, max_std: the range log-std is clamped to after every step.
    """

    learner_mode = "per_candidate"

    def __init__(
        self,
        *,
        param_space: spaces.Dict,
        nominal_params: dict[str, Any],
        seed: int,
        direction: Direction = "maximize",
        population: int = 8,
        lr: float = 0.05,
        baseline_decay: float = 0.9,
        init_std: float = 0.25,
        min_std: float = 0.01,
        max_std: float = 1.0,
    ) -> None:
        super().__init__(param_space=param_space, nominal_params=nominal_params, seed=seed, direction=direction)
        if population < 1:
            raise ValueError(f"population must be at least 1, got {population}")
        if not 0.0 <= baseline_decay < 1.0:
            raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay}")
        if not 0.0 < min_std <= init_std <= max_std:
            raise ValueError(f"need 0 < min_std <= init_std <= max_std, got {min_std}, {init_std}, {max_std}")
        self.population = int(population)
        self.baseline_decay = float(baseline_decay)
        self._log_std_range = (math.log(min_std), math.log(max_std))
        self._codec = ParamCodec(param_space)
        self._rng = np.random.default_rng(seed)

        # Policy parameters ω. float64: tiny tensors, and exact JSON round trips of every value.
        unit, _ = self._codec.encode(self.nominal_params)
        dims = self._codec.n_continuous
        self._mean = torch.tensor(np.clip(unit, 0.0, 1.0), dtype=torch.float64).reshape(dims).requires_grad_()
        self._log_std = torch.full((dims,), math.log(init_std), dtype=torch.float64, requires_grad=True)
        # Categories start uniform: the nominal category is a guess, not evidence.
        self._logits = [torch.zeros(n, dtype=torch.float64, requires_grad=True) for _, _, n in self._codec.discrete]
        self._optimizer = torch.optim.Adam([self._mean, self._log_std, *self._logits], lr=lr)

        self._baseline: float | None = None
        self._told: list[dict[str, Any]] = []  # ok outcomes waiting for the next update
        self.iterations = 0  # policy updates done so far

    # -- asking -----------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Candidate]:
        return [self._sample() for _ in range(n)]

    def _sample(self) -> Candidate:
        # Noise from a numpy Generator (its state is plain JSON); log-probs come from torch.distributions.
        with torch.no_grad():
            mean, std = self._mean.detach().numpy().copy(), self._log_std.exp().detach().numpy()
            probs = [torch.softmax(logits.detach(), 0).numpy() for logits in self._logits]
        raw = mean + std * self._rng.standard_normal(len(mean))
        categories = [int(self._rng.choice(len(p), p=p / p.sum())) for p in probs]
        # The unclipped draw is what the Gaussian produced (and what log π is taken of); only the
        # decoded parameters are clipped into the space.
        info = {"raw": [float(v) for v in raw], "categories": categories, "iteration": self.iterations}
        return Candidate(id=self._new_id(), params=self._codec.decode(raw, categories), info=info)

    # -- learning ---------------------------------------------------------------------------
    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        if not outcome.ok or outcome.score is None:
            return  # a failed evaluation says nothing about the parameters' quality
        raw, categories = candidate.info.get("raw"), candidate.info.get("categories")
        if raw is None or categories is None:  # not asked by this policy: use its (clipped) params
            unit, categories = self._codec.encode(candidate.params)
            raw = [float(v) for v in unit]
        self._told.append({"raw": list(raw), "categories": list(categories), "reward": self.utility(outcome.score)})
        while len(self._told) >= self.population:
            batch, self._told = self._told[: self.population], self._told[self.population :]
            self._update(batch)

    def _update(self, batch: list[dict[str, Any]]) -> None:
        rewards = np.array([item["reward"] for item in batch])
        if self._baseline is None:
            self._baseline = float(rewards.mean())
        advantages = torch.tensor(rewards - self._baseline, dtype=torch.float64)
        log_prob = self._log_prob(batch)
        loss = -(advantages * log_prob).mean()  # gradient ascent on (1/K) Σ A_k log π(ψ_k)
        self._optimizer.zero_grad()
        loss.backward()
        self._optimizer.step()
        with torch.no_grad():
            # Beyond [0, 1] every draw clips to the same boundary value and the gradient vanishes.
            self._mean.clamp_(0.0, 1.0)
            self._log_std.clamp_(*self._log_std_range)
        self._baseline = self.baseline_decay * self._baseline + (1.0 - self.baseline_decay) * float(rewards.mean())
        self.iterations += 1

    def _log_prob(self, batch: list[dict[str, Any]]) -> torch.Tensor:
        raw = torch.tensor([item["raw"] for item in batch], dtype=torch.float64).reshape(len(batch), -1)
        log_prob = Normal(self._mean, self._log_std.exp()).log_prob(raw).sum(dim=-1)
        for j, logits in enumerate(self._logits):
            chosen = torch.tensor([item["categories"][j] for item in batch])
            log_prob = log_prob + Categorical(logits=logits).log_prob(chosen)
        return log_prob

    # -- reporting --------------------------------------------------------------------------
    def mean_params(self) -> dict[str, Any]:
        """The policy's current centre: decoded Gaussian mean and most likely categories."""
        with torch.no_grad():
            categories = [int(torch.argmax(logits)) for logits in self._logits]
            return self._codec.decode(self._mean.detach().numpy().copy(), categories)

    def std(self) -> list[float]:
        """Current Gaussian standard deviations, in normalized units."""
        with torch.no_grad():
            return [float(v) for v in self._log_std.exp()]

    # -- persistence ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        with torch.no_grad():
            return {
                "next_id": self._next_id,
                "rng": self._rng.bit_generator.state,
                "mean": self._mean.tolist(),
                "log_std": self._log_std.tolist(),
                "logits": [logits.tolist() for logits in self._logits],
                "optimizer": adam_state_to_json(self._optimizer),
                "baseline": self._baseline,
                "told": [dict(item) for item in self._told],
                "iterations": self.iterations,
            }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._next_id = int(state["next_id"])
        self._rng.bit_generator.state = state["rng"]
        with torch.no_grad():
            self._mean.copy_(torch.tensor(state["mean"], dtype=torch.float64).reshape(self._mean.shape))
            self._log_std.copy_(torch.tensor(state["log_std"], dtype=torch.float64).reshape(self._log_std.shape))
            for logits, saved in zip(self._logits, state["logits"]):
                logits.copy_(torch.tensor(saved, dtype=torch.float64))
        adam_state_from_json(self._optimizer, state["optimizer"])
        self._baseline = None if state["baseline"] is None else float(state["baseline"])
        self._told = [dict(item) for item in state["told"]]
        self.iterations = int(state["iterations"])
