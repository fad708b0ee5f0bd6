"""Generating datasets at scale on Ray Data.

``feedback-loop generate`` (``command.py``) renders N samples with a run's (or a params file's)
parameters into shard files plus ``manifest.json``. The parts, one job each:

- ``sources.py``: the parameters, from a params file or a finished run, checked;
- ``spec.py``: what identifies a dataset, and its shards with their seeds;
- ``pipeline.py``: the Ray Data pipeline (render → optional refiner actor pool → write);
- ``shardfile.py``: one shard's deterministic bytes, atomic write, checksum, reading back;
- ``records.py``: which shards are complete (checksum records) and ``manifest.json``;
- ``labelcounts.py``: what the manifest counts in the labels (what the task counts: classes, pixels
  per class, or per-target statistics);
- ``run.py``: ``generate_dataset``, which checks, resumes and runs all of the above;
- ``reader.py``: ``ShardDataset`` (torch); Ray Data reads parquet shards with ``ray.data.read_parquet``.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ShardDataset", "generate_dataset", "load_manifest", "load_params_file",
           "load_run_dir", "read_shard"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `feedback-loop --help` does not import torch or Ray for this subcommand.
    if name in ("ShardDataset", "load_manifest"):
        from . import reader

        return getattr(reader, name)
    if name == "generate_dataset":
        from .run import generate_dataset

        return generate_dataset
    if name in ("load_params_file", "load_run_dir"):
        from . import sources

        return getattr(sources, name)
    if name == "read_shard":
        from .shardfile import read_shard

        return read_shard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
