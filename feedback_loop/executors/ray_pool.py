"""``RayExecutor``: jobs on a pool of Ray actors (generators → optional refiner → learners).

The driver never ``ray.get``s between stages: a job's shard refs go straight to a learner, more
jobs are in flight than there are learners (so the next data renders while learners train), and
results are taken in the order they finish (``ray.wait``). In persistent mode (one learner trains
on; a population: one learner per member, each job routed to its ``Job.member``) each learner's
results are taken in the order it trains them, and a dead learner is restored once to its last
returned state, after which its lost jobs are redone in order: the loop never sees it. A job with
``copy_from`` first gives its member's learner the source member's last returned state (PBT's
exploit: weights, optimizer state and random state).

The parts it wires, each with one job: ``ActorPool`` (starting, placing and stopping the actors,
rendering shards), ``RefinerStage`` (the optional refiner), ``MemberStates`` (the persistent members'
restore points and PBT's copies, shared with the in-process executor) and ``recovery`` (what happens
when Ray loses an actor, a node or an object). This module routes jobs and takes their results.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import numpy as np
import ray
from ray.exceptions import RayError

from .. import seeds
from ..config import Config
from ..envs import RealData
from ..tasks import Task, build_task
from ..topology import Topology
from ..types import Job, Outcome, Result
from .actor_pool import ActorPool
from .base import Executor, LearnerLostError, RayLostError, job_shards
from .recovery import LostJobs, failed_outcome, is_learner_death, lost_to_infrastructure, resume_hint, wait_until_back
from .refiner_stage import RefinerStage
from .resources import ray_is_gone
from .supervisor import MemberStates


@dataclasses.dataclass
class _Call:
    job: Job
    learner: int
    realism: ray.ObjectRef | None = None
    trained_and_failed: bool = False  # a persistent step that failed inside the learner


class RayExecutor(Executor):
    """Runs jobs on an ``ActorPool`` (generators, learners) and an optional refiner stage; ``topology``
    says whether learners are fresh per job or persistent members, whose states ``MemberStates`` keeps."""

    def __init__(self, config: Config, real: RealData, *, input_shape: tuple[int, ...], task: Task | dict | int,
                 topology: Topology, run_id: str, run_dir: Path, nominal_params: dict[str, Any],
                 on_refiner_losses: Callable[[list[dict[str, float]]], None] | None = None) -> None:
        self.config = config
        self.real = real
        self.topology = topology
        self.persistent = topology.persistent
        self.run_dir = Path(run_dir)
        self.on_refiner_losses = on_refiner_losses
        self.nominal_params = dict(nominal_params)  # where the refiner is first fitted
        self.pool = ActorPool(config, f"feedback-loop-{run_id}", topology.learners(config.resources.learners),
                              topology.persistent, input_shape, build_task(task).spec())
        self.refiner: RefinerStage | None = None
        self.members = MemberStates()  # persistent member -> its last returned state (the restore point)
        self._calls: dict[ray.ObjectRef, _Call] = {}
        self._redo: list[Job] = []  # a dead persistent learner's jobs, resubmitted once it is restored
        self._lost = LostJobs()  # per-candidate jobs lost with an actor or a node, to run again
        self.restores = 0  # times a persistent learner died and was restored in this session
        self._saved_state: dict[str, Any] = {}  # load_state_dict's, for the refiner start() makes
        self._ray_gone = False  # the run's Ray went away: nothing left to cancel or kill

    # the pool's actors, by the names tests and benchmarks use
    generators = property(lambda self: self.pool.generators)
    learners = property(lambda self: self.pool.learners)
    slots = property(lambda self: self.pool.slots)

    # -- start and stop ---------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return len(self.learners) * (1 + self.config.resources.prefetch)

    def start(self, states: dict[int, dict[str, Any] | None] | None = None) -> None:
        self.pool.start(self.real)
        self._load = [0] * len(self.learners)
        if self.persistent:
            self.members = MemberStates(len(self.learners), states)
            for index in range(len(self.learners)):
                self._give_state(index)
        refiner = self.pool.refiner_config  # with the shares the pool fitted
        if refiner.name != "none":
            self.refiner = RefinerStage(refiner, self.run_dir, f"{self.pool.prefix}-refiner",
                                        self.config.resources.max_restarts, self.real.inputs(), self.on_refiner_losses)
            self.refiner.start(lambda params, ranges, n: self.pool.shard(params, ranges, n, seeds.refiner_fit()),
                               self.nominal_params)
            self.refiner.refits = self._saved_state.get("refiner_refits", 0)

    def close(self) -> None:
        if not self._ray_gone:
            self.pool.close()
            if self.refiner is not None:
                self.refiner.close()
        self.refiner = None

    def _stop_if_ray_gone(self, err: BaseException) -> None:
        """Raise ``RayLostError`` when ``err`` came from the run's Ray going away (not from one actor or
        node lost within it, which Ray and ``LostJobs`` recover from)."""
        if ray_is_gone():
            self._ray_gone = True
            raise RayLostError(f"the run's Ray went away under it (stopped, e.g. by 'ray stop', or killed): "
                               f"{type(err).__name__}. {resume_hint(self.run_dir)}") from err

    # -- jobs ------------------------------------------------------------------------------------
    def submit(self, job: Job) -> None:
        try:
            self._submit(job)
        except RayError as err:
            self._stop_if_ray_gone(err)
            raise

    def _submit(self, job: Job) -> None:
        if self.persistent and job.kind == "step":
            index = job.member
            if job.copy_from is not None:  # exploit: this member's learner takes over the source's state
                job = self.members.exploit(job)  # done: a redone job must not copy again
                self._give_state(index, wait=False)  # the actor runs it before the step below
        else:
            index = int(np.argmin(self._load))
        candidate = job.candidate
        shards = [self.pool.shard(candidate.params, candidate.ranges, size, job.seed_id, i,
                                  generator=index if self.slots else None)  # packed: the slot's own generator
                  for i, size in job_shards(job, self.config.resources.shards)]
        realism = None
        if self.refiner is not None:
            shards, realism = self.refiner.refine(shards)
        learner = self.learners[index]
        if job.kind == "step":
            ref = learner.train_step.remote(self.pool.real, candidate.id, job.fidelity.epochs, *shards)
        else:
            ref = learner.evaluate.remote(self.pool.real, candidate.id, job.fidelity.epochs, job.with_test,
                                          job.model_seed, job.stage == "final", job.fresh_epochs, *shards)
        self._load[index] += 1
        self._calls[ref] = _Call(job, index, realism)

    def in_flight(self) -> list[Job]:
        return [call.job for call in self._calls.values()] + list(self._redo) + [job for _, job in self._lost.waiting]

    def cancel(self) -> list[Job]:
        jobs = self.in_flight()
        for ref in self._calls if not self._ray_gone else ():
            try:
                ray.cancel(ref)  # queued ones are dropped; running ones end with the actors
            except (ValueError, RayError):
                pass
        self._calls.clear()
        self._redo = []
        self._lost.clear()
        self._load = [0] * len(self.learners)
        return jobs

    def wait(self, timeout: float) -> list[Result]:
        for job in self._lost.due(timeout, idle=not self._calls):
            self.submit(job)
        if not self._calls:
            return []
        # A persistent learner trains its jobs in submission order: take each learner's in that order
        # too, so the state that comes with each result is its latest one.
        if self.persistent:
            oldest: dict[int, ray.ObjectRef] = {}
            for ref, call in self._calls.items():
                oldest.setdefault(call.learner, ref)
            refs = list(oldest.values())
        else:
            refs = list(self._calls)
        try:
            done, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        except RayError as err:
            self._stop_if_ray_gone(err)
            raise
        results = []
        for ref in done:
            call = self._calls.pop(ref)
            self._load[call.learner] -= 1
            try:
                result = self._collect(ref, call)
            except RayLostError:  # still in flight: the checkpoint keeps it, to be redone on resume
                self._calls[ref] = call
                raise
            if result is None:  # a persistent learner died: restore it once, redo its jobs in order
                self._redo_after([call.job], lambda: self._restore(call.learner), call.learner)
                return results
            # A per-candidate job lost with an actor or node runs again later; a persistent step does
            # not (a step moved later would change the order its learner trains in): it fails.
            if (not self.persistent and not result.outcome.ok and result.lost
                    and self._lost.retry(call.job, result.outcome.error)):
                continue
            results.append(result)
            if call.trained_and_failed:  # a step that raised mid-training: undo what it trained
                self._redo_after([], lambda: self._give_state(call.learner), call.learner)
        return results

    def _redo_after(self, lost: list[Job], restore: Callable[[], None], learner: int) -> None:
        """Take every job in flight on ``learner`` back, ``restore`` it, then submit ``lost`` and those
        jobs again in their order (the learner trains them on the restored state)."""
        self._redo = lost + [c.job for c in self._calls.values() if c.learner == learner]
        self._calls = {ref: c for ref, c in self._calls.items() if c.learner != learner}
        self._load[learner] = 0
        restore()
        redo, self._redo = self._redo, []
        for job in redo:
            self.submit(job)

    def _collect(self, ref: ray.ObjectRef, call: _Call) -> Result | None:
        """The result of a finished call; None when the persistent learner died under it."""
        try:
            raw = ray.get(ref)
        except RayError as err:  # the generator or refiner raised or died, or the learner died
            self._stop_if_ray_gone(err)  # or the whole Ray went away: nothing to retry on
            if self.persistent and is_learner_death(err, self.learners[call.learner]):
                return None
            return Result(call.job, failed_outcome(err), lost=lost_to_infrastructure(err))
        if self.persistent and raw.get("restarted"):  # died between calls: this one did not train
            return None
        state = raw.pop("state", None)
        outcome = Outcome.from_dict(raw)
        call.trained_and_failed = self.persistent and call.job.kind == "step" and not outcome.ok
        if state is not None and call.job.kind == "step":
            self.members.record(call.learner, state)
        if call.realism is not None and outcome.ok:
            # The discriminator's mean realism of the job's first refined shard (not the whole batch), named apart
            # from the objective's `realism` (a distance, lower is better), which the learner reports
            try:
                outcome.metrics["discriminator_realism"] = float(ray.get(call.realism))
            except RayError:
                pass  # the refiner died after refining: the result stands, without this metric
        return Result(call.job, outcome, state)

    # -- the persistent learner's deaths ------------------------------------------------------------
    def _restore(self, index: int) -> None:
        """Ray restarts a dead learner with no model: wait until it is back, then give it its last
        returned state, so the lost jobs are redone on it; never let it train on from scratch."""
        retries = self.config.resources.max_task_retries
        if self.restores >= retries:
            raise LearnerLostError(
                f"resources.max_task_retries: the persistent learner died {self.restores + 1} times in this "
                f"session (at most {retries} are survived). {resume_hint(self.run_dir)} (raise "
                "resources.max_task_retries to tolerate more)")
        self.restores += 1
        wait_until_back(self.learners[index], self.run_dir, self.config.resources.max_restarts)
        try:
            self._give_state(index)
        except RayError as err:
            raise LearnerLostError(f"the persistent learner died again while its state was restored ({err}). "
                                   f"{resume_hint(self.run_dir)}") from err

    def _give_state(self, index: int, wait: bool = True) -> None:
        """Learner ``index`` takes its member's restore point, or starts afresh (member m's model from
        ``learner.seed + m``)."""
        learner, state = self.learners[index], self.members.get(index)
        ref = learner.set_state.remote(state) if state else learner.reset.remote(index)
        if wait:
            ray.get(ref)

    def take_copies(self) -> dict[int, dict[str, Any] | None]:
        return self.members.take_copies()

    # -- extras ----------------------------------------------------------------------------------
    def test_score(self, state: dict[str, Any]) -> float | None:
        return ray.get(self.learners[0].test_score.remote(self.pool.real, state))

    def after_results(self, ledger: Any, searching: bool = True) -> None:
        """Once each time the search's evaluation count crosses a multiple of ``refiner.refresh_every``,
        refit the refiner on fresh data at the best parameters so far (never in selection or the final
        stage)."""
        if self.refiner is None or not self.refiner.due(ledger.evaluations, searching) or ledger.best is None:
            return
        best = ledger.best["candidate"]
        try:
            ref = self.pool.shard(best["params"], best["ranges"], self.config.refiner.fit_samples,
                                  seeds.refiner_fit(ledger.evaluations))
            self.refiner.fit(ref, steps=self.config.refiner.refresh_steps)
        except RayError as err:
            self._stop_if_ray_gone(err)
            raise
        self.refiner.refreshed(ledger.evaluations)

    def state_dict(self) -> dict[str, Any]:
        return {"refiner_refits": self.refiner.refits} if self.refiner is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._saved_state = dict(state)  # applied when start() has made the refiner

    def spans(self) -> list[list[tuple[int, float, float]]]:
        """Every learner's ``(job id, start, end)`` wall-clock spans (for benchmarks)."""
        return ray.get([learner.spans.remote() for learner in self.learners])
