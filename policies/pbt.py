"""``PBTPolicy``: Population Based Training over simulator parameters (Jaderberg et al. 2017, arXiv
1711.09846; Population Based Augmentation, Ho et al., ICML 2019; defaults as Ray Tune's
``PopulationBasedTraining``).

``population`` members each own a persistent learner (``members``; the executor keeps one learner
per member) and their own generation parameters. Training runs in *generations* of ``interval``
steps per member, asked round-robin over the members. Once every step of a generation is told
(a barrier, so the population is ranked on comparable, equally-trained models):

- **exploit**: the bottom ``quantile`` of the members, ranked by the validation score of their
  last step, each copy a member of the top ``quantile`` (drawn uniformly): its parameters, and its
  whole training state — the copier's first candidate of the next generation carries
  ``copy_from``, and the executor gives that member's learner the source's last told state;
- **explore**: the copied parameters are perturbed as PBT does: each continuous parameter is
  resampled uniformly over its bounds with probability ``resample_prob``, else multiplied by one of
  ``factors`` and clipped to its bounds; a discrete one is resampled with ``resample_prob``, else
  moved to a neighbouring category.

A member that only gets the chance to exploit when its source is strictly better: ties keep their
own model. Copiers' first steps are asked before every other step of the new generation, so no
source has trained past the generation's end when its state is copied.

Members start at ``enqueue`` (the loop passes nominal and, for a simulator that declares ranges,
uniform DR), the rest uniformly over ``param_space``. ``lineage`` (who copied whom, in which
generation) and ``schedule`` (every member's parameters and score per generation) are reported in
``summary.json``. The delivered model (``deliver``) is by default the best state any member reached,
chosen on validation as a persistent learner's is (``best_state``), or the member with the best
validation score at the end (``best_member``). Under ``objective.score: realism`` the default is
``best_member``: realism compares data, and states trained for different lengths are not comparable
on it (an undertrained network's features make synthetic and real inputs look alike).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from gymnasium import spaces

from .base import Candidate, Direction, Outcome, Policy
from .space import ParamCodec

DELIVER = ("best_state", "best_member")  # what a population delivers: see PBTPolicy's docstring


class PBTPolicy(Policy):
    """Population Based Training of persistent learners over generation parameters.

    Options (all via ``config.policy.options``):
      population: members, each a persistent learner with its own parameters (at least 2).
      interval: steps each member trains between two exploit/explore rounds (a generation).
      quantile: fraction of the population that copies (bottom) and is copied (top).
      resample_prob: probability that explore resamples a parameter instead of perturbing it.
      factors: multipliers explore draws from for a continuous parameter (clipped to its bounds).
      deliver: ``best_state`` (the state with the best validation score any member reached) or
        ``best_member`` (the latest state of the member with the best validation score at the end).
    """

    learner_mode = "persistent"
    members_option = "population"  # the option that sets ``members`` (named when the actors do not fit)
    loop_options = frozenset({"enqueue"})

    @classmethod
    def default_options(cls, config: Any) -> dict[str, Any]:
        from ..objectives import latest_state_only  # here: it imports torch, which start-up does not need

        # realism ranks members at equal training only: the latest states, never an early best
        return {"deliver": "best_member"} if latest_state_only(config.objective.score) else {}

    @classmethod
    def loop_kwargs(cls, *, env: Any, config: Any, run_dir: Any) -> dict[str, Any]:
        from ..envs import starting_points

        # members start at nominal and, where ranges are declared, at uniform DR
        return {"enqueue": starting_points(env.param_space, env.nominal_params, getattr(env, "ranges", {}))}

    def __init__(
        self,
        *,
        param_space: spaces.Dict,
        nominal_params: dict[str, Any],
        seed: int,
        direction: Direction = "maximize",
        population: int = 4,
        interval: int = 5,
        quantile: float = 0.25,
        resample_prob: float = 0.25,
        factors: list[float] | None = None,
        enqueue: list[dict[str, Any]] | None = None,
        deliver: str = "best_state",
    ) -> None:
        super().__init__(param_space=param_space, nominal_params=nominal_params, seed=seed, direction=direction)
        if population < 2:
            raise ValueError(f"population must be at least 2 (one member is a persistent learner), got {population}")
        if interval < 1:
            raise ValueError(f"interval must be at least 1 step, got {interval}")
        if not 0.0 < quantile <= 0.5:
            raise ValueError(f"quantile must be in (0, 0.5], got {quantile}")
        if not 0.0 <= resample_prob <= 1.0:
            raise ValueError(f"resample_prob must be in [0, 1], got {resample_prob}")
        if deliver not in DELIVER:
            raise ValueError(f"deliver must be one of {', '.join(DELIVER)}, got {deliver!r}")
        factors = [1.2, 0.8] if factors is None else [float(f) for f in factors]
        if not factors or any(not f > 0 for f in factors):
            raise ValueError(f"factors must be positive multipliers, got {factors}")
        self.members = int(population)
        self.interval = int(interval)
        self.quantile = float(quantile)
        self.resample_prob = float(resample_prob)
        self.factors = factors
        self.deliver = deliver
        self._codec = ParamCodec(param_space)
        self._rng = np.random.default_rng(seed)

        starts = [dict(self.nominal_params)] if enqueue is None else [{**self.nominal_params, **p} for p in enqueue]
        self._params: list[dict[str, Any]] = [
            starts[m] if m < len(starts) else {**self.nominal_params, **self._codec.sample_uniform(self._rng)}
            for m in range(self.members)]
        self._generation = 0
        self._order = list(range(self.members))  # the order of each round of the generation's asks
        self._asked = 0  # candidates asked in this generation (of members × interval)
        self._told = 0
        self._copy: dict[int, int] = {}  # member -> source, carried by its next candidate
        self._last: dict[int, tuple[int, float | None]] = {}  # this generation: member -> (step, score)
        self._latest: list[float | None] = [None] * self.members  # every member's latest told score
        self.lineage: list[dict[str, Any]] = []
        self.schedule: list[dict[str, Any]] = []

    # -- asking -----------------------------------------------------------------------------
    def ask(self, n: int = 1) -> list[Candidate]:
        """Up to ``n`` steps of the current generation; fewer (none) once all of them are out: the
        next generation starts when the last of them is told."""
        out = []
        while len(out) < n and self._asked < self.members * self.interval:
            step, member = divmod(self._asked, self.members)
            member = self._order[member]
            copy_from = self._copy.pop(member, None) if step == 0 else None
            out.append(Candidate(id=self._new_id(), params=dict(self._params[member]), member=member,
                                 copy_from=copy_from, info={"generation": self._generation, "step": step}))
            self._asked += 1
        return out

    # -- learning ---------------------------------------------------------------------------
    def tell(self, candidate: Candidate, outcome: Outcome) -> None:
        if candidate.member is None or candidate.info.get("generation") != self._generation:
            return  # not one of this generation's steps (cannot happen in a loop run)
        member, step = int(candidate.member), int(candidate.info.get("step", 0))
        score = outcome.score if outcome.ok and outcome.score is not None and math.isfinite(outcome.score) else None
        self._latest[member] = score
        if member not in self._last or step >= self._last[member][0]:
            self._last[member] = (step, score)
        self._told += 1
        if self._told >= self.members * self.interval:
            self._evolve()

    def _evolve(self) -> None:
        """The generation is over: record it, then exploit and explore."""
        scores = [self._last.get(m, (0, None))[1] for m in range(self.members)]
        for m in range(self.members):
            self.schedule.append({"generation": self._generation, "member": m, "params": dict(self._params[m]),
                                  "score": scores[m]})
        key = [(-math.inf if s is None else self.utility(s)) for s in scores]
        ranked = sorted(range(self.members), key=lambda m: (-key[m], m))
        q = min(self.members // 2, max(1, math.ceil(self.members * self.quantile)))
        top, bottom = ranked[:q], ranked[-q:]
        copiers = []
        for member in sorted(bottom):
            source = top[int(self._rng.integers(len(top)))]
            if not key[source] > key[member]:
                continue  # not strictly better: keep its own model
            self._params[member] = self._explore(self._params[source])
            self._copy[member] = source
            copiers.append(member)
            self.lineage.append({"generation": self._generation + 1, "member": member, "copied_from": source,
                                 "member_score": scores[member], "source_score": scores[source],
                                 "params": dict(self._params[member])})
        self._order = copiers + [m for m in range(self.members) if m not in copiers]
        self._generation += 1
        self._asked = self._told = 0
        self._last = {}

    def _explore(self, params: dict[str, Any]) -> dict[str, Any]:
        out = dict(params)
        for name, low, high in self._codec.continuous:
            if self._rng.uniform() < self.resample_prob:
                value = self._rng.uniform(low, high)
            else:
                value = float(params[name]) * self.factors[int(self._rng.integers(len(self.factors)))]
            out[name] = float(min(max(value, low), high))
        for name, start, n in self._codec.discrete:
            if self._rng.uniform() < self.resample_prob:
                out[name] = int(start + self._rng.integers(n))
            else:
                shift = 1 if self._rng.uniform() < 0.5 else -1
                out[name] = int(min(max(int(params[name]) + shift, start), start + n - 1))
        return out

    # -- reporting --------------------------------------------------------------------------
    def best_member(self) -> int | None:
        """The member with the best latest validation score (None before any succeeded)."""
        scored = [(self.utility(s), -m) for m, s in enumerate(self._latest) if s is not None]
        return -max(scored)[1] if scored else None

    def report(self) -> dict[str, Any]:
        """The population's part of ``summary.json``: options, members, lineage and the schedule
        (the running generation's entries carry the latest scores told so far)."""
        running = [{"generation": self._generation, "member": m, "params": dict(self._params[m]),
                    "score": self._last[m][1] if m in self._last else None}
                   for m in range(self.members) if m in self._last]
        return {
            "population": self.members, "interval": self.interval, "quantile": self.quantile,
            "resample_prob": self.resample_prob, "factors": list(self.factors), "deliver": self.deliver,
            "generations": self._generation,
            "members": [{"member": m, "params": dict(self._params[m]), "latest_score": self._latest[m],
                         "copies": sum(1 for e in self.lineage if e["member"] == m)} for m in range(self.members)],
            "lineage": [dict(e) for e in self.lineage],
            "schedule": [dict(e) for e in self.schedule] + running,
        }

    # -- persistence ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "next_id": self._next_id, "rng": self._rng.bit_generator.state, "params": [dict(p) for p in self._params],
            "generation": self._generation, "order": list(self._order), "asked": self._asked, "told": self._told,
            "copy": {str(m): s for m, s in self._copy.items()},
            "last": {str(m): [step, score] for m, (step, score) in self._last.items()},
            "latest": list(self._latest), "lineage": [dict(e) for e in self.lineage],
            "schedule": [dict(e) for e in self.schedule],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._next_id = int(state["next_id"])
        self._rng.bit_generator.state = state["rng"]
        self._params = [dict(p) for p in state["params"]]
        self._generation, self._order = int(state["generation"]), [int(m) for m in state["order"]]
        self._asked, self._told = int(state["asked"]), int(state["told"])
        self._copy = {int(m): int(s) for m, s in state["copy"].items()}
        self._last = {int(m): (int(step), score) for m, (step, score) in state["last"].items()}
        self._latest = list(state["latest"])
        self.lineage = [dict(e) for e in state["lineage"]]
        self.schedule = [dict(e) for e in state["schedule"]]
