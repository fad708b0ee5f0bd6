"""``FifoScheduler``: one job per candidate at one fidelity, first in first out, while the budget lasts."""

from __future__ import annotations

from ..policies import Policy
from ..types import Fidelity, Job, Result
from .base import Budget, Scheduler


class FifoScheduler(Scheduler):
    """Asks the policy for one candidate per free slot; every result is told as it comes."""

    def __init__(self, policy: Policy, fidelity: Fidelity, budget: Budget, kind: str = "evaluate") -> None:
        self.policy = policy
        self.fidelity = fidelity
        self.budget = budget
        self.kind = kind
        self.queue: list[Job] = []

    def next_jobs(self, free: int, in_flight: list[Job]) -> list[Job]:
        jobs: list[Job] = []
        cost = self.fidelity.train_samples
        while len(jobs) < free and (self.queue or self.budget.allows(in_flight + jobs, cost)):
            if self.queue:
                jobs.append(self.queue.pop(0))
            else:
                asked = self.policy.ask(1)
                if not asked:  # a population waits for its generation's outcomes
                    break
                candidate = asked[0]
                jobs.append(Job(candidate, self.fidelity, seed_id=candidate.id, kind=self.kind,
                                member=candidate.member or 0, copy_from=candidate.copy_from))
        return jobs

    def tell(self, result: Result) -> None:
        self.policy.tell(result.job.candidate, result.outcome)
