"""Executors run jobs (train on a candidate's fresh data, score on real validation data).

``RayExecutor`` runs them on Ray actors, ``InProcessExecutor`` in this process; both follow the
``Executor`` contract in ``base.py``, so the loop, its tests and the benchmarks use either.
"""

from .base import Executor, LearnerLostError, RayLostError, ResourceError, data_seed, job_shards, shard_sizes
from .inprocess import InProcessExecutor

__all__ = ["Executor", "LearnerLostError", "RayLostError", "ResourceError", "InProcessExecutor", "data_seed", "job_shards", "shard_sizes"]
