"""Schedulers decide what to submit next and tell the policy what came back.

``FifoScheduler`` asks the policy for one candidate per free slot, first in first out, at one
fidelity, while the budget lasts. Successive halving (many cheap jobs, the best promoted to more
data and epochs) and populations plug in here, behind the same three calls: ``next_jobs``,
``tell`` and ``state_dict``/``load_state_dict`` (the jobs asked but not yet told).
"""

from __future__ import annotations

from typing import Any, Callable

from .config import BudgetConfig
from .ledger import Ledger
from .policies import Policy
from .types import Fidelity, Job, Result


class FifoScheduler:
    """One job per candidate, in the order asked; stops asking when the budget is spent."""

    def __init__(self, policy: Policy, fidelity: Fidelity, budget: BudgetConfig, ledger: Ledger,
                 elapsed: Callable[[], float], kind: str = "evaluate") -> None:
        self.policy = policy
        self.fidelity = fidelity
        self.budget = budget
        self.ledger = ledger
        self.elapsed = elapsed
        self.kind = kind
        self.queue: list[Job] = []  # asked before an interruption, not yet submitted

    def budget_left(self, in_flight: list[Job]) -> bool:
        """Whether one more job fits, counting the ones in flight as spent."""
        budget = self.budget
        if budget.evaluations is not None and self.ledger.evaluations + len(in_flight) >= budget.evaluations:
            return False
        if budget.seconds is not None and self.elapsed() >= budget.seconds:
            return False
        return True

    def next_jobs(self, free: int, in_flight: list[Job]) -> list[Job]:
        """Up to ``free`` jobs to submit now: queued ones first, then new candidates."""
        jobs: list[Job] = []
        while len(jobs) < free and (self.queue or self.budget_left(in_flight + jobs)):
            if self.queue:
                jobs.append(self.queue.pop(0))
            else:
                candidate = self.policy.ask(1)[0]
                jobs.append(Job(candidate, self.fidelity, seed_id=candidate.id, kind=self.kind))
        return jobs

    def tell(self, result: Result) -> None:
        self.policy.tell(result.job.candidate, result.outcome)

    def requeue(self, jobs: list[Job]) -> None:
        """Jobs to submit before any new one (asked, never told: e.g. in flight at a stop)."""
        self.queue[:0] = jobs

    def state_dict(self, in_flight: list[Job]) -> dict[str, Any]:
        # what is in flight was taken from the queue's front (or asked while it was empty), so it
        # is older than anything left in the queue
        return {"pending": [job.to_dict() for job in in_flight + self.queue]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.queue = [Job.from_dict(job) for job in state["pending"]]
