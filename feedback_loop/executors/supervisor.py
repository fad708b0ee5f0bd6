"""``MemberStates``: the persistent learners' states as the driver last received them.

Both executors keep one: it is where a member's learner restarts after its process was lost (Ray),
or when another member held the one learner (in process), and what PBT's exploit copies. A job
with ``copy_from`` makes its member's restore point the source member's last returned state; the
job then goes on without ``copy_from``, so a redone or resumed job never copies twice, and
``take_copies`` hands the copied-in states to the loop, which checkpoints them with that job.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..types import Job

State = dict[str, Any]


class MemberStates:
    """Every persistent member's last returned training state (None: start afresh)."""

    def __init__(self, members: int = 0, states: dict[int, State | None] | None = None) -> None:
        self._states: dict[int, State | None] = {m: None for m in range(members)}
        self._states.update({int(m): (state or None) for m, state in (states or {}).items()})
        self._copies: dict[int, State | None] = {}

    def get(self, member: int) -> State | None:
        """The state member ``member``'s learner restarts from (None: a fresh model)."""
        return self._states.get(member)

    def record(self, member: int, state: State | None) -> None:
        """A step of ``member`` returned with this state: its new restore point."""
        self._states[member] = state or None

    def exploit(self, job: Job) -> Job:
        """For a job with ``copy_from``: the member now restarts from the source member's state (PBT's
        exploit: weights, optimizer state and random state); the job without ``copy_from``."""
        if job.copy_from is None:
            return job
        state = self._states.get(job.copy_from)
        self._states[job.member] = self._copies[job.member] = state
        return dataclasses.replace(job, copy_from=None)

    def take_copies(self) -> dict[int, State | None]:
        """Members that took another member's state since the last call, with that state."""
        copies, self._copies = self._copies, {}
        return copies
