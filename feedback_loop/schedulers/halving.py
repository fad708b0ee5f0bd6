"""``HalvingScheduler``: asynchronous successive halving (ASHA) over fidelity (samples × epochs).

Every new candidate is evaluated on the cheapest rung; the best ``1/eta`` of each rung move up to
``eta`` times the training sample visits, up to the search's full fidelity. Who decides a promotion:

- a policy that prunes (``Policy.supports_pruning``: Optuna with its ``SuccessiveHalvingPruner``,
  ``HyperbandPruner``, ...) gets every rung's result through ``Policy.report`` (``trial.report``) and
  says at once whether the candidate goes on; a candidate that reaches the top rung is told complete;
- for any other policy (REINFORCE, random search, ...) the first rung's result is told to the policy
  (one fidelity, so rewards compare) and ASHA's rule promotes: whenever a slot is free, the best
  not-yet-promoted candidate in the top ``1/eta`` of its rung goes up, highest rung first.
"""

from __future__ import annotations

import math
from typing import Any

from ..policies import Policy
from ..types import Candidate, Fidelity, Job, Objective, Result
from .base import Budget, Scheduler


def rung_fidelities(top: Fidelity, rungs: int, eta: int) -> list[Fidelity]:
    """``rungs`` fidelities, the last one ``top``, each ``eta`` times the training sample visits of the
    one below (the factor split evenly between samples and epochs)."""
    ladder = []
    for r in range(rungs):
        shrink = math.sqrt(eta ** (rungs - 1 - r))
        ladder.append(Fidelity(max(1, round(top.samples / shrink)), max(1, round(top.epochs / shrink))))
    return ladder


class HalvingScheduler(Scheduler):
    """ASHA over ``rungs`` (cheapest first); see the module docstring."""

    def __init__(self, policy: Policy, rungs: list[Fidelity], eta: int, budget: Budget,
                 objective: Objective | None = None) -> None:
        self.policy = policy
        self.objective = objective or Objective()  # which scores are promoted: the best in its direction
        self.rungs = rungs
        self.eta = eta
        self.budget = budget
        self.queue: list[Job] = []
        self.scores: dict[int, dict[int, float | None]] = {}  # candidate id -> rung -> score (None: failed)
        self.candidates: dict[int, Candidate] = {}
        self.promoted: set[tuple[int, int]] = set()  # (candidate id, rung) already submitted above rung 0
        self.ready: list[int] = []  # candidates their policy said go on

    @property
    def top(self) -> int:
        return len(self.rungs) - 1

    def step_of(self, rung: int) -> int:
        """The resource index a pruner sees for ``rung``: 1, eta, eta², ..."""
        return self.eta ** rung

    # -- handing out jobs -------------------------------------------------------------------------
    def next_jobs(self, free: int, in_flight: list[Job]) -> list[Job]:
        jobs: list[Job] = []
        while len(jobs) < free:
            if self.queue:
                jobs.append(self.queue.pop(0))
                continue
            promotion = self._promotion()
            rung = promotion[1] if promotion else 0
            if not self.budget.allows(in_flight + jobs, self.rungs[rung].train_samples):
                break
            if promotion:
                cid = promotion[0]
                if cid in self.ready:
                    self.ready.remove(cid)
                self.promoted.add((cid, rung))
                candidate = self.candidates[cid]
            else:
                candidate = self.policy.ask(1)[0]
                self.candidates[candidate.id] = candidate
            jobs.append(Job(candidate, self.rungs[rung], seed_id=candidate.id, rung=rung))
        return jobs

    def _promotion(self) -> tuple[int, int] | None:
        """The next (candidate id, rung) to promote to, if any (nothing is changed)."""
        for cid in self.ready:
            return cid, max(self.scores[cid]) + 1
        if self.policy.supports_pruning:
            return None
        for rung in range(self.top - 1, -1, -1):  # ASHA: the highest rung with a promotable candidate
            results = [(self.objective.utility(score), cid) for cid, by_rung in self.scores.items()
                       if (score := by_rung.get(rung)) is not None]
            for _, cid in sorted(results, reverse=True)[: len(self._at(rung)) // self.eta]:
                if (cid, rung + 1) not in self.promoted:
                    return cid, rung + 1
        return None

    def _at(self, rung: int) -> list[int]:
        return [cid for cid, by_rung in self.scores.items() if rung in by_rung]

    # -- taking results back ----------------------------------------------------------------------
    def tell(self, result: Result) -> None:
        job, outcome = result.job, result.outcome
        cid, rung = job.candidate.id, job.rung
        self.candidates.setdefault(cid, job.candidate)
        self.scores.setdefault(cid, {})[rung] = outcome.score if outcome.ok else None
        if not self.policy.supports_pruning:
            if rung == 0:
                self.policy.tell(job.candidate, outcome)
            return
        if rung == self.top or not outcome.ok:
            self.policy.tell(job.candidate, outcome)  # complete at full fidelity, or failed
        elif self.policy.report(job.candidate, self.step_of(rung), outcome):
            self.ready.append(cid)  # (else pruned: the policy has recorded it so)

    # -- persistence ------------------------------------------------------------------------------
    def state_dict(self, in_flight: list[Job]) -> dict[str, Any]:
        return {**super().state_dict(in_flight),
                "scores": {str(c): {str(r): s for r, s in by.items()} for c, by in self.scores.items()},
                "candidates": {str(c): cand.to_dict() for c, cand in self.candidates.items()},
                "promoted": sorted([list(p) for p in self.promoted]), "ready": list(self.ready)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.scores = {int(c): {int(r): s for r, s in by.items()} for c, by in state["scores"].items()}
        self.candidates = {int(c): Candidate.from_dict(d) for c, d in state["candidates"].items()}
        self.promoted = {tuple(p) for p in state["promoted"]}
        self.ready = list(state["ready"])
