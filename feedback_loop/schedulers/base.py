"""The scheduler contract, and the budget every scheduler spends.

A scheduler decides what the executor runs next and routes each result back: ``next_jobs`` hands
out up to ``free`` jobs, ``tell`` takes a finished one, ``requeue`` takes back jobs that were in
flight at a stop, and ``state_dict``/``load_state_dict`` carry what it has asked but not yet told.
"""

from __future__ import annotations

import abc
from typing import Any, Callable

from ..config import BudgetConfig
from ..ledger import Ledger
from ..types import Job, Result


class Budget:
    """What a run may still spend: evaluations, wall seconds and training sample visits.

    ``reserve`` is the part of ``train_samples`` kept for the stages after the search (re-scoring
    and the final model), so the search stops early enough for them.
    """

    def __init__(self, config: BudgetConfig, ledger: Ledger, elapsed: Callable[[], float], reserve: int = 0) -> None:
        self.config = config
        self.ledger = ledger
        self.elapsed = elapsed
        self.reserve = reserve

    def allows(self, in_flight: list[Job], cost: int = 0, jobs: int = 1) -> bool:
        """Whether ``jobs`` more jobs (one, unless told) of ``cost`` training sample visits in all still
        fit, counting what is in flight as spent."""
        cfg, ledger = self.config, self.ledger
        if cfg.evaluations is not None and ledger.evaluations + len(in_flight) + jobs > cfg.evaluations:
            return False
        if cfg.seconds is not None and self.elapsed() >= cfg.seconds:
            return False
        if cfg.train_samples is not None:
            planned = sum(j.fidelity.train_samples for j in in_flight) + cost
            if ledger.train_samples + planned + self.reserve > cfg.train_samples:
                return False
        return True


class Scheduler(abc.ABC):
    """Decides which jobs to submit next and tells the policy what came back."""

    queue: list[Job]

    @property
    def searching(self) -> bool:
        """Whether the search still runs (its results move the evaluation count); the stages after it
        (selection, the final model) say no."""
        return True

    @abc.abstractmethod
    def next_jobs(self, free: int, in_flight: list[Job]) -> list[Job]:
        """Up to ``free`` jobs to submit now (none: nothing more to do while these are in flight)."""

    @abc.abstractmethod
    def tell(self, result: Result) -> None:
        """A finished job of this scheduler."""

    def requeue(self, jobs: list[Job]) -> None:
        """Jobs to submit before any new one (asked, never told: e.g. in flight at a stop)."""
        self.queue[:0] = jobs

    def state_dict(self, in_flight: list[Job]) -> dict[str, Any]:
        # what is in flight was taken from the queue's front (or made while it was empty), so it is
        # older than anything left in the queue
        return {"pending": [job.to_dict() for job in in_flight + self.queue]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.queue = [Job.from_dict(job) for job in state["pending"]]
