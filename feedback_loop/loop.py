"""The closed loop: policy → generator actors → learner actors → outcome → policy, on Ray.

The driver never ``ray.get``s between stages: each candidate's shard refs go straight to a learner,
more candidates are in flight than there are learners (so the next data is generated while
learners train), and outcomes are handled in the order they finish (``ray.wait``). After every
told outcome the run is checkpointed, so ``resume`` continues without redoing or losing one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import signal
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import ray
from ray.exceptions import ActorDiedError, RayActorError, RayError, RayTaskError

from .actors import GeneratorActor, LearnerActor
from .checkpoint import CheckpointError, atomic_write, atomic_write_text, load_checkpoint, save_checkpoint
from .config import Config, ConfigError, dump_config, load_config
from .policies import Candidate, Outcome, Policy, make_policy
from .progress import Progress
from .simulators import checked_simulator, load_real_data
from .tracking import Tracker, resolve_tracking_uri

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "checkpoint.json"
CONFIG_FILE = "config.yaml"
SUMMARY_FILE = "summary.json"
# The persistent learner's training state after step N is saved as learner_weights-N.npz (and, if
# step N is the best so far, as best_learner_weights-N.npz) just before the checkpoint that counts
# step N, which names the files; older files are deleted only after that checkpoint is written. A
# kill in between leaves checkpoint and files a pair: a resumed learner never trains twice on (or
# skips) a batch, and the best model always matches the checkpoint's best score.
PAIRED_FILES = {"weights_file": "learner_weights-{:06d}.npz", "best_weights_file": "best_learner_weights-{:06d}.npz"}
BEST_WEIGHTS_FILE = "best_learner_weights.npz"  # a copy of the best model, written when the run ends
REFINER_FILE = "refiner_weights.npz"  # the refiner's weights (numpy only, no pickle)
ORACLE_SEEDS = 3  # the oracle score is averaged over this many data seeds


def failed_outcome(err: RayError) -> Outcome:
    """A failed ``Outcome`` naming a Ray error (its last lines carry the actual cause)."""
    lines = str(err).strip().splitlines()
    return Outcome.failed(f"{type(err).__name__}: {' '.join(lines[-3:])[:2000]}")


def outcome_or_failed(ref: ray.ObjectRef) -> Outcome:
    try:
        return Outcome.from_dict(ray.get(ref))
    except RayError as err:
        failed = failed_outcome(err)
        logger.warning("a final scoring run failed: %s", failed.error)
        return failed


class LearnerLostError(RuntimeError):
    """The persistent learner died more often than the config tolerates (the run stays resumable)."""


class ResourceError(ValueError):
    """The actors ask for more than the Ray cluster has."""


def gpus_to_pack(requests: list[float]) -> int:
    """Whole GPUs needed for these per-actor GPU requests, packed first-fit decreasing.

    Whole requests (1, 2, ...) take whole GPUs; fractional ones (< 1) share a GPU while their
    sum stays <= 1, as Ray places them.
    """
    whole = sum(int(r) for r in requests if r >= 1)
    bins: list[float] = []
    for share in sorted((r for r in requests if 0 < r < 1), reverse=True):
        for i, used in enumerate(bins):
            if used + share <= 1 + 1e-9:
                bins[i] += share
                break
        else:
            bins.append(share)
    return whole + len(bins)


def data_seed(run_seed: int, candidate_id: int, shard: int = 0) -> int:
    """Seed of a candidate's data; a pure function so a resumed run regenerates the same batch."""
    return int(np.random.SeedSequence([run_seed, candidate_id + 1_000_000, shard]).generate_state(1)[0])


def ensure_ray(address: str | None) -> None:
    """Start a local Ray (dashboard on 127.0.0.1 only) or connect to ``address``; reuse a running one."""
    if ray.is_initialized():
        return
    check_reachable(address)
    try:
        ray.init(address=address, dashboard_host="127.0.0.1", include_dashboard=False,
                 logging_level="WARNING", log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ConfigError(
            f"resources.ray_address: cannot connect to Ray at {address!r}: {err}. "
            "Leave it unset for a local Ray, or give the address printed by 'ray start --head'."
        ) from err


def check_reachable(address: str | None, timeout: float = 3.0) -> None:
    """Fail fast on an unreachable Ray address (``ray.init`` would retry for minutes)."""
    if not address or address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1].rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"resources.ray_address: {address!r} is not of the form HOST:PORT, ray://HOST:PORT or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as err:
        raise ConfigError(
            f"resources.ray_address: cannot reach Ray at {address!r} ({err}). Start the cluster with "
            "'ray start --head', or leave resources.ray_address unset for a local Ray."
        ) from err


@dataclass
class RunState:
    """Everything a checkpoint holds (JSON-serializable)."""

    run_id: str
    mlflow_run_id: str
    tracking_uri: str
    policy: dict[str, Any]
    evaluations: int = 0
    failed: int = 0
    samples_generated: int = 0
    elapsed_seconds: float = 0.0
    completed_ids: list[int] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    status: str = "running"
    weights_file: str | None = None  # the persistent learner's state that goes with this checkpoint
    best_weights_file: str | None = None  # ... and its state at the best score so far


