"""Callbacks: what happens around the loop's steps without being the loop (logging, progress, hooks).

The loop calls, in this order for every batch of results: ``on_result`` (each result, after it is
told and recorded, *before* the checkpoint that counts it — durable logging such as MLflow goes
here), then ``after_checkpoint`` (the results are safe on disk: progress bars and user hooks).
"""

from __future__ import annotations

from typing import Any, Callable

from .types import Candidate, Outcome, Result


class Callback:
    """Base class: every hook does nothing."""

    def on_result(self, result: Result, entry: dict[str, Any]) -> None:
        """A result was told and recorded (``entry`` is its history entry); not yet checkpointed."""

    def after_checkpoint(self, results: list[Result]) -> None:
        """These results are in a checkpoint."""

    def on_end(self, summary: dict[str, Any]) -> None:
        """The run reached its end (its status "finished", or "failed" when nothing succeeded): ``summary``
        is complete and ``summary.json`` is written right after. A run that stops early gets ``on_stop``."""

    def on_stop(self, status: str) -> None:
        """The run stopped early, resumable (``KILLED``: Ctrl-C, a lost learner or a lost Ray; ``FAILED``:
        its first evaluations all failed)."""

    def close(self) -> None:
        """Always called last."""


class UserHook(Callback):
    """Calls ``on_outcome(candidate, outcome)`` for every result, once it is checkpointed."""

    def __init__(self, on_outcome: Callable[[Candidate, Outcome], None]) -> None:
        self.on_outcome = on_outcome

    def after_checkpoint(self, results: list[Result]) -> None:
        for result in results:
            self.on_outcome(result.job.candidate, result.outcome)
