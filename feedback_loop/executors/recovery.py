"""What the Ray executor does when Ray loses an actor, a node or an object under a job.

- A per-candidate job lost that way is not the candidate's fault: ``LostJobs`` runs it again after a
  growing delay (Ray restarts the actor, on another node if its own is gone), up to ``LOST_RETRIES``
  times, after which it is recorded as failed.
- A persistent learner that died has lost its model: ``is_learner_death`` tells its death from a dead
  input, and ``wait_until_back`` waits for Ray to restart it (the executor then gives it its last
  returned state and redoes its lost steps in order), or raises ``LearnerLostError`` naming the setting
  that decides and the ``resume`` command.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import ray
from ray.exceptions import ActorDiedError, NodeDiedError, ObjectLostError, RayActorError, RayError, RayTaskError

from ..types import Job, Outcome
from .base import LearnerLostError

logger = logging.getLogger(__name__)

# Errors that say an actor, its node or an object in its store was lost: not the candidate's fault.
LOST = (RayActorError, NodeDiedError, ObjectLostError)
LOST_RETRIES = 5  # resubmissions of one job lost this way, 5 s, 10 s, ... apart (75 s in all)
LOST_DELAY_SECONDS = 5.0


def lost_to_infrastructure(err: RayError) -> bool:
    """Whether a job failed because Ray lost an actor or a node under it (worth running again)."""
    return isinstance(err, LOST) or isinstance(getattr(err, "cause", None), LOST)


def failed_outcome(err: RayError) -> Outcome:
    """A failed ``Outcome`` naming a Ray error (its last lines carry the actual cause)."""
    lines = str(err).strip().splitlines()
    return Outcome.failed(f"{type(err).__name__}: {' '.join(lines[-3:])[:2000]}")


class LostJobs:
    """Per-candidate jobs lost with an actor or node, waiting to run again."""

    def __init__(self) -> None:
        self.waiting: list[tuple[float, Job]] = []  # (when, job)
        self._lost: dict[str, int] = {}  # job key -> times lost so far

    def retry(self, job: Job, error: str | None) -> bool:
        """Schedule ``job`` again after a growing delay; False when it was lost too often (it fails)."""
        lost = self._lost[job.key] = self._lost.get(job.key, 0) + 1
        if lost > LOST_RETRIES:
            return False
        delay = LOST_DELAY_SECONDS * lost
        logger.warning("job %s was lost with a Ray actor or node (%s); running it again in %.0f s (%d of %d). "
                       "Ray restarts lost actors where there is capacity; until then the job waits.",
                       job.key, (error or "")[:200], delay, lost, LOST_RETRIES)
        self.waiting.append((time.monotonic() + delay, job))
        return True

    def due(self, timeout: float, idle: bool) -> list[Job]:
        """The jobs whose delay is over (with nothing else in flight, ``idle``, first sleep until one is due,
        at most ``timeout``)."""
        if not self.waiting:
            return []
        if idle:
            time.sleep(max(0.0, min(timeout, min(when for when, _ in self.waiting) - time.monotonic())))
        now = time.monotonic()
        ready = [job for when, job in self.waiting if when <= now]
        self.waiting = [(when, job) for when, job in self.waiting if when > now]
        return ready

    def clear(self) -> list[Job]:
        jobs, self.waiting = [job for _, job in self.waiting], []
        return jobs


def is_learner_death(err: RayError, learner: Any) -> bool:
    """Whether the persistent learner itself was lost, not a generator or refiner feeding it.

    A dead input surfaces as a RayTaskError naming the input's actor. Restoring a learner that was not
    lost is harmless (its whole state is set), so anything else counts as a loss."""
    if isinstance(err, RayActorError):
        return getattr(err, "actor_id", None) in (None, learner._actor_id.hex())
    return not isinstance(err, RayTaskError)  # e.g. OutOfMemoryError; a RayTaskError: its inputs failed


def resume_hint(run_dir: Path) -> str:
    return f"The run is checkpointed; continue it with 'feedback-loop resume {run_dir}'"


def wait_until_back(learner: Any, run_dir: Path, max_restarts: int, wait_seconds: float = 120.0) -> None:
    """Wait until Ray has restarted a dead learner; ``LearnerLostError`` when it is dead for good or
    does not come back in time."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            ray.get(learner.device_name.remote(), timeout=10)
            return
        except ActorDiedError as err:  # dead for good (no restarts left): no point in waiting
            raise LearnerLostError(f"resources.max_restarts: the persistent learner is dead for good "
                                   f"({err.error_msg.splitlines()[0]}). {resume_hint(run_dir)}") from err
        except RayError:
            if time.monotonic() > deadline:
                raise LearnerLostError(
                    f"resources.max_restarts: the persistent learner did not come back within {wait_seconds:.0f} s "
                    f"(max_restarts={max_restarts}). {resume_hint(run_dir)}")
            time.sleep(0.5)
