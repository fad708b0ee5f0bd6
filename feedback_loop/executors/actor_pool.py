"""``ActorPool``: a run's generator and learner actors, where they are placed, and rendering shards.

It starts (and kills) the actors, named ``feedback-loop-RUNID-*``: generators, each holding the
simulator, and learners, each holding a ``TaskLearner`` for the run's task. ``shard`` asks a
generator for one shard of a job's data and returns its ref without waiting. What runs on the
actors, and in which order, is ``RayExecutor``'s business.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ray

from .. import seeds
from ..actors import GeneratorActor, LearnerActor
from ..config import Config
from ..envs import RealData
from .resources import check_fits, ensure_ray, in_slot, joins_a_cluster, slot_placement_groups
from .shares import fitted, learners_setting


class ActorPool:
    """Generators and ``learners`` learner actors for one run (``persistent``: learners never retry a step)."""

    def __init__(self, config: Config, prefix: str, learners: int, persistent: bool, input_shape: tuple[int, ...],
                 task_spec: dict[str, Any]) -> None:
        self.config, self.prefix = config, prefix
        self.learner_count, self.persistent = learners, persistent
        self.input_shape, self.task_spec = tuple(input_shape), task_spec
        self.generators: list = []
        self.learners: list = []
        self.slots: list = []  # placement groups, one per learner slot (resources.placement: pack)
        self.real: list[ray.ObjectRef] = []
        self._next_generator = 0
        self.refiner_config = config.refiner  # its shares decided at start (shares.fitted)

    def start(self, real: RealData) -> None:
        """Join or start Ray, check the actors fit, and start them; the real data go to the object store."""
        res = self.config.resources
        ensure_ray(res.ray_address)
        learners = self.learner_count
        generators = learners if res.placement == "pack" else res.generators
        # unset shares fitted to what Ray has; a cluster may grow, so only a local Ray refuses
        strict = not joins_a_cluster(res.ray_address)
        res, refiner = fitted(self.config, generators, learners, self.persistent, ray.cluster_resources(), strict)
        self.refiner_config = refiner
        if strict:
            check_fits(res, generators, learners, (refiner.cpus, refiner.gpus) if refiner.name != "none" else None,
                       lower=learners_setting(self.config, self.persistent))
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
        self.real = [ray.put((real.x_val, real.y_val, real.x_test, real.y_test, real.x_unlabeled))]
        learner = {**dataclasses.asdict(self.config.learner), "objective": dataclasses.asdict(self.config.objective)}
        self.learners = [
            LearnerActor.options(num_cpus=res.learner_cpus, num_gpus=res.learner_gpus,
                                 name=f"{self.prefix}-learner-{i}", max_restarts=res.max_restarts,
                                 # a restarted persistent learner has lost its model: never retry its steps
                                 max_task_retries=0 if self.persistent else res.max_task_retries,
                                 **in_slot(self.slots, i, 1)).remote(
                learner, self.input_shape, self.task_spec, res.learner_cpus)
            for i in range(learners)]

    def shard(self, params: dict, ranges: dict | None, n: int, seed_id: int, shard: int = 0,
              generator: int | None = None) -> ray.ObjectRef:
        """One shard of data stream ``seed_id`` rendered by ``generator`` (None: the next, round robin)."""
        if generator is None:
            generator = self._next_generator % len(self.generators)
            self._next_generator += 1
        return self.generators[generator].generate.remote(params, ranges, n,
                                                          seeds.data_seed(self.config.seed, seed_id, shard))

    def close(self) -> None:
        for actor in self.generators + self.learners:
            ray.kill(actor, no_restart=True)
        for group in self.slots:
            ray.util.remove_placement_group(group)
        self.generators, self.learners, self.slots = [], [], []
