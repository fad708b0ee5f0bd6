"""Ray itself: starting or joining it, checking that the actors fit, and placement groups."""

from __future__ import annotations

import logging
import os
import socket
from typing import Any

import ray

from ..config import ConfigError, ResourcesConfig
from .base import ResourceError


logger = logging.getLogger(__name__)


def ensure_ray(address: str | None) -> None:
    """Start a Ray of this run's own (dashboard on 127.0.0.1 only), or connect to ``address`` (``auto``:
    the cluster ``ray start`` started on this machine) or to ``RAY_ADDRESS`` (a Ray job's driver has
    it); reuse one this process already runs.

    Without an address Ray's own default would join the last ``ray start`` node on the machine (and
    die with it); ``address="local"`` always starts a new one, whatever else runs there.

    User code named as ``module:Class`` from the current folder (see ``imports.py``) reaches the
    workers without a runtime_env of ours:

    - a local Ray started here: Ray puts the driver's current folder first on every worker's
      ``sys.path`` (for any job without a ``working_dir``), and local workers start in it, so
      nothing is uploaded and nothing is copied (``tests/test_plugins_cwd.py`` checks this through
      the real command line). A ``working_dir`` would zip and upload the whole folder (runs,
      MLflow stores, data) at every start, and fails past Ray's size limit;
    - a cluster: submit with ``ray job submit --working-dir . -- feedback-loop run my.yaml``. Ray
      ships the folder, starts the driver and every worker in its copy, and this driver joins that
      job's Ray (``RAY_ADDRESS``) with the job's runtime_env untouched: a runtime_env given here
      would be merged with the job's, and a conflicting key is an error.
    """
    if ray.is_initialized():
        return
    check_reachable(address)
    # Ray (2.59+) turns on token authentication for every new local cluster and says so at each
    # start. It stays on (a safe default); the notice is shown only with --debug (see docs/guides/reliability.md).
    notice = logging.getLogger("ray._private.authentication.authentication_token_setup")
    if notice.level == logging.NOTSET:
        notice.setLevel(logging.ERROR)
    try:
        ray.init(address=address or ("local" if not joins_a_cluster(None) else None), dashboard_host="127.0.0.1",
                 include_dashboard=False, logging_level="WARNING", log_to_driver=True)
    except (ConnectionError, RuntimeError, ValueError) as err:
        raise ConfigError(
            f"resources.ray_address: cannot connect to Ray at {address!r}: {err}. "
            "Leave it unset for a local Ray, or give the address printed by 'ray start --head'."
        ) from err
    warn_if_code_not_shipped(address)


def warn_if_code_not_shipped(address: str | None) -> str | None:
    """Warn (and return the warning) when modules imported from the current folder may be missing
    on the workers: a multi-node cluster or a Ray Client connection, and no ``working_dir`` shipped."""
    from ..imports import modules_from_cwd

    if not modules_from_cwd:
        return None
    try:
        runtime_env = ray.get_runtime_context().runtime_env or {}
        shipped = bool(runtime_env.get("working_dir") or runtime_env.get("py_modules"))
        client = bool(address and address.startswith("ray://"))
        nodes = sum(1 for node in ray.nodes() if node.get("Alive")) if not client else 0
    except Exception:  # never let a diagnostic stop a run
        return None
    if shipped or not (client or nodes > 1):
        return None
    message = (
        f"module(s) {sorted(modules_from_cwd)} come from the current folder {os.getcwd()}, which this "
        f"{'Ray Client connection' if client else f'{nodes}-node cluster'} does not ship to its workers; "
        "if they fail to import them, submit the run with 'ray job submit --working-dir . -- feedback-loop run ...'"
    )
    logger.warning(message)
    return message


def joins_a_cluster(address: str | None) -> bool:
    """Whether the driver joins a cluster (an address, or ``RAY_ADDRESS`` as a Ray job's driver has)
    rather than starting its own Ray: a cluster may grow (autoscaling), a local Ray never does."""
    return address is not None or bool(os.environ.get("RAY_ADDRESS"))


