"""The Ray Data pipeline: shard ids → render → (refine) → write, streamed shard by shard.

    shard ids (the pending ones, one per block)
      ─▶ map_batches(RenderShards)   actor pool, 1 CPU each: render (and write, without a refiner)
      ─▶ map_batches(RefineShards)   optional actor pool, a GPU share each when Ray has GPUs: refine, write
      ─▶ driver: one small record per written shard (the progress bar)

One row is one whole shard, so each shard is rendered, refined and written by exactly one call and
its bytes depend on nothing but its index. The samples never reach the driver: Ray Data's streaming
executor keeps a bounded number of shards in flight (backpressure: a stage only gets new shards as
the next one takes them), and each shard is written by the last stage that touches it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .spec import ShardPlan, shard_at

if TYPE_CHECKING:
    from ..tasks import Task

REFINER_CPUS = 1.0  # per refiner actor; torch runs on one thread so outputs do not depend on the pool


@dataclass(frozen=True)
class PipelineJob:
    """Everything the workers need, sent with the stages (small: parameters, not data)."""

    out: str
    sim_id: str
    sim_kwargs: dict[str, Any]
    params: dict[str, Any]
    ranges: dict[str, list[float]] | None
    seed: int
    n: int
    shard_size: int
    fmt: str
    task: "Task"
    """The bound task: the labels' dtype and shape, checked per shard, and what the manifest counts."""
    workers: int
    refiner: dict[str, Any] | None = None
    """``{"name", "options", "weights"}`` (weights as numpy arrays), or None."""
    refiner_workers: int = 1
    refiner_gpus: float = 0.0

    def shard(self, index: int) -> ShardPlan:
        # Recomputed on the worker from (n, shard_size, seed): nothing per shard needs to travel.
        return shard_at(index, self.n, self.shard_size, self.seed, self.fmt)


# -- the stages (actors of Ray Data's pools) -----------------------------------------------------------------
# Actors, not tasks: a simulator (Digits takes a second or two to build) and a refiner are set up once
# per actor, and Ray Data keeps a pool of actors busy back to back, where tasks (one worker lease
# each) left a 2-CPU machine idle a third of the time.
class RenderShards:
    """A simulator in an actor: renders whole shards (vectorized ``sample_batch``), and writes them
    too when no refiner follows (so the samples never pass through the object store)."""

    def __init__(self, job: PipelineJob, write: bool) -> None:
        import sys

        from ..simulators import make_simulator

        self.job, self.write = job, write
        self.env = make_simulator(job.sim_id, job.sim_kwargs)
        if "torch" in sys.modules:  # a simulator rendering with torch: one thread, the actor's one CPU
            sys.modules["torch"].set_num_threads(1)  # (not importing torch for those that do not)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from ..envs.generation import generate_batch

        (index,) = batch["id"].tolist()
        shard = self.job.shard(int(index))
        x, y = generate_batch(self.env, self.job.params, shard.count, shard.seed, self.job.ranges)
        y = np.asarray(y, dtype=self.job.task.label_dtype)  # int64 classes, float32 vectors: as the task stores them
        # A shard whose labels the task cannot train on is an error, not a file (the message names the shard).
        self.job.task.check_labels(y, f"{self.job.sim_id} shard {shard.index} ({shard.file})")
        if self.write:
            return write_shard(self.job, shard, x, y, "")
        return {"id": np.array([shard.index]), "x": x[None], "y": y[None]}


class RefineShards:
    """A fitted refiner in an actor (on its GPU share, if any): refines whole shards, labels untouched,
    and writes them."""

    def __init__(self, job: PipelineJob, refiner: dict[str, Any]) -> None:
        import ray

        from ..learners import limit_torch_threads, pick_device
        from ..refiners import make_refiner

        limit_torch_threads(REFINER_CPUS)
        self.job = job
        self.gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        self.device = pick_device(self.gpu_ids)  # CUDA only when this actor got a GPU and torch sees one
        self.refiner = make_refiner(refiner["name"], refiner["options"], device=self.device)
        self.refiner.load_state_dict(refiner["weights"])

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        shard = self.job.shard(int(batch["id"][0]))
        refined = self.refiner.refine(np.asarray(batch["x"][0]))
        where = json.dumps({"device": str(self.device), "gpu_ids": self.gpu_ids})
        return write_shard(self.job, shard, refined, np.asarray(batch["y"][0]), where)


def write_shard(job: PipelineJob, shard: ShardPlan, x: np.ndarray, y: np.ndarray, where: str) -> dict[str, np.ndarray]:
    """Write one shard atomically, then its record; the record (small) is what goes to the driver."""
    from .records import shard_record, write_record
    from .shardfile import encode_shard, sha256_bytes, write_atomic

    data = encode_shard(x, y, job.fmt)
    write_atomic(Path(job.out) / shard.file, data)
    record = shard_record(shard, sha256_bytes(data), len(data), y, job.task)
    write_record(Path(job.out), record)  # after the rename: a record always describes a whole file
    return {"record": np.array([json.dumps(record)]), "refiner": np.array([where])}


# -- the driver --------------------------------------------------------------------------------------------
def build_dataset(job: PipelineJob, pending: list[int]) -> Any:
    """The lazy Ray Dataset that writes the ``pending`` shards and yields their records."""
    import ray.data

    # The shard ids as in-memory blocks, one id per block (one call per shard). Not ray.data.range:
    # its read tasks would wait for CPUs that the actor pools hold.
    ds = ray.data.from_items([{"id": i} for i in pending], override_num_blocks=len(pending))
    light = dataclasses.replace(job, refiner=None)  # the render actors need no refiner weights
    ds = ds.map_batches(RenderShards, batch_size=1, fn_constructor_kwargs={"job": light, "write": job.refiner is None},
                        compute=ray.data.ActorPoolStrategy(size=job.workers), num_cpus=1)
    if job.refiner is not None:
        # Ray Data restarts a lost actor (its default). Ray 2.60 logs one "constructor arguments in
        # the object store" line per actor of any actor pool (ray-project/ray#57733): harmless.
        ds = ds.map_batches(RefineShards, batch_size=1, fn_constructor_kwargs={"job": light, "refiner": job.refiner},
                            compute=ray.data.ActorPoolStrategy(size=job.refiner_workers),
                            num_cpus=REFINER_CPUS, num_gpus=job.refiner_gpus or None)
    return ds


def run_pipeline(job: PipelineJob, pending: list[int], on_record: Callable[[dict[str, Any], str], None]) -> None:
    """Write the ``pending`` shards; ``on_record(record, refiner_where)`` as each one completes."""
    import ray.data

    ctx = ray.data.DataContext.get_current()
    saved = ctx.enable_progress_bars, ctx.print_on_execution_start
    quiet = logging.getLogger("ray.data")
    level = quiet.level
    # Our own progress bar, one per shard; Ray Data's bars and start/finish lines would interleave with it.
    ctx.enable_progress_bars, ctx.print_on_execution_start = False, False
    quiet.setLevel(logging.ERROR)
    try:
        for batch in build_dataset(job, pending).iter_batches(batch_size=1, batch_format="numpy"):
            for record, where in zip(batch["record"], batch["refiner"]):
                on_record(json.loads(str(record)), str(where))
    finally:
        ctx.enable_progress_bars, ctx.print_on_execution_start = saved
        quiet.setLevel(level)
