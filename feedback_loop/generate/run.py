"""``generate_dataset``: check everything, skip what is complete, run the pipeline, write the manifest.

Every check a user can fail (parameters, refiner, output folder) runs before Ray starts, so bad
input costs a second, not a cluster start.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import UserError
from .labelcounts import count_field
from .pipeline import PipelineJob
from .sources import GenerateInputError, Source, check_source
from .spec import DEFAULT_SHARD_SIZE, FORMATS, DatasetSpec, plan_shards

if TYPE_CHECKING:
    from ..tasks import Task


@dataclass
class GenerateResult:
    """What a ``generate_dataset`` call did."""

    out: Path
    manifest: dict[str, Any]
    written: list[int]
    """Indices of the shards written by this call (the others were complete already)."""
    skipped: int
    seconds: float
    placements: list[dict[str, Any]] = field(default_factory=list)
    """Each refined shard's ``{"device", "gpu_ids"}`` as its refiner actor reported them."""


def generate_dataset(source: Source, out: str | Path, n: int, *, shard_size: int = DEFAULT_SHARD_SIZE,
                     fmt: str = "npz", seed: int | None = None, workers: int | None = None,
                     refiner_workers: int = 1, refiner_gpus: float | None = None, progress: bool = True,
                     ray_address: str | None = None,
                     on_shard: Callable[[dict[str, Any]], None] | None = None) -> GenerateResult:
    """Write ``n`` samples from ``source`` into ``out`` as shards plus ``manifest.json``; resumable.

    ``seed`` overrides the source's seed (default 0). ``workers``: render actors, one CPU each
    (default: every CPU of the Ray cluster that the refiner actors leave). ``refiner_gpus``: GPU
    share of each refiner actor (default 0.5 when the cluster has GPUs, else 0). ``on_shard(record)``
    is called with each shard's manifest record as it is written (e.g. for one's own progress)."""
    from ..simulators import checked_simulator, simulator_version
    from .records import complete_records, prepare_out_dir, remove_temp_files, write_manifest

    start = time.perf_counter()
    _check_sizes(n, shard_size, fmt, seed, workers, refiner_workers, refiner_gpus)
    env = checked_simulator(source.sim_id, source.sim_kwargs)
    version = simulator_version(env, source.sim_id)
    check_source(source, env, version)
    seed = int(seed if seed is not None else source.seed if source.seed is not None else 0)
    sample, task = _sample_info(env, source, seed)
    refiner = _load_refiner(source, sample) if source.refiner else None
    spec = DatasetSpec(simulator={"id": source.sim_id, "kwargs": source.sim_kwargs, "version": version},
                       params=source.params, ranges=source.ranges, seed=seed, n=n, shard_size=shard_size,
                       format=fmt, refiner=None if refiner is None else refiner["spec"])
    plan = plan_shards(n, shard_size, seed, fmt)
    out = Path(out)
    saved = prepare_out_dir(out, spec)
    remove_temp_files(out)
    done = complete_records(out, plan, saved, count_field(task))
    pending = [s.index for s in plan if s.index not in done]
    if saved is None or saved.get("status") != "complete" or pending:
        write_manifest(out, spec, plan, sample, source.origin, task=task.spec())  # "incomplete" until the last shard
    placements: list[dict[str, Any]] = []
    if pending:
        job = PipelineJob(
            out=str(out), sim_id=source.sim_id, sim_kwargs=source.sim_kwargs, params=source.params,
            ranges=source.ranges, seed=seed, n=n, shard_size=shard_size, fmt=fmt,
            task=task, workers=workers or 0, refiner_workers=refiner_workers,
            refiner=None if refiner is None else {k: refiner[k] for k in ("name", "options", "weights")})
        _write_pending(job, plan, pending, done, placements, refiner_gpus, progress, ray_address, on_shard)
        manifest = write_manifest(out, spec, plan, sample, source.origin, done, task=task.spec())
    else:
        manifest = saved if saved and saved.get("status") == "complete" else write_manifest(
            out, spec, plan, sample, source.origin, done, task=task.spec())
    return GenerateResult(out, manifest, pending, len(plan) - len(pending), time.perf_counter() - start, placements)


def _write_pending(job: "PipelineJob", plan: list, pending: list[int], done: dict[int, dict[str, Any]],
                   placements: list[dict[str, Any]], refiner_gpus: float | None, progress: bool,
                   ray_address: str | None, on_shard: Callable[[dict[str, Any]], None] | None) -> None:
    """Start (or join) Ray, size the stages to the cluster, and run the pipeline under a progress bar."""
    from tqdm import tqdm

    from ..executors.resources import ensure_ray
    from .pipeline import run_pipeline

    ensure_ray(ray_address)
    job = _fit_to_cluster(job, len(pending), refiner_gpus)
    bar = tqdm(total=len(plan), initial=len(plan) - len(pending), desc="shards", unit="shard", file=sys.stderr,
               dynamic_ncols=True, disable=not progress)
    samples = sum(r["count"] for r in done.values())

    def on_record(record: dict[str, Any], where: str) -> None:
        nonlocal samples
        done[record["index"]] = record
        samples += record["count"]
        if where:
            placements.append(json.loads(where))
        bar.set_postfix_str(f"samples={samples:,}", refresh=False)
        bar.update(1)
        if on_shard is not None:
            on_shard(record)

    try:
        run_pipeline(job, pending, on_record)
    finally:
        bar.close()