def ray_is_gone(timeout: float = 2.0) -> bool:
    """Whether this process's Ray has gone away (its GCS no longer accepts connections): stopped by
    ``ray stop`` or killed, rather than one actor or node lost within a live cluster."""
    if not ray.is_initialized():
        return True
    try:
        address = ray.get_runtime_context().gcs_address
    except Exception:  # cannot tell (e.g. a Ray Client connection): Ray's own retries decide
        return False
    host, _, port = (address or "").rpartition(":")
    if not host or not port.isdigit():
        return False  # cannot tell: treat as alive (Ray's own retries decide)
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError:
        return True
    return False


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


def check_fits(res: ResourcesConfig, generators: int, learners: int, refiner: tuple[float, float] | None,
               lower: str = "resources.learners") -> None:
    """Refuse, with a clear message, actors that this (single-node) Ray could never place.

    Ray never splits a fractional GPU request over two GPUs, so GPU shares are bin-packed
    (3 learners × 0.6 do not fit on 2 GPUs although 1.8 ≤ 2); otherwise the run would hang
    with an actor pending forever. ``refiner`` is its (cpus, gpus), or None; ``lower``: the setting
    that decides the number of learners (``shares.learners_setting``), named in the advice.
    """
    have = ray.cluster_resources()
    refiner_cpus = refiner[0] if refiner else 0.0
    need_cpu = generators * res.generator_cpus + learners * res.learner_cpus + refiner_cpus
    requests = [res.generator_gpus] * generators + [res.learner_gpus] * learners + ([refiner[1]] if refiner else [])
    need_gpu = gpus_to_pack(requests)
    if need_cpu > have.get("CPU", 0) + 1e-9:
        raise ResourceError(
            f"resources: the actors ask for {need_cpu:g} CPUs ({generators} generators × "
            f"{res.generator_cpus:g} + {learners} learners × {res.learner_cpus:g}"
            f"{f' + refiner {refiner_cpus:g}' if refiner_cpus else ''}) but Ray has "
            f"{have.get('CPU', 0):g}; lower {lower} or the *_cpus shares")
    if need_gpu > int(have.get("GPU", 0) + 1e-9):
        raise ResourceError(
            f"resources: the actors need {need_gpu} GPUs ({generators} generators × "
            f"{res.generator_gpus:g} + {learners} learners × {res.learner_gpus:g}, a fractional "
            f"share never spanning two GPUs) but Ray has {have.get('GPU', 0):g}; "
            f"lower {lower} or resources.learner_gpus (e.g. 0.5 packs 2 learners per GPU), "
            "or set the *_gpus to 0 on a machine without GPUs")


def slot_placement_groups(res: ResourcesConfig, count: int, timeout: float = 120) -> list:
    """One STRICT_PACK placement group per learner slot: [generator bundle, learner bundle]."""
    from ray.util.placement_group import placement_group

    def bundle(cpus: float, gpus: float) -> dict[str, float]:
        return {"CPU": cpus, **({"GPU": gpus} if gpus else {})}

    groups = [placement_group([bundle(res.generator_cpus, res.generator_gpus),
                               bundle(res.learner_cpus, res.learner_gpus)], strategy="STRICT_PACK")
              for _ in range(count)]
    ready, _ = ray.wait([g.ready() for g in groups], num_returns=count, timeout=timeout)
    if len(ready) < count:
        for group in groups:
            ray.util.remove_placement_group(group)
        raise ResourceError(
            f"resources.placement: only {len(ready)} of {count} placement groups (generator + learner "
            f"on one node) could be placed within {timeout:.0f} s; lower resources.learners or the *_cpus/_gpus shares")
    return groups


def in_slot(groups: list, slot: int, bundle: int) -> dict[str, Any]:
    """Actor options that put it into bundle ``bundle`` of slot ``slot``'s placement group (none: {})."""
    if not groups:
        return {}
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    return {"scheduling_strategy": PlacementGroupSchedulingStrategy(
        placement_group=groups[slot], placement_group_bundle_index=bundle)}
