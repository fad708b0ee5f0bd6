"""``RacingScheduler``: each candidate is trained ``repeats`` times at full fidelity, each time with
another data and learner seed, and scored by its mean (``search.repeats``).

One evaluation of a candidate is noisy (about ±0.015 on the digits), as large as the differences
between good candidates, so the best single score is partly luck. Racing makes the search's
objective the mean over seeds, and stops spending on a candidate once it is clearly worse:

- seeds are *common* to all candidates: repeat ``k`` of every candidate renders its data with the
  same seed and starts its learner from the same weights, so two candidates compared seed by seed
  differ by their parameters, not by their luck (a paired comparison);
- a policy that prunes (Optuna with ``WilcoxonPruner``) gets every repeat's score through
  ``Policy.report`` (``trial.report(score, step=k)``, the instance id) and says whether the candidate
  goes on: the Wilcoxon signed-rank test against the best candidate's scores on the same seeds.
  A candidate that finishes every repeat is told its mean;
- any other policy (REINFORCE, random search, ...) has every repeat run (in parallel where learners
  are free) and is told the mean once all are in; a failed repeat is told at once as a failure.
"""

from __future__ import annotations

from typing import Any

from .. import seeds
from ..policies import Policy
from ..types import Candidate, Fidelity, Job, Outcome, Result
from .base import Budget, Scheduler

RACE_SEED_ID = seeds.RACE  # repeat k's data stream is RACE_SEED_ID - k for every candidate (never a candidate's)
RACE_MODEL_SEED = seeds.RACE_MODEL_OFFSET  # repeat k's learner starts from learner.seed + RACE_MODEL_SEED + k


def race_job(candidate: Candidate, fidelity: Fidelity, k: int, learner_seed: int) -> Job:
    """Repeat ``k`` of ``candidate``: the same data seed and learner seed as every other candidate's."""
    return Job(candidate, fidelity, seed_id=seeds.race(k), model_seed=seeds.race_model(learner_seed, k),
               repeat=k)


class RacingScheduler(Scheduler):
    """Races every candidate over ``repeats`` common seeds; see the module docstring."""

    def __init__(self, policy: Policy, fidelity: Fidelity, repeats: int, budget: Budget, learner_seed: int) -> None:
        self.policy = policy
        self.fidelity = fidelity
        self.repeats = repeats
        self.budget = budget
        self.learner_seed = learner_seed
        self.queue: list[Job] = []
        self.scores: dict[int, dict[int, float | None]] = {}  # candidate id -> repeat -> score (None: failed)
        self.told: set[int] = set()  # candidates the policy has heard the end of (mean, failure or pruned)

    def next_jobs(self, free: int, in_flight: list[Job]) -> list[Job]:
        jobs: list[Job] = []
        cost = self.fidelity.train_samples
        while len(jobs) < free:
            if self.queue:  # the candidates in the race go first (their seeds were budgeted on entry)
                jobs.append(self.queue.pop(0))
                continue
            # a new candidate enters only a race it can finish: room for all its seeds, beside every
            # seed still to come of the races under way
            seeds = self._outstanding(in_flight) + self.repeats
            if not self.budget.allows([], cost * seeds, jobs=seeds):
                break
            asked = self.policy.ask(1)
            if not asked:
                break
            candidate = asked[0]
            self.scores[candidate.id] = {}
            # a pruning policy decides after each repeat; any other runs every repeat at once
            later = [] if self.policy.supports_pruning else range(1, self.repeats)
            jobs.append(race_job(candidate, self.fidelity, 0, self.learner_seed))
            self.queue.extend(race_job(candidate, self.fidelity, k, self.learner_seed) for k in later)
        return jobs

    def _outstanding(self, in_flight: list[Job]) -> int:
        """Seeds not yet told back of every race under way (in flight, queued or still to ask), and
        seeds in flight of candidates already told (a failed one's siblings)."""
        racing = sum(self.repeats - len(scores) for cid, scores in self.scores.items() if cid not in self.told)
        return racing + sum(1 for job in in_flight if job.candidate.id in self.told)

    def tell(self, result: Result) -> None:
        job, outcome = result.job, result.outcome
        cid, k = job.candidate.id, job.repeat
        scores = self.scores.setdefault(cid, {})
        scores[k] = outcome.score if outcome.ok else None
        if cid in self.told:  # a later repeat of a candidate already failed: its result is only recorded
            return
        if not outcome.ok:
            self.told.add(cid)
            self.queue = [j for j in self.queue if j.candidate.id != cid]
            self.policy.tell(job.candidate, outcome)
            return
        if self.policy.supports_pruning:
            if not self.policy.report(job.candidate, k, outcome):  # pruned: the policy has recorded it so
                self.told.add(cid)
                return
            if k + 1 < self.repeats:
                self.queue.insert(0, race_job(job.candidate, self.fidelity, k + 1, self.learner_seed))
                return
        if len(scores) == self.repeats:
            self.told.add(cid)
            mean = sum(scores.values()) / self.repeats  # every score is in and ok: a failure was told above
            self.policy.tell(job.candidate, Outcome(mean, samples=outcome.samples, train_samples=outcome.train_samples))

    def state_dict(self, in_flight: list[Job]) -> dict[str, Any]:
        return {**super().state_dict(in_flight),
                "scores": {str(c): {str(k): s for k, s in by.items()} for c, by in self.scores.items()},
                "told": sorted(self.told)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.scores = {int(c): {int(k): s for k, s in by.items()} for c, by in state["scores"].items()}
        self.told = set(state["told"])
