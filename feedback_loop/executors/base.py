"""The executor seam: where jobs run. The loop submits jobs and waits for results; it never knows
whether they run in Ray actors on a cluster or in this process.

Contract (``Executor``):
- ``start(states)``: bring up workers; a persistent executor's member ``m`` starts from ``states[m]`` (a
  resumed run) or from scratch (missing or None); per candidate there are no states.
- ``capacity``: how many jobs the executor wants in flight (so the next data renders while
  learners train).
- ``submit(job)``: queue a job; never blocks on its data or its training.
- ``wait(timeout)``: the results finished so far (possibly none). A persistent executor returns
  them in the order its learner trained them, and hides a learner's death: it restores the learner
  once to its last returned state and redoes the lost jobs in order. A persistent step goes to its
  ``Job.member``'s learner; with ``copy_from`` that learner first takes the last returned state of
  member ``copy_from``, and ``take_copies()`` hands such copied-in states to the checkpoint.
- ``in_flight()``: jobs submitted, not yet returned, oldest first (they go into the checkpoint).
- ``cancel()``: drop everything in flight and return those jobs (to be redone on resume).
- ``test_score(state)``: the task's test score of a persistent model state (None without a test set).
- ``close()``: release every worker.
"""

from __future__ import annotations

import abc
from typing import Any


from ..seeds import data_seed  # noqa: F401  (re-exported: executors render a job's data with it)
from ..types import Job, Result


class ResourceError(ValueError):
    """The actors ask for more than the Ray cluster has."""


class LearnerLostError(RuntimeError):
    """The persistent learner died more often than the config tolerates (the run stays resumable)."""


class RayLostError(RuntimeError):
    """The run's Ray went away under it (stopped or killed); the run stops, resumable."""


def shard_sizes(n: int, shards: int) -> list[int]:
    """``n`` samples split into at most ``shards`` near-equal shards."""
    shards = max(1, min(shards, n))
    return [n // shards + (1 if i < n % shards else 0) for i in range(shards)]


def job_shards(job: Job, shards: int) -> list[tuple[int, int]]:
    """``(shard index, size)`` of every shard a job's data is rendered in: ``fidelity.samples`` split
    into ``shards``; a ``fresh_epochs`` job renders that once per epoch, each epoch with shard indices
    of its own (so its own samples), in epoch order."""
    per_epoch = shard_sizes(job.fidelity.samples, shards)
    passes = job.fidelity.epochs if job.fresh_epochs else 1
    return [(epoch * len(per_epoch) + i, size) for epoch in range(passes) for i, size in enumerate(per_epoch)]


class Executor(abc.ABC):
    """Runs jobs: per candidate (a fresh model each) or persistent (one model trains on)."""

    persistent: bool = False

    @property
    @abc.abstractmethod
    def capacity(self) -> int:
        """Jobs wanted in flight."""

    @abc.abstractmethod
    def start(self, states: dict[int, dict[str, Any] | None] | None = None) -> None:
        """Bring up the workers (persistent member ``m`` from ``states[m]``, or fresh)."""

    @abc.abstractmethod
    def submit(self, job: Job) -> None:
        """Queue ``job``; returns at once."""

    @abc.abstractmethod
    def wait(self, timeout: float) -> list[Result]:
        """Results finished within ``timeout`` seconds (persistent: in training order)."""

    @abc.abstractmethod
    def in_flight(self) -> list[Job]:
        """Submitted, not yet returned, oldest first."""

    @abc.abstractmethod
    def cancel(self) -> list[Job]:
        """Drop every job in flight; returns them, oldest first."""

    @abc.abstractmethod
    def test_score(self, state: dict[str, Any]) -> float | None:
        """The task's test score of a persistent learner's state (None when there is no test set)."""

    def take_copies(self) -> dict[int, dict[str, Any] | None]:
        """Members whose learner took another member's state since the last call, with that state
        (it is the member's state until its next result; the loop checkpoints it)."""
        return {}

    def after_results(self, ledger: Any, searching: bool = True) -> None:
        """Housekeeping after results were recorded (e.g. refreshing a refiner); nothing by default.
        ``searching``: whether the search still runs (no housekeeping that changes how jobs are scored
        belongs in the selection or the final stage)."""

    def state_dict(self) -> dict[str, Any]:
        """What the executor must remember across a resume (in the checkpoint); nothing by default."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict()`` from a resumed run's checkpoint."""

    def close(self) -> None:
        """Release the workers."""

    def drain(self, timeout: float = 0.5) -> list[Result]:
        """Wait until every job in flight has returned; their results in the order they came."""
        results: list[Result] = []
        while self.in_flight():
            results.extend(self.wait(timeout))
        return results