def _fit_to_cluster(job: PipelineJob, pending: int, refiner_gpus: float | None) -> PipelineJob:
    """Pool sizes this Ray can place: an actor pool that cannot start would wait forever."""
    import dataclasses

    import ray

    from ..executors.resources import gpus_to_pack
    from .pipeline import REFINER_CPUS

    have = ray.cluster_resources()
    cpus, gpus = float(have.get("CPU", 0)), float(have.get("GPU", 0))
    refiners = job.refiner_workers if job.refiner is not None else 0
    if refiner_gpus is None:  # a GPU share when there is a GPU: two refiner actors per GPU
        refiner_gpus = 0.5 if gpus > 0 and refiners else 0.0
    need = gpus_to_pack([refiner_gpus] * refiners)
    if need > gpus + 1e-9:
        raise UserError(f"--refiner-gpus {refiner_gpus:g}: {refiners} refiner actor(s) need {need} GPU(s) "
                        f"(a share never spans two), Ray has {gpus:g}; use 0 (CPU) or fewer --refiner-workers")
    free = cpus - refiners * REFINER_CPUS  # render actors take 1 CPU each
    if free < 1:
        raise UserError(f"--refiner-workers {refiners}: the refiner actors take {refiners * REFINER_CPUS:g} of Ray's "
                        f"{cpus:g} CPUs and leave none to render; use fewer")
    if job.workers and job.workers > free + 1e-9:
        raise UserError(f"--workers {job.workers}: Ray has {cpus:g} CPUs"
                        f"{f' ({refiners * REFINER_CPUS:g} for the refiner)' if refiners else ''}; "
                        f"use at most {int(free)}")
    return dataclasses.replace(job, workers=min(job.workers or int(free), pending),
                               refiner_workers=max(1, min(job.refiner_workers, pending)), refiner_gpus=refiner_gpus)


def _check_sizes(n: int, shard_size: int, fmt: str, seed: int | None, workers: int | None, refiner_workers: int,
                 refiner_gpus: float | None) -> None:
    if n < 1:
        raise UserError(f"--n {n}: must be at least 1")
    if shard_size < 1:
        raise UserError(f"--shard-size {shard_size}: must be at least 1")
    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: use one of {list(FORMATS)}")
    if seed is not None and seed < 0:
        raise UserError(f"--seed {seed}: must be 0 or more")
    if workers is not None and workers < 1:
        raise UserError(f"--workers {workers}: must be at least 1")
    if refiner_workers < 1:
        raise UserError(f"--refiner-workers {refiner_workers}: must be at least 1")
    if refiner_gpus is not None and refiner_gpus < 0:
        raise UserError(f"--refiner-gpus {refiner_gpus}: must be 0 or more")


def _sample_info(env: Any, source: Source, seed: int) -> tuple[dict[str, Any], "Task"]:
    """Shape and dtype of one sample and its label, from two rendered here (also a quick check that
    rendering works), and the task the labels serve, bound to them.

    The task is the run's (``--from``) or the params file's when it names one, else the simulator's
    declared task; ``num_classes`` is recorded only for a task with classes."""
    import numpy as np

    from ..envs.generation import generate_batch
    from ..tasks import TaskError, build_task, declared_task

    try:
        x, y = generate_batch(env, source.params, 2, seed, source.ranges)
    except (ValueError, TypeError) as err:
        raise GenerateInputError(f"{source.sim_id} cannot render these parameters: {err}") from None
    try:
        task = build_task(source.task) if source.task is not None else declared_task(env)
        task.bind(env, np.asarray(y))  # fills in only what the spec leaves open (a segmentation's map shape)
    except (TaskError, ImportError) as err:
        which = f"task {source.task.get('name')!r}" if isinstance(source.task, dict) else "its declared task"
        raise GenerateInputError(f"{source.label}: {source.sim_id}'s labels do not fit {which} "
                                 f"(the labels of 2 samples checked as data.real): {err}") from None
    sample = {"x_shape": list(x.shape[1:]), "x_dtype": str(x.dtype), "y_shape": list(task.label_shape()),
              "y_dtype": np.dtype(task.label_dtype).name}
    if hasattr(task, "num_classes"):  # classification, segmentation: classes to count
        sample["num_classes"] = task.num_classes
    return sample, task


def _load_refiner(source: Source, sample: dict[str, Any]) -> dict[str, Any]:
    """The refiner's weights, checked here (they load into the named refiner, samples are images)."""
    from ..refiners import load_state, make_refiner
    from .shardfile import sha256_file

    ref = source.refiner
    if len(sample["x_shape"]) != 3:
        raise GenerateInputError(f"--refiner: refiners take image samples (C, H, W); {source.sim_id} renders "
                                 f"samples of shape {tuple(sample['x_shape'])}")
    try:
        name, weights = load_state(ref.weights)
        name = name or ref.name
        if ref.name and name != ref.name:
            raise ValueError(f"{str(ref.weights)!r} holds weights of refiner {name!r}, not {ref.name!r}")
        make_refiner(name, ref.options).load_state_dict(weights)
    except ValueError as err:
        raise GenerateInputError(f"--refiner: {err}") from None
    return {"name": name, "options": ref.options, "weights": weights,
            "spec": {"name": name, "options": ref.options, "weights_sha256": sha256_file(ref.weights)}}