class LoopRunner:
    """Runs (or resumes) one closed-loop optimization described by a ``Config`` in ``run_dir``."""

    def __init__(self, config: Config, run_dir: str | Path, *, tracking_uri: str | None = None,
                 extra_tags: dict[str, str] | None = None) -> None:
        self.config = config
        self.extra_tags = dict(extra_tags or {})
        self.run_dir = Path(run_dir)
        self.tracking_uri = resolve_tracking_uri(tracking_uri or config.tracking.tracking_uri)
        self.env = checked_simulator(config.simulator.id, config.simulator.kwargs)
        self.real = load_real_data(self.env, config.data.real)
        self.input_shape = tuple(np.asarray(self.real.x_val).shape[1:])
        self.num_classes = int(getattr(self.env, "num_classes", int(np.max(self.real.y_val)) + 1))
        self.policy: Policy | None = None
        self.state: RunState | None = None
        self.tracker: Tracker | None = None
        self._weights: dict[str, np.ndarray] | None = None  # the model of the outcome being collected
        self._latest_weights: dict[str, np.ndarray] | None = None  # ... of the last told persistent step
        self._unsaved: dict[str, dict[str, np.ndarray]] = {}  # PAIRED_FILES field -> state, for the next checkpoint
        self._stop_requested = False
        self._previous_sigint = None
        self._persistent_retries = 0  # times the persistent learner died and its lost steps were redone
        self._slots: list = []  # placement groups, one per learner slot (resources.placement: pack)

    # -- setup ---------------------------------------------------------------------------------
    @classmethod
    def from_run_dir(cls, run_dir: str | Path) -> "LoopRunner":
        """A runner for an existing run directory (for ``resume``)."""
        run_dir = Path(run_dir)
        if not (run_dir / CONFIG_FILE).is_file():
            raise ConfigError(f"{str(run_dir)!r} is not a run directory: it has no {CONFIG_FILE}")
        state = load_checkpoint(run_dir / CHECKPOINT_FILE)
        runner = cls(load_config(run_dir / CONFIG_FILE), run_dir, tracking_uri=state["tracking_uri"])
        runner.state = RunState(**state)
        return runner

    def _make_policy(self) -> Policy:
        cfg = self.config.policy
        options = dict(cfg.options)
        if cfg.name == "optuna":
            options.setdefault("sampler", cfg.sampler)
            options.setdefault("storage_path", str(self.run_dir / "optuna.journal"))
        try:
            return make_policy(
                cfg.name, param_space=self.env.param_space, nominal_params=self.env.nominal_params,
                seed=cfg.seed, **options,
            )
        except TypeError as err:
            raise ConfigError(f"policy.options: {cfg.name} rejected {options}: {err}") from err

    def _start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.policy = self._make_policy()
        self.persistent = self.policy.learner_mode == "persistent"
        experiment = self.config.tracking.experiment or self.config.name
        self.tracker = Tracker(self.tracking_uri, experiment)
        if self.state is None:  # a new run
            dump_config(self.config, self.run_dir / CONFIG_FILE)
            run_id = uuid.uuid4().hex[:8]
            tags = {"policy": self.config.policy.name, "simulator": self.config.simulator.id,
                    "run_dir": str(self.run_dir.resolve()), "feedback_loop_run_id": run_id}
            if self.config.policy.name == "optuna":
                tags["sampler"] = self.config.policy.sampler
            tags.update(self.extra_tags)
            mlflow_run_id = self.tracker.start_parent(f"{self.config.name}-{run_id}", self.config.to_dict(), tags)
            self.state = RunState(run_id=run_id, mlflow_run_id=mlflow_run_id, tracking_uri=self.tracking_uri,
                                  policy=self.policy.state_dict())
            self._checkpoint()
        else:  # a resumed run
            self.state.status = "running" if self.state.status != "finished" else "finished"
            self.policy.load_state_dict(self.state.policy)
            self.tracker.reopen_parent(self.state.mlflow_run_id)
            self.tracker.drop_children_except(set(self.state.completed_ids))
            self._remove_unpaired_files()

    def _start_actors(self) -> None:
        res = self.config.resources
        ensure_ray(res.ray_address)
        if res.ray_address is None:
            self._check_fits()
        sim = self.config.simulator
        prefix = f"feedback-loop-{self.state.run_id}"
        learner_count = 1 if self.persistent else res.learners  # a persistent policy trains one model
        # placement "pack": one placement group per learner slot holds its own generator and the
        # learner on one node, so a candidate's shards never cross the network.
        self._slots = self._placement_groups(learner_count) if res.placement == "pack" else []
        generator_count = learner_count if self._slots else res.generators
        self.generators = [
            GeneratorActor.options(num_cpus=res.generator_cpus, num_gpus=res.generator_gpus,
                                   name=f"{prefix}-generator-{i}", max_restarts=res.max_restarts,
                                   max_task_retries=res.max_task_retries,
                                   **self._in_slot(i, 0)).remote(sim.id, sim.kwargs, res.generator_cpus)
            for i in range(generator_count)
        ]
        # Sent with every learner call as a nested ref (see LearnerActor), held here for the run.
        self._real = [ray.put((self.real.x_val, self.real.y_val, self.real.x_test, self.real.y_test))]
        learner = dataclasses.asdict(self.config.learner)
        self.learners = [
            LearnerActor.options(num_cpus=res.learner_cpus, num_gpus=res.learner_gpus,
                                 name=f"{prefix}-learner-{i}", max_restarts=res.max_restarts,
                                 # a restarted persistent learner has lost its model: never retry its steps
                                 max_task_retries=0 if self.persistent else res.max_task_retries,
                                 **self._in_slot(i, 1)).remote(
                learner, self.input_shape, self.num_classes, res.learner_cpus)
            for i in range(learner_count)
        ]
        if self.persistent and self.state.weights_file:  # resume the persistent model where it was
            self._send_saved_weights(self.state.weights_file, required=True)
        self._learner_load = [0] * len(self.learners)
        self._next_generator = 0
        self._start_refiner(prefix)

    def _placement_groups(self, count: int) -> list:
        """One STRICT_PACK placement group per learner slot: [generator bundle, learner bundle]."""
        from ray.util.placement_group import placement_group

        res = self.config.resources

        def bundle(cpus: float, gpus: float) -> dict[str, float]:
            return {"CPU": cpus, **({"GPU": gpus} if gpus else {})}

        groups = [placement_group([bundle(res.generator_cpus, res.generator_gpus),
                                   bundle(res.learner_cpus, res.learner_gpus)], strategy="STRICT_PACK")
                  for _ in range(count)]
        ready, _ = ray.wait([g.ready() for g in groups], num_returns=count, timeout=120)
        if len(ready) < count:
            for group in groups:
                ray.util.remove_placement_group(group)
            raise ResourceError(
                f"resources.placement: only {len(ready)} of {count} placement groups (generator + learner "
                "on one node) could be placed within 120 s; lower resources.learners or the *_cpus/_gpus shares"
            )
        return groups

    def _in_slot(self, slot: int, bundle: int) -> dict:
        """Actor options that put it into bundle ``bundle`` of learner slot ``slot``'s placement group."""
        if not self._slots:
            return {}
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        return {"scheduling_strategy": PlacementGroupSchedulingStrategy(
            placement_group=self._slots[slot], placement_group_bundle_index=bundle)}

    def _check_fits(self) -> None:
        """Refuse, with a clear message, actors that this (single-node) Ray could never place.

        Ray never splits a fractional GPU request over two GPUs, so GPU shares are bin-packed
        (3 learners × 0.6 do not fit on 2 GPUs although 1.8 ≤ 2); otherwise the run would hang
        with an actor pending forever.
        """
        res = self.config.resources
        have = ray.cluster_resources()
        learner_count = 1 if getattr(self, "persistent", False) else res.learners
        generators = learner_count if res.placement == "pack" else res.generators
        refiner = self.config.refiner
        refiner_cpus = refiner.cpus if refiner.name != "none" else 0.0
        need_cpu = generators * res.generator_cpus + learner_count * res.learner_cpus + refiner_cpus
        requests = [res.generator_gpus] * generators + [res.learner_gpus] * learner_count
        if refiner.name != "none":
            requests.append(refiner.gpus)
        need_gpu = gpus_to_pack(requests)
        have_gpu = int(have.get("GPU", 0) + 1e-9)
        if need_cpu > have.get("CPU", 0) + 1e-9:
            raise ResourceError(
                f"resources: the actors ask for {need_cpu:g} CPUs ({generators} generators × "
                f"{res.generator_cpus:g} + {learner_count} learners × {res.learner_cpus:g}"
                f"{f' + refiner {refiner_cpus:g}' if refiner_cpus else ''}) but Ray has "
                f"{have.get('CPU', 0):g}; lower resources.learners or the *_cpus shares"
            )
        if need_gpu > have_gpu:
            raise ResourceError(
                f"resources: the actors need {need_gpu} GPUs ({generators} generators × "
                f"{res.generator_gpus:g} + {learner_count} learners × {res.learner_gpus:g}, a fractional "
                f"share never spanning two GPUs) but Ray has {have.get('GPU', 0):g}; "
                "lower resources.learners or resources.learner_gpus (e.g. 0.5 packs 2 learners per GPU), "
                "or set the *_gpus to 0 on a machine without GPUs"
            )

    def _stop_actors(self) -> None:
        refiner = [self.refiner] if getattr(self, "refiner", None) is not None else []
        for actor in getattr(self, "generators", []) + getattr(self, "learners", []) + refiner:
            ray.kill(actor, no_restart=True)
        self.generators, self.learners, self.refiner = [], [], None
        for group in getattr(self, "_slots", []):
            ray.util.remove_placement_group(group)
        self._slots = []

    # -- the refiner (optional): synthetic shards pass through it on their way to the learners ------
    def _start_refiner(self, prefix: str) -> None:
        self.refiner = None
        self._realism: dict[ray.ObjectRef, ray.ObjectRef] = {}  # outcome ref -> realism ref
        self._refiner_records_logged = 0
        cfg = self.config.refiner
        if cfg.name == "none":
            return
        from .refiners import load_state
        from .refiners.actor import RefinerActor

        self.refiner = RefinerActor.options(
            num_cpus=cfg.cpus, num_gpus=cfg.gpus, name=f"{prefix}-refiner",
            max_restarts=self.config.resources.max_restarts).remote(cfg.name, cfg.options, cfg.cpus)
        # Only the real inputs, never their labels, reach the refiner.
        self._real_x_ref = ray.put(self.real.x_val)
        weights_file = self.run_dir / REFINER_FILE
        if weights_file.is_file():  # resumed: the refiner as it was, not refitted
            self.refiner.set_weights.remote(load_state(weights_file)[1])
        else:
            self._fit_refiner(self.env.nominal_params, None, steps=None)

    def _fit_refiner(self, params: dict, ranges: dict | None, steps: int | None) -> None:
        """Fit (or refresh) the refiner on fresh synthetic data, save its weights, log its losses."""
        from .refiners import save_state

        n = self.config.refiner.fit_samples
        generator = self.generators[0]
        shard = generator.generate.remote(params, ranges, n, data_seed(self.config.seed, -100 - self.state.evaluations))
        ray.get(self.refiner.fit.remote(shard, self._real_x_ref, steps=steps))
        save_state(ray.get(self.refiner.get_weights.remote()), self.config.refiner.name, self.run_dir / REFINER_FILE)
        records = ray.get(self.refiner.losses.remote())
        now = int(time.time() * 1000)
        from mlflow.entities import Metric

        metrics = [Metric(f"refiner_{k}", float(v), now, int(r.get("step", i)))
                   for i, r in enumerate(records[self._refiner_records_logged:], start=self._refiner_records_logged)
                   for k, v in r.items() if k != "step"]
        for i in range(0, len(metrics), 900):
            self.tracker.client.log_batch(self.state.mlflow_run_id, metrics=metrics[i:i + 900])
        self._refiner_records_logged = len(records)

    def _maybe_refresh_refiner(self) -> None:
        every = self.config.refiner.refresh_every
        if self.refiner is None or not every or self.state.evaluations % every or self.state.best is None:
            return
        best = self.state.best["candidate"]
        self._fit_refiner(best["params"], best["ranges"], steps=self.config.refiner.refresh_steps)

    # -- the loop ------------------------------------------------------------------------------
    def _submit(self, candidate: Candidate, with_test: bool = False, seed_id: int | None = None,
                step: bool = False) -> tuple[ray.ObjectRef, int]:
        """Generate the candidate's shards and hand their refs to a learner (a persistent step if ``step``)."""
        learner_cfg = self.config.learner
        n = (learner_cfg.persistent_samples or learner_cfg.samples) if step else learner_cfg.samples
        shards = min(self.config.resources.shards, n)
        sizes = [n // shards + (1 if i < n % shards else 0) for i in range(shards)]
        seed_id = candidate.id if seed_id is None else seed_id
        index = int(np.argmin(self._learner_load))
        shard_refs = []
        for i, size in enumerate(sizes):
            if self._slots:  # the learner's own generator, in its placement group
                generator = self.generators[index]
            else:
                generator = self.generators[self._next_generator % len(self.generators)]
                self._next_generator += 1
            shard_refs.append(generator.generate.remote(
                candidate.params, candidate.ranges, size, data_seed(self.config.seed, seed_id, i)))
        realism = None
        if self.refiner is not None:
            shard_refs = [self.refiner.refine.remote(ref) for ref in shard_refs]
            realism = self.refiner.realism.remote(shard_refs[0])
        self._learner_load[index] += 1
        learner = self.learners[index]
        if step:
            ref = learner.train_step.remote(self._real, candidate.id, learner_cfg.persistent_epochs, *shard_refs)
        else:
            ref = learner.evaluate.remote(self._real, candidate.id, with_test, *shard_refs)
        if realism is not None:
            self._realism[ref] = realism
        return ref, index

    def _budget_left(self, in_flight: int, started: float) -> bool:
        budget = self.config.budget
        if budget.evaluations is not None and self.state.evaluations + in_flight >= budget.evaluations:
            return False
        if budget.seconds is not None and self._elapsed(started) >= budget.seconds:
            return False
        return True

    def _elapsed(self, started: float) -> float:
        return self.state.elapsed_seconds + (time.monotonic() - started)

    def run(
        self, *, progress: bool = True, on_outcome: Callable[[Candidate, Outcome], None] | None = None
    ) -> dict[str, Any]:
        """Run until the budget is spent; returns the summary (also written to ``summary.json``)."""
        ensure_ray(self.config.resources.ray_address)  # before anything is written anywhere
        self._start()
        if self.state.status == "finished":
            return json.loads((self.run_dir / SUMMARY_FILE).read_text())
        self._start_actors()
        started = time.monotonic()
        # More candidates in flight than learners: the next data renders while learners train.
        max_in_flight = len(self.learners) * (1 + self.config.resources.prefetch)
        in_flight: dict[ray.ObjectRef, tuple[Candidate, int]] = {}
        self._unlogged: list[tuple[Candidate, Outcome, dict[str, float]]] = []  # told, not yet in MLflow
        queue = [Candidate.from_dict(c) for c in self.state.pending]  # asked before an interruption
        bar = Progress(total=self.config.budget.evaluations, initial=self.state.evaluations, enabled=progress,
                       best=self._best_score(), elapsed=self.state.elapsed_seconds)
        self._catch_sigint()
        try:
            self._refill(in_flight, queue, max_in_flight, started)
            self._checkpoint(pending=self._pending(in_flight, queue), started=started)
            while in_flight:
                # The persistent learner trains its steps in submission order: take them in that
                # order too, so the model state that comes with each outcome is the latest one.
                waiting = list(in_flight)[:1] if self.persistent else list(in_flight)
                done, _ = ray.wait(waiting, num_returns=1, timeout=0.5)
                if self._stop_requested:
                    raise KeyboardInterrupt
                told = []
                for ref in done:
                    candidate, learner_index = in_flight[ref]
                    outcome = self._collect(ref)  # on LearnerLostError the candidate stays pending
                    del in_flight[ref]
                    self._learner_load[learner_index] -= 1
                    if outcome is None:  # the persistent learner died: redo its steps, restored once
                        queue[:0] = [candidate] + self._drop_in_flight(in_flight)
                        continue
                    told.append((candidate, outcome))
                    self._unlogged.append((candidate, outcome, self._tell(candidate, outcome, started)))
                # Hand the learners their next work before the slow bookkeeping (MLflow writes,
                # the checkpoint): a learner whose queue ran dry waits only for ask + submit.
                self._refill(in_flight, queue, max_in_flight, started)
                self._log_told()
                self._maybe_refresh_refiner()
                # One checkpoint holds the told outcomes and the new pending candidates together.
                self._checkpoint(pending=self._pending(in_flight, queue), started=started)
                for candidate, outcome in told:
                    bar.update(self.state.evaluations, self._best_score(), self._elapsed(started))
                    if on_outcome is not None:
                        on_outcome(candidate, outcome)
            summary = self._finish(started)
        except (KeyboardInterrupt, LearnerLostError):
            # Ctrl-C, or a learner lost for good: cancel what is in flight (it stays in the checkpoint's
            # pending list and is redone on resume), mark the MLflow run killed, leave a resumable checkpoint.
            for ref in in_flight:
                try:
                    ray.cancel(ref)  # queued ones are dropped; the actors are killed just below anyway
                except (ValueError, RayError):
                    pass
            self.state.status = "interrupted"
            self._log_told()  # a told outcome goes into the checkpoint only with its child run
            self._checkpoint(pending=self._pending(in_flight, queue), started=started)
            self.tracker.client.set_terminated(self.state.mlflow_run_id, status="KILLED")
            raise
        finally:
            self._restore_sigint()
            bar.close()
            self._stop_actors()
        return summary

    def _catch_sigint(self) -> None:
        """Turn the first Ctrl-C into a request to stop at a safe point (never inside an MLflow or
        checkpoint write); a second Ctrl-C interrupts at once."""
        self._stop_requested = False
        self._previous_sigint = None
        if threading.current_thread() is not threading.main_thread():
            return

        def request_stop(signum, frame):
            self._stop_requested = True
            signal.signal(signal.SIGINT, signal.default_int_handler)

        self._previous_sigint = signal.signal(signal.SIGINT, request_stop)

    def _restore_sigint(self) -> None:
        if self._previous_sigint is not None:
            signal.signal(signal.SIGINT, self._previous_sigint)
            self._previous_sigint = None

    @staticmethod
    def _pending(in_flight: dict, queue: list[Candidate]) -> list[Candidate]:
        """Asked, not yet told, oldest first: what is in flight was taken from the queue's front
        (or asked while the queue was empty), so it is older than anything left in the queue."""
        return [c for c, _ in in_flight.values()] + queue

    def _drop_in_flight(self, in_flight: dict) -> list[Candidate]:
        """Forget every call in flight (their actor died; they will only fail) and return their
        candidates in submission order, to be submitted again."""
        lost = [candidate for candidate, _ in in_flight.values()]
        for ref in in_flight:
            self._realism.pop(ref, None)
        in_flight.clear()
        self._learner_load = [0] * len(self.learners)
        return lost

    def _collect(self, ref: ray.ObjectRef) -> Outcome | None:
        """The outcome of a finished call; None when a persistent step must be redone because its
        learner died (the learner has then been given its last told state back)."""
        self._weights = None
        realism = self._realism.pop(ref, None)
        try:
            result = ray.get(ref)
        except RayError as err:  # the generator or refiner raised or died, or the learner died
            if self.persistent and self._is_learner_death(err):
                self._learner_lost()
                return None
            return failed_outcome(err)
        if self.persistent and result.get("restarted"):  # died between calls: this one did not train
            self._learner_lost()
            return None
        self._weights = result.pop("weights", None)
        outcome = Outcome.from_dict(result)
        if realism is not None and outcome.ok:
            # The discriminator's mean realism of the batch: a signal where real labels are scarce.
            try:
                outcome.metrics["realism"] = float(ray.get(realism))
            except RayError:
                pass  # the refiner died after refining: the step stands, without this metric
        return outcome

    def _is_learner_death(self, err: RayError) -> bool:
        """Whether the persistent learner itself was lost, not a generator or refiner feeding it.

        A dead input surfaces as a RayTaskError naming the input's actor. Restoring a learner that
        was not lost is harmless (its whole state is set), so anything else counts as a loss."""
        if isinstance(err, RayActorError):
            return getattr(err, "actor_id", None) in (None, self.learners[0]._actor_id.hex())
        return not isinstance(err, RayTaskError)  # e.g. OutOfMemoryError; a RayTaskError: its inputs failed

    def _learner_lost(self) -> None:
        """Ray restarts a dead learner with a fresh model: give it its last told state back so that
        the lost steps are redone on it; never let it train on silently from scratch."""
        retries = self.config.resources.max_task_retries
        if self._persistent_retries >= retries:
            raise LearnerLostError(
                f"resources.max_task_retries: the persistent learner died {self._persistent_retries + 1} "
                f"times in this session (at most {retries} are survived). The run is checkpointed; continue it "
                f"with 'feedback-loop resume {self.run_dir}' (raise resources.max_task_retries to tolerate more)")
        self._persistent_retries += 1
        self._restore_persistent_model()

    def _restore_persistent_model(self, wait_seconds: float = 120.0) -> None:
        """Wait until Ray has the restarted learner back up, then give it the last told state (or
        tell it to start afresh when no step was told yet)."""
        deadline = time.monotonic() + wait_seconds
        learner = self.learners[0]
        while True:
            try:
                ray.get(learner.device_name.remote(), timeout=10)
                break
            except ActorDiedError as err:  # dead for good (no restarts left): no point in waiting
                raise LearnerLostError(
                    f"resources.max_restarts: the persistent learner is dead for good ({err.error_msg.splitlines()[0]}). "
                    f"The run is checkpointed; continue it with 'feedback-loop resume {self.run_dir}'") from err
            except RayError:
                if time.monotonic() > deadline:
                    raise LearnerLostError(
                        f"resources.max_restarts: the persistent learner did not come back within {wait_seconds:.0f} s "
                        f"(max_restarts={self.config.resources.max_restarts}). The run is checkpointed; continue it "
                        f"with 'feedback-loop resume {self.run_dir}'")
                time.sleep(0.5)
        try:
            if self._latest_weights is not None:
                ray.get(learner.set_weights.remote(self._latest_weights))
            elif not self._send_saved_weights(self.state.weights_file, required=bool(self.state.weights_file)):
                ray.get(learner.reset.remote())
        except RayError as err:
            raise LearnerLostError(f"the persistent learner died again while its state was restored ({err}). "
                                   f"The run is checkpointed; continue it with 'feedback-loop resume {self.run_dir}'") from err

    def _send_saved_weights(self, name: str | None, required: bool = False) -> bool:
        """Give the persistent learner the state saved in ``run_dir/name``; False if there is none.

        ``required``: the checkpoint names the file, so a missing one is an error, never a silent
        fresh model."""
        path = self.run_dir / name if name else None
        if path is None or not path.is_file():
            if required:
                raise CheckpointError(f"{self.run_dir / CHECKPOINT_FILE} names {name}, which is missing from "
                                      "the run directory: the persistent learner cannot be resumed")
            return False
        with np.load(path, allow_pickle=False) as saved:
            ray.get(self.learners[0].set_weights.remote({k: saved[k] for k in saved.files}))
        return True

    def _save_weights(self, weights: dict[str, np.ndarray], name: str) -> None:
        atomic_write(self.run_dir / name, lambda handle: np.savez(handle, **weights))

    def _refill(self, in_flight: dict, queue: list[Candidate], max_in_flight: int, started: float) -> None:
        """Ask for (or take back from ``queue``) candidates until ``max_in_flight`` are in flight."""
        while len(in_flight) < max_in_flight and (queue or self._budget_left(len(in_flight), started)):
            candidate = queue.pop(0) if queue else self.policy.ask(1)[0]
            ref, learner_index = self._submit(candidate, step=self.persistent)
            in_flight[ref] = (candidate, learner_index)

    def _log_told(self) -> None:
        """The MLflow child run and parent metrics of every told outcome not yet logged."""
        while self._unlogged:
            candidate, outcome, metrics = self._unlogged[0]
            self.tracker.log_evaluation(metrics["step"], candidate, outcome)
            self.tracker.log_progress(metrics["step"], {k: v for k, v in metrics.items() if k != "step"})
            self._unlogged.pop(0)

    def _tell(self, candidate: Candidate, outcome: Outcome, started: float) -> dict[str, float]:
        """Count the outcome, tell the policy, update best and history; the parent run's metrics.

        The caller logs the child run and checkpoints: an outcome is done once it is in a checkpoint.
        """
        state = self.state
        state.evaluations += 1
        state.failed += 0 if outcome.ok else 1
        state.samples_generated += outcome.samples
        step = state.evaluations
        self.policy.tell(candidate, outcome)
        if self.persistent and outcome.ok and self._weights:
            self._latest_weights = self._unsaved["weights_file"] = self._weights
        improved = outcome.ok and (state.best is None or outcome.score > state.best["score"])
        if improved:
            state.best = {"score": outcome.score, "candidate": candidate.to_dict(), "outcome": outcome.to_dict()}
            if self.persistent and self._weights:  # model selection on validation, as for any learner
                self._unsaved["best_weights_file"] = self._weights
        state.completed_ids.append(candidate.id)
        state.history.append({
            "step": step, "id": candidate.id, "status": outcome.status, "score": outcome.score,
            "best_score": self._best_score(), "samples_generated": state.samples_generated,
            "elapsed": round(self._elapsed(started), 3),
            "params": candidate.params, "ranges": candidate.ranges,
        })
        metrics = {"step": step, "samples_generated": state.samples_generated}
        # Numbers a policy puts on its candidates (e.g. ADR's entropy) are logged for monitoring.
        metrics.update({f"policy_{k}": v for k, v in candidate.info.items()
                        if isinstance(v, (int, float)) and not isinstance(v, bool)})
        if outcome.ok:
            metrics["score"] = outcome.score
        if state.best is not None:
            metrics["best_score"] = state.best["score"]
        return metrics

    def _best_score(self) -> float | None:
        return None if self.state.best is None else self.state.best["score"]

    def _checkpoint(self, pending: list[Candidate] | None = None, started: float | None = None) -> None:
        state = self.state
        state.policy = self.policy.state_dict()
        if pending is not None:
            state.pending = [c.to_dict() for c in pending]
        previous = {field: getattr(state, field) for field in self._unsaved}
        for field, weights in self._unsaved.items():  # the files first, then the checkpoint naming them
            name = PAIRED_FILES[field].format(state.evaluations)
            self._save_weights(weights, name)
            setattr(state, field, name)
        snapshot = dataclasses.asdict(state)
        if started is not None:
            snapshot["elapsed_seconds"] = self._elapsed(started)
        save_checkpoint(self.run_dir / CHECKPOINT_FILE, snapshot)
        self._unsaved.clear()
        for field, name in previous.items():
            if name and name != getattr(state, field):
                (self.run_dir / name).unlink(missing_ok=True)

    def _remove_unpaired_files(self) -> None:
        """Delete state files no checkpoint names (a kill between a file and its checkpoint)."""
        named = {self.state.weights_file, self.state.best_weights_file}
        for pattern in PAIRED_FILES.values():
            for path in self.run_dir.glob(pattern.replace("{:06d}", "*")):
                if path.name not in named:
                    path.unlink(missing_ok=True)

    # -- the end -------------------------------------------------------------------------------
    def _final_scores(self) -> dict[str, float | None]:
        """Test score of the best candidate and the oracle's scores, by retraining the same learner."""
        jobs: dict[str, list[ray.ObjectRef]] = {}
        best = self.state.best
        persistent_test = None
        # A persistent policy delivers its model at the best validation score.
        if self.persistent and self.state.best_weights_file:
            try:
                self._send_saved_weights(self.state.best_weights_file, required=True)
                persistent_test = self.learners[0].test_score.remote(self._real)
            except RayError as err:
                logger.warning("the persistent model could not be re-scored: %s", failed_outcome(err).error)
        elif best is not None and self.real.x_test is not None:
            candidate = Candidate.from_dict(best["candidate"])
            jobs["best"] = [self._submit(candidate, with_test=True)[0]]
        oracle = self.env.oracle_params() if hasattr(self.env, "oracle_params") else None
        if oracle is not None:
            jobs["oracle"] = [
                self._submit(Candidate(id=-1 - k, params=oracle), with_test=True, seed_id=-1 - k)[0]
                for k in range(ORACLE_SEEDS)
            ]
        # A failure here (a dead generator, say) leaves that score None; it never loses the run.
        results = {name: [outcome_or_failed(ref) for ref in refs] for name, refs in jobs.items()}
        scores: dict[str, float | None] = {"test_score": None, "oracle_score": None, "oracle_test_score": None}
        if "best" in results and results["best"][0].ok:
            scores["test_score"] = results["best"][0].metrics.get("test_accuracy")
        if persistent_test is not None:
            try:
                scores["test_score"] = ray.get(persistent_test)
            except RayError as err:
                logger.warning("the persistent model's test score could not be computed: %s", failed_outcome(err).error)
        if "oracle" in results:
            ok = [o for o in results["oracle"] if o.ok]
            if ok:
                scores["oracle_score"] = float(np.mean([o.score for o in ok]))
                tests = [o.metrics["test_accuracy"] for o in ok if "test_accuracy" in o.metrics]
                scores["oracle_test_score"] = float(np.mean(tests)) if tests else None
        return scores

    def _finish(self, started: float) -> dict[str, Any]:
        state = self.state
        state.elapsed_seconds = self._elapsed(started)
        best = state.best
        scores = [h["score"] for h in state.history if h["score"] is not None]
        summary: dict[str, Any] = {
            "policy": self.config.policy.name,
            "sampler": self.config.policy.sampler if self.config.policy.name == "optuna" else None,
            "simulator": self.config.simulator.id,
            "evaluations": state.evaluations,
            "failed_evaluations": state.failed,
            "samples_generated": state.samples_generated,
            "best_score": None if best is None else best["score"],
            "best_params": None if best is None else best["candidate"]["params"],
            "best_ranges": None if best is None else best["candidate"]["ranges"],
            "best_candidate_id": None if best is None else best["candidate"]["id"],
            # The mean shows what a policy's data is worth typically, not only at its luckiest.
            "mean_score": float(np.mean(scores)) if scores else None,
        }
        summary.update(self._final_scores())
        if self.persistent and state.best_weights_file:  # a stable name for the delivered model
            source = self.run_dir / state.best_weights_file
            atomic_write(self.run_dir / BEST_WEIGHTS_FILE, lambda handle: handle.write(source.read_bytes()))
        summary.update({
            "wall_seconds": round(state.elapsed_seconds, 3),
            "mlflow_tracking_uri": self.tracking_uri,
            "mlflow_experiment_id": self.tracker.experiment_id,
            "mlflow_run_id": state.mlflow_run_id,
            "run_dir": str(self.run_dir.resolve()),
            "status": "finished" if best is not None else "failed",
        })
        self._log_best_so_far_plot()
        self._log_best_samples()
        self.tracker.finish_parent(summary, "FINISHED" if best is not None else "FAILED")
        atomic_write_text(self.run_dir / SUMMARY_FILE, json.dumps(summary, indent=2))
        state.status = "finished"
        state.pending = []
        self._checkpoint()
        return summary

    def _log_best_samples(self) -> None:
        """Generated samples at the best parameters next to real ones (and refined ones, with a refiner)."""
        best = self.state.best
        if best is None:
            return
        from .envs.generation import generate_batch
        from .plots import samples_figure

        params, ranges = best["candidate"]["params"], best["candidate"]["ranges"]
        x, y = generate_batch(self.env, params, ranges=ranges, n=400, seed=data_seed(self.config.seed, -7))
        figure = samples_figure(x, y, self.real.x_val, self.real.y_val,
                                title=f"{self.config.name}: generated at the best parameters vs real")
        if figure is not None:
            self.tracker.log_figure(figure, "best_samples.png")
            figure.savefig(self.run_dir / "best_samples.png", dpi=80)
        if self.refiner is not None and x.ndim == 4:
            from .refiners.grid import refinement_grid

            refined, _ = ray.get(self.refiner.refine.remote((x, y)))
            grid = refinement_grid(x, refined, self.real.x_val, self.run_dir / "refinement_grid.png")
            self.tracker.log_figure(grid, "refinement_grid.png")

    def _log_best_so_far_plot(self) -> None:
        from .plots import best_so_far_figure

        figure = best_so_far_figure(self.state.history, title=f"{self.config.name}: {self.config.policy.name}")
        if figure is not None:
            self.tracker.log_figure(figure, "best_score.png")
            figure.savefig(self.run_dir / "best_score.png", dpi=100)


def default_run_dir(config: Config) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{config.name}-{stamp}-{uuid.uuid4().hex[:4]}"


def run_loop(config: Config, run_dir: str | Path | None = None, *, progress: bool = True,
             tracking_uri: str | None = None) -> dict[str, Any]:
    """Python API: run a config to the end and return its summary."""
    runner = LoopRunner(config, run_dir or default_run_dir(config), tracking_uri=tracking_uri)
    return runner.run(progress=progress)


def resume_loop(run_dir: str | Path, *, progress: bool = True) -> dict[str, Any]:
    """Python API: continue an interrupted run from its checkpoint."""
    return LoopRunner.from_run_dir(run_dir).run(progress=progress)

