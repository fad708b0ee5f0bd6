"""``AdversarialPolicy``: VADRA, adversarial domain randomization (Khirodkar, Yoo & Kitani, arXiv 1812.00491).

Uniform domain randomization spends most samples on cases the learner already handles. VADRA puts a
policy over *quantized* simulator parameters: each continuous parameter's range is cut into ``bins``
equal intervals, and a factorized categorical (one set of logits per parameter; discrete parameters
use their categories directly) picks one interval per parameter. The generator then draws every
sample uniformly inside the chosen intervals. One learner trains on continuously (``persistent``);
the policy's reward is the learner's loss on the candidate's fresh batch *before* training on it,
so batches the learner finds hard score high, and the learner then trains on exactly those.

Two guards keep the adversary from collapsing onto one degenerate corner of the space:
an entropy bonus in the REINFORCE objective, and a share ``uniform_share`` of candidates whose
bins are drawn uniformly (``info["uniform"] = True``). All samples — policy and uniform — enter the
update, importance-weighted by π(a)/q(a), where q = (1 − u)·π + u·uniform is the distribution that
really produced them; the weight is at most 1/(1 − u), so it never explodes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from torch.distributions import Categorical

from .base import Candidate, Direction, Outcome, Policy
from ..optimizer_state import adam_state_from_json, adam_state_to_json
from .space import ParamCodec


class AdversarialPolicy(Policy):
    """VADRA: REINFORCE over binned parameters, rewarded by the learner's loss on the fresh batch.

    Options (all via ``config.policy.options``):
      bins: intervals per continuous parameter.
      population: told outcomes per policy update.
      lr: Adam step size on the logits.
      baseline_decay: EMA decay of the reward baseline (it starts at the first batch's mean).
      entropy_coef: weight of the policy-entropy bonus.
      uniform_share: probability that a candidate's bins are drawn uniformly instead of from π.
    """

    learner_mode = "persistent"
    signal = "train_loss"  # the learner's loss on each fresh batch, not the fed-back score

    def __init__(
        self,
        *,
        param_space: spaces.Dict,
        nominal_params: dict[str, Any],
        seed: int,
        direction: Direction = "maximize",
        bins: int = 5,
        population: int = 4,
        lr: float = 0.05,
        baseline_decay: float = 0.9,
        entropy_coef: float = 0.01,
        uniform_share: float = 0.2,
    ) -> None:
        super().__init__(param_space=param_space, nominal_params=nominal_params, seed=seed, direction=direction)
        if bins < 1 or population < 1:
            raise ValueError(f"bins and population must be at least 1, got bins={bins}, population={population}")
        if not 0.0 <= baseline_decay < 1.0:
            raise ValueError(f"baseline_decay must be in [0, 1), got {baseline_decay}")
        if not 0.0 <= uniform_share < 1.0:
            raise ValueError(f"uniform_share must be in [0, 1), got {uniform_share}")
        self.bins = int(bins)
        self.population = int(population)
        self.baseline_decay = float(baseline_decay)
        self.entropy_coef = float(entropy_coef)
        self.uniform_share = float(uniform_share)
        self._codec = ParamCodec(param_space)
        self._rng = np.random.default_rng(seed)

        # One factor per parameter, continuous ones first (the codec's order): name and choice count.
        self._factors = [(name, self.bins) for name, _, _ in self._codec.continuous]
        self._factors += [(name, n) for name, _, n in self._codec.discrete]
        self._logits = [torch.zeros(n, dtype=torch.float64, requires_grad=True) for _, n in self._factors]
        self._optimizer = torch.optim.Adam(self._logits, lr=lr)
        # log of the uniform distribution's probability of any one joint choice
        self._log_uniform = -sum(math.log(n) for _, n in self._factors)

        self._baseline: float | None = None
        self._told: list[dict[str, Any]] = []  # outcomes with a loss, waiting for the next update
        self.iterations = 0

    # -- asking -----------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Candidate]:
        return [self._sample() for _ in range(n)]

    def _sample(self) -> Candidate:
        uniform = bool(self._rng.uniform() < self.uniform_share)
        if uniform:
            choices = [int(self._rng.integers(n)) for _, n in self._factors]
        else:
            choices = [int(self._rng.choice(len(p), p=p)) for p in self._probs()]
        params, ranges = dict(self.nominal_params), {}
        for (name, low, high), j in zip(self._codec.continuous, choices):
            width = (high - low) / self.bins
            lo, hi = low + j * width, (low + (j + 1) * width if j + 1 < self.bins else high)
            ranges[name] = [float(lo), float(hi)]
            params[name] = float((lo + hi) / 2)  # the bin centre: a representative value inside the space
        for (name, start, _), j in zip(self._codec.discrete, choices[self._codec.n_continuous :]):
            params[name] = int(start + j)
        info = {"bins": choices, "uniform": uniform, "iteration": self.iterations}
        return Candidate(id=self._new_id(), params=params, ranges=ranges or None, info=info)

    def _probs(self) -> list[np.ndarray]:
        with torch.no_grad():
            probs = [torch.softmax(logits.detach(), 0).numpy() for logits in self._logits]
        return [p / p.sum() for p in probs]

    # -- learning ---------------------------------------------------------------------------
    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        # The reward is the learner's loss before training on the batch, not the validation score.
        if not outcome.ok or outcome.train_loss is None or not math.isfinite(outcome.train_loss):
            return
        choices = candidate.info.get("bins")
        if choices is None:
            raise KeyError(f"candidate {candidate.id} has no info['bins']: it was not asked by this policy")
        self._told.append({"bins": list(choices), "reward": float(outcome.train_loss)})
        while len(self._told) >= self.population:
            batch, self._told = self._told[: self.population], self._told[self.population :]
            self._update(batch)

    def _update(self, batch: list[dict[str, Any]]) -> None:
        rewards = np.array([item["reward"] for item in batch])
        if self._baseline is None:
            self._baseline = float(rewards.mean())
        advantages = torch.tensor(rewards - self._baseline, dtype=torch.float64)
        log_prob = torch.zeros(len(batch), dtype=torch.float64)
        for j, logits in enumerate(self._logits):
            chosen = torch.tensor([item["bins"][j] for item in batch])
            log_prob = log_prob + Categorical(logits=logits).log_prob(chosen)
        # Importance weight π(a)/q(a) towards the mixture q that produced the samples (≤ 1/(1 − u)).
        weights = torch.ones_like(log_prob)
        if self.uniform_share > 0:
            log_pi = log_prob.detach()
            log_q = torch.logaddexp(math.log1p(-self.uniform_share) + log_pi,
                                    torch.full_like(log_pi, math.log(self.uniform_share) + self._log_uniform))
            weights = (log_pi - log_q).exp()
        entropy = torch.zeros((), dtype=torch.float64)
        for logits in self._logits:
            entropy = entropy + Categorical(logits=logits).entropy()
        loss = -(weights * advantages * log_prob).mean() - self.entropy_coef * entropy
        self._optimizer.zero_grad()
        loss.backward()
        self._optimizer.step()
        self._baseline = self.baseline_decay * self._baseline + (1.0 - self.baseline_decay) * float(rewards.mean())
        self.iterations += 1

    # -- reporting --------------------------------------------------------------------------
    def probabilities(self) -> dict[str, list[float]]:
        """Each parameter's current bin (continuous) or category (discrete) probabilities."""
        return {name: [float(v) for v in p] for (name, _), p in zip(self._factors, self._probs())}

    def entropy(self) -> float:
        """Entropy of the (factorized) policy, in nats; log(bins) per parameter when uniform."""
        with torch.no_grad():
            return float(sum(float(Categorical(logits=logits).entropy()) for logits in self._logits))

    # -- persistence ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "next_id": self._next_id,
            "rng": self._rng.bit_generator.state,
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
            for logits, saved in zip(self._logits, state["logits"]):
                logits.copy_(torch.tensor(saved, dtype=torch.float64))
        adam_state_from_json(self._optimizer, state["optimizer"])
        self._baseline = None if state["baseline"] is None else float(state["baseline"])
        self._told = [dict(item) for item in state["told"]]
        self.iterations = int(state["iterations"])
