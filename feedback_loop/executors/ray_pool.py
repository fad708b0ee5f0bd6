"""``RayExecutor``: jobs on a pool of Ray actors (generators → optional refiner → learners).

The driver never ``ray.get``s between stages: a job's shard refs go straight to a learner, more
jobs are in flight than there are learners (so the next data renders while learners train), and
results are taken in the order they finish (``ray.wait``). In persistent mode (one learner trains
on; a population: one learner per member, each job routed to its ``Job.member``) each learner's
results are taken in the order it trains them, and a dead learner is restored once to its last
returned state, after which its lost jobs are redone in order: the loop never sees it. A job with
``copy_from`` first gives its member's learner the source member's last returned state (PBT's
exploit: weights, optimizer state and random state).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import ray
from ray.exceptions import ActorDiedError, NodeDiedError, ObjectLostError, RayActorError, RayError, RayTaskError

from ..actors import GeneratorActor, LearnerActor
from .. import seeds
from ..config import Config
from ..envs import RealData
from ..tasks import Task, build_task
from ..types import Job, Outcome, Result
from .base import Executor, LearnerLostError, data_seed, job_shards
from .refiner_stage import RefinerStage
from .resources import check_fits, ensure_ray, in_slot, joins_a_cluster, slot_placement_groups

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


@dataclasses.dataclass
class _Call:
    job: Job
    learner: int
    realism: ray.ObjectRef | None = None
    trained_and_failed: bool = False  # a persistent step that failed inside the learner


class RayExecutor(Executor):
    """Generator, refiner and learner actors for one run, named ``feedback-loop-RUNID-*``."""

    def __init__(self, config: Config, real: RealData, *, input_shape: tuple[int, ...], task: Task | dict | int,
                 persistent: bool, run_id: str, run_dir: Path, nominal_params: dict[str, Any],
                 on_refiner_losses: Callable[[list[dict[str, float]]], None] | None = None,
                 members: int = 1) -> None:
        self.config = config
        self.real = real
        self.input_shape, self.task = tuple(input_shape), build_task(task)
        self.persistent = persistent
        self.members = max(1, int(members)) if persistent else 1  # persistent learners (a population: > 1)
        self.prefix = f"feedback-loop-{run_id}"
        self.run_dir = Path(run_dir)
        self.on_refiner_losses = on_refiner_losses
        self.nominal_params = dict(nominal_params)  # where the refiner is first fitted
        self.generators: list = []
        self.learners: list = []
        self.refiner: RefinerStage | None = None
        self.slots: list = []  # placement groups, one per learner slot (resources.placement: pack)
        self._calls: dict[ray.ObjectRef, _Call] = {}
        self._redo: list[Job] = []  # a dead persistent learner's jobs, resubmitted once it is restored
        self._retry: list[tuple[float, Job]] = []  # (when, job): jobs lost with an actor or a node
        self._lost: dict[tuple, int] = {}  # job key -> times lost so far
        self._restore_point: dict[int, dict[str, np.ndarray] | None] = {}  # member -> its last returned state
        self._copies: dict[int, dict[str, np.ndarray] | None] = {}  # member -> state copied in, not yet taken
        self.restores = 0  # times a persistent learner died and was restored in this session
        self._next_generator = 0

    # -- start and stop ---------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        return len(self.learners) * (1 + self.config.resources.prefetch)

    def start(self, initial_state: dict[str, Any] | None = None,
              member_states: dict[int, dict[str, Any] | None] | None = None) -> None:
        res = self.config.resources
        ensure_ray(res.ray_address)
        learners = self.members if self.persistent else res.learners  # a persistent policy trains its own models
        generators = learners if res.placement == "pack" else res.generators
        refiner = self.config.refiner
        if not joins_a_cluster(res.ray_address):
            check_fits(res, generators, learners, (refiner.cpus, refiner.gpus) if refiner.name != "none" else None)
        # placement "pack": one placement group per learner slot holds its own generator and the
        # learner on one node, so a job's shards never cross the network.
        self.slots = slot_placement_groups(res, learners) if res.placement == "pack" else []
        sim = self.config.simulator
        self.generators = [
            GeneratorActor.options(num_cpus=res.generator_cpus, num_gpus=res.generator_gpus,
                                   name=f"{self.prefix}-generator-{i}", max_restarts=res.max_restarts,
                                   max_task_retries=res.max_task_retries,
                                   **in_slot(self.slots, i, 0)).remote(sim.id, sim.kwargs, res.generator_cpus)
            for i in range(generators)]
        # Sent with every learner call as a nested ref (see LearnerActor), held here for the run.
        self._real = [ray.put((self.real.x_val, self.real.y_val, self.real.x_test, self.real.y_test))]
        learner = dataclasses.asdict(self.config.learner)
        self.learners = [
            LearnerActor.options(num_cpus=res.learner_cpus, num_gpus=res.learner_gpus,
                                 name=f"{self.prefix}-learner-{i}", max_restarts=res.max_restarts,
                                 # a restarted persistent learner has lost its model: never retry its steps
                                 max_task_retries=0 if self.persistent else res.max_task_retries,
                                 **in_slot(self.slots, i, 1)).remote(
                learner, self.input_shape, self.task.spec(), res.learner_cpus)
            for i in range(learners)]
        self._load = [0] * learners
        if self.persistent:
            self._restore_point = {m: (member_states or {}).get(m) or None for m in range(learners)}
            if initial_state:
                self._restore_point[0] = initial_state
            for index in range(learners):
                self._give_state(index)
        if refiner.name != "none":
            self.refiner = RefinerStage(refiner, self.run_dir, f"{self.prefix}-refiner", res.max_restarts,
                                        self.real.x_val, self.on_refiner_losses)
            self.refiner.start(lambda params, ranges, n: self._shard(params, ranges, n, seeds.refiner_fit()),
                               self.nominal_params)

    def close(self) -> None:
        for actor in self.generators + self.learners:
            ray.kill(actor, no_restart=True)
        if self.refiner is not None:
            self.refiner.close()
        for group in self.slots:
            ray.util.remove_placement_group(group)
        self.generators, self.learners, self.refiner, self.slots = [], [], None, []

    # -- jobs ------------------------------------------------------------------------------------
    def _shard(self, params: dict, ranges: dict | None, n: int, seed_id: int, shard: int = 0,
               generator: int | None = None) -> ray.ObjectRef:
        if generator is None:
            generator = self._next_generator % len(self.generators)
            self._next_generator += 1
        return self.generators[generator].generate.remote(params, ranges, n,
                                                          data_seed(self.config.seed, seed_id, shard))

    def submit(self, job: Job) -> None:
        if self.persistent and job.kind == "step":
            index = job.member
            if job.copy_from is not None:  # exploit: this member's learner takes over the source's state
                state = self._restore_point.get(job.copy_from)
                self._restore_point[index] = self._copies[index] = state
                self._give_state(index, wait=False)  # the actor runs it before the step below
                job = dataclasses.replace(job, copy_from=None)  # done: a redone job must not copy again
        else:
            index = int(np.argmin(self._load))
        candidate = job.candidate
        shards = [self._shard(candidate.params, candidate.ranges, size, job.seed_id, i,
                              generator=index if self.slots else None)  # packed: the slot's own generator
                  for i, size in job_shards(job, self.config.resources.shards)]
        realism = None
        if self.refiner is not None:
            shards, realism = self.refiner.refine(shards)
        learner = self.learners[index]
        if job.kind == "step":
            ref = learner.train_step.remote(self._real, candidate.id, job.fidelity.epochs, *shards)
        else:
            ref = learner.evaluate.remote(self._real, candidate.id, job.fidelity.epochs, job.with_test,
                                          job.model_seed, job.stage == "final", job.fresh_epochs, *shards)
        self._load[index] += 1
        self._calls[ref] = _Call(job, index, realism)

    def in_flight(self) -> list[Job]:
        return [call.job for call in self._calls.values()] + list(self._redo) + [job for _, job in self._retry]

    def cancel(self) -> list[Job]:
        jobs = self.in_flight()
        for ref in self._calls:
            try:
                ray.cancel(ref)  # queued ones are dropped; running ones end with the actors
            except (ValueError, RayError):
                pass
        self._calls.clear()
        self._redo, self._retry = [], []
        self._load = [0] * len(self.learners)
        return jobs

    def wait(self, timeout: float) -> list[Result]:
        self._resubmit_lost(timeout)
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
        done, _ = ray.wait(refs, num_returns=1, timeout=timeout)
        results = []
        for ref in done:
            call = self._calls.pop(ref)
            self._load[call.learner] -= 1
            result = self._collect(ref, call)
            if result is None:  # a persistent learner died: restore it once, redo its jobs in order
                self._redo_after([call.job], lambda: self._restore(call.learner), call.learner)
                return results
            # A per-candidate job lost with an actor or node runs again later; a persistent step does
            # not (a step moved later would change the order its learner trains in): it fails.
            if (not self.persistent and not result.outcome.ok and result.lost
                    and self._retry_lost(call.job, result.outcome.error)):
                continue
            results.append(result)
            if call.trained_and_failed:  # a step that raised mid-training: undo what it trained
                self._redo_after([], lambda: self._give_state(call.learner), call.learner)
        return results

    def _retry_lost(self, job: Job, error: str | None) -> bool:
        """Schedule a job lost with its actor or node again, after a growing delay (Ray restarts the
        actor, on another node if its own is gone, once the cluster notices); False when it was lost
        too often, and is to be recorded as failed."""
        lost = self._lost[job.key] = self._lost.get(job.key, 0) + 1
        if lost > LOST_RETRIES:
            return False
        delay = LOST_DELAY_SECONDS * lost
        logger.warning("job %s was lost with a Ray actor or node (%s); running it again in %.0f s (%d of %d). "
                       "Ray restarts lost actors where there is capacity; until then the job waits.",
                       job.key, (error or "")[:200], delay, lost, LOST_RETRIES)
        self._retry.append((time.monotonic() + delay, job))
        return True

    def _resubmit_lost(self, timeout: float) -> None:
        if not self._retry:
            return
        if not self._calls:  # nothing else to wait for: sleep until the first one is due
            time.sleep(max(0.0, min(timeout, min(due for due, _ in self._retry) - time.monotonic())))
        now = time.monotonic()
        due = [job for when, job in self._retry if when <= now]
        self._retry = [(when, job) for when, job in self._retry if when > now]
        for job in due:
            self.submit(job)

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
            if self.persistent and self._is_learner_death(err, call.learner):
                return None
            return Result(call.job, failed_outcome(err), lost=lost_to_infrastructure(err))
        if self.persistent and raw.get("restarted"):  # died between calls: this one did not train
            return None
        state = raw.pop("state", None)
        outcome = Outcome.from_dict(raw)
        call.trained_and_failed = self.persistent and call.job.kind == "step" and not outcome.ok
        if state is not None and call.job.kind == "step":
            self._restore_point[call.learner] = state
        if call.realism is not None and outcome.ok:
            # The discriminator's mean realism of the batch: a signal where real labels are scarce.
            try:
                outcome.metrics["realism"] = float(ray.get(call.realism))
            except RayError:
                pass  # the refiner died after refining: the result stands, without this metric
        return Result(call.job, outcome, state)

    # -- the persistent learner's deaths ------------------------------------------------------------
    def _is_learner_death(self, err: RayError, learner: int) -> bool:
        """Whether the persistent learner itself was lost, not a generator or refiner feeding it.

        A dead input surfaces as a RayTaskError naming the input's actor. Restoring a learner that
        was not lost is harmless (its whole state is set), so anything else counts as a loss."""
        if isinstance(err, RayActorError):
            return getattr(err, "actor_id", None) in (None, self.learners[learner]._actor_id.hex())
        return not isinstance(err, RayTaskError)  # e.g. OutOfMemoryError; a RayTaskError: its inputs failed

    def _restore(self, index: int, wait_seconds: float = 120.0) -> None:
        """Ray restarts a dead learner with no model: wait until it is back, then give it its last
        returned state, so the lost jobs are redone on it; never let it train on from scratch."""
        retries = self.config.resources.max_task_retries
        resume = f"The run is checkpointed; continue it with 'feedback-loop resume {self.run_dir}'"
        if self.restores >= retries:
            raise LearnerLostError(
                f"resources.max_task_retries: the persistent learner died {self.restores + 1} times in this "
                f"session (at most {retries} are survived). {resume} (raise resources.max_task_retries to tolerate more)")
        self.restores += 1
        learner = self.learners[index]
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                ray.get(learner.device_name.remote(), timeout=10)
                break
            except ActorDiedError as err:  # dead for good (no restarts left): no point in waiting
                raise LearnerLostError(f"resources.max_restarts: the persistent learner is dead for good "
                                       f"({err.error_msg.splitlines()[0]}). {resume}") from err
            except RayError:
                if time.monotonic() > deadline:
                    raise LearnerLostError(
                        f"resources.max_restarts: the persistent learner did not come back within {wait_seconds:.0f} s "
                        f"(max_restarts={self.config.resources.max_restarts}). {resume}")
                time.sleep(0.5)
        try:
            self._give_state(index)
        except RayError as err:
            raise LearnerLostError(f"the persistent learner died again while its state was restored ({err}). "
                                   f"{resume}") from err

    def _give_state(self, index: int, wait: bool = True) -> None:
        """Learner ``index`` takes its member's restore point, or starts afresh (member m's model from
        ``learner.seed + m``)."""
        learner, state = self.learners[index], self._restore_point.get(index)
        ref = learner.set_state.remote(state) if state else learner.reset.remote(index)
        if wait:
            ray.get(ref)

    def take_copies(self) -> dict[int, dict[str, Any] | None]:
        copies, self._copies = self._copies, {}
        return copies

    # -- extras ----------------------------------------------------------------------------------
    def test_score(self, state: dict[str, Any]) -> float | None:
        return ray.get(self.learners[0].test_score.remote(self._real, state))

    def after_results(self, ledger: Any) -> None:
        """Every ``refiner.refresh_every`` evaluations, refit the refiner on fresh data at the best
        parameters so far."""
        if self.refiner is None or not self.refiner.due(ledger.evaluations) or ledger.best is None:
            return
        best = ledger.best["candidate"]
        ref = self._shard(best["params"], best["ranges"], self.config.refiner.fit_samples,
                          seeds.refiner_fit(ledger.evaluations))
        self.refiner.fit(ref, steps=self.config.refiner.refresh_steps)

    def spans(self) -> list[list[tuple[int, float, float]]]:
        """Every learner's ``(job id, start, end)`` wall-clock spans (for benchmarks)."""
        return ray.get([learner.spans.remote() for learner in self.learners])
