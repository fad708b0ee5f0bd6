"""``InProcessExecutor``: the executor contract in this process, one job at a time, no Ray.

Unit tests of the loop logic and the benchmarks' in-process baselines run on it; it trains through
the same ``TaskLearner`` and draws the same data (``data_seed``) as the Ray executor, so a job gives
the same outcome on either.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import gymnasium as gym
import numpy as np

from ..envs import RealData
from ..envs.generation import generate_batch
from ..learners import TaskLearner
from ..tasks import Task
from ..types import Job, Outcome, Result
from .base import Executor, data_seed, job_shards
from .supervisor import MemberStates


class InProcessExecutor(Executor):
    """Runs each job when ``wait`` is called, in submission order."""

    def __init__(self, env: gym.Env, real: RealData, learner: dict[str, Any], *, input_shape: tuple[int, ...],
                 task: Task | dict | int, run_seed: int, shards: int = 1, capacity: int = 1) -> None:
        self.env = env
        self.run_seed = run_seed
        self.shards = shards
        self._capacity = capacity
        self.learner = TaskLearner(learner, input_shape, task,
                                   real=(real.x_val, real.y_val, real.x_test, real.y_test, real.x_unlabeled))
        self._queue: list[Job] = []
        self.members = MemberStates()  # persistent member -> its last returned state
        self._holding: int | None = None  # the member whose model the learner holds right now

    @classmethod
    def for_run(cls, prepared: Any, **options: Any) -> "InProcessExecutor":
        """The executor for a checked run (``preflight.PreparedRun``), with its config's learner and seed."""
        config = prepared.config
        learner = {**dataclasses.asdict(config.learner), "objective": dataclasses.asdict(config.objective)}
        return cls(prepared.env, prepared.real, learner, input_shape=prepared.input_shape,
                   task=prepared.task, run_seed=config.seed, shards=config.resources.shards, **options)

    @property
    def capacity(self) -> int:
        return self._capacity

    def start(self, states: dict[int, dict[str, Any] | None] | None = None) -> None:
        self.members = MemberStates(0, states)
        self._holding = None

    def submit(self, job: Job) -> None:
        if job.kind == "step" and job.copy_from is not None:  # exploit, as the Ray executor does it
            job = self.members.exploit(job)
            if self._holding == job.member:
                self._holding = None
        self._queue.append(job)

    def _hold(self, member: int) -> None:
        """One learner serves every member: it takes the member's last state when another one held it."""
        if self._holding != member:
            state = self.members.get(member)
            if state:
                self.learner.set_state(state)
            else:
                self.learner.reset(member)
            self._holding = member

    def take_copies(self) -> dict[int, dict[str, Any] | None]:
        return self.members.take_copies()

    def wait(self, timeout: float = 0.0) -> list[Result]:
        if not self._queue:
            return []
        job = self._queue.pop(0)
        return [self.run(job)]

    def run(self, job: Job) -> Result:
        """Generate the job's data and train on it, here and now."""
        samples = 0
        try:
            batches = [generate_batch(self.env, job.candidate.params, size, data_seed(self.run_seed, job.seed_id, i),
                                      job.candidate.ranges)
                       for i, size in job_shards(job, self.shards)]
            x = np.concatenate([b[0] for b in batches])
            y = np.concatenate([b[1] for b in batches])
            samples = len(x)
            if job.kind == "step":
                self._hold(job.member)
                self._holding = None  # until the step is through (a failed one leaves it half-trained)
                outcome = self.learner.step(x, y, job.fidelity.epochs, with_test=job.with_test)
                if not outcome.ok:  # as on Ray: the member goes on from its last good state
                    return Result(job, outcome)
                state = self.learner.get_state()
                self.members.record(job.member, state)
                self._holding = job.member
                return Result(job, outcome, state)
            self._holding = None  # a fresh model moves torch's global generator
            final = job.stage == "final"
            outcome = self.learner.evaluate(x, y, job.fidelity.epochs, with_test=job.with_test, seed=job.model_seed,
                                            keep_model=final, fresh_epochs=job.fresh_epochs)
            if final and outcome.ok:
                return Result(job, outcome, self.learner.last_weights)
        except Exception as err:  # a failing simulator or batch fails the job, not the run
            outcome = Outcome.failed(f"candidate {job.candidate.id}: {type(err).__name__}: {err}", samples=samples)
        return Result(job, outcome)

    def in_flight(self) -> list[Job]:
        return list(self._queue)

    def cancel(self) -> list[Job]:
        dropped, self._queue = self._queue, []
        return dropped

    def test_score(self, state: dict[str, Any]) -> float | None:
        self.learner.set_state(state)
        self._holding = None
        return self.learner.test_score()
