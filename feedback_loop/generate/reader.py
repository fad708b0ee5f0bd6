"""Reading a generated dataset back with torch: ``ShardDataset``, an ``IterableDataset``.

It reads only the shards that ``manifest.json`` lists, and only from a complete dataset (a
half-generated folder is refused with the command that finishes it). Ray Data needs no helper:
``ray.data.read_parquet(DIR)`` reads a parquet dataset, samples and array labels with their shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from .records import OutputDirError, read_manifest
from .shardfile import read_shard, sha256_file


def load_manifest(out_dir: str | Path) -> dict[str, Any]:
    """The manifest of a complete dataset; ``OutputDirError`` if it is missing or incomplete."""
    manifest = read_manifest(Path(out_dir))
    if manifest.get("status") != "complete":
        raise OutputDirError(f"{str(out_dir)!r} is an incomplete dataset; finish it by running the same "
                             "`feedback-loop generate` command again")
    return manifest


class ShardDataset(IterableDataset):
    """Samples ``(x, y)`` as tensors, shard by shard: ``x`` in the simulator's dtype and shape, ``y`` as
    the task stores it (``manifest["sample"]``: a 0-d int64 class index, a float32 vector, an int64
    class map).

    With a ``DataLoader`` of several workers, each worker reads its own shards (round robin), so
    every sample is yielded exactly once per epoch. ``shuffle=True`` shuffles the shard order and
    the samples within each shard, differently each epoch (``set_epoch``), reproducibly from
    ``seed``. ``verify=True`` checks each shard's SHA-256 against the manifest before reading it.
    """

    def __init__(self, out_dir: str | Path, *, shuffle: bool = False, seed: int = 0, verify: bool = False) -> None:
        self.out_dir = Path(out_dir)
        self.manifest = load_manifest(self.out_dir)
        self.shards = self.manifest["shards"]
        self.shuffle, self.seed, self.verify, self.epoch = shuffle, seed, verify, 0

    def __len__(self) -> int:
        return int(self.manifest["counts"]["samples"])

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(len(self.shards)) if self.shuffle else np.arange(len(self.shards))
        worker = get_worker_info()
        if worker is not None:  # round robin over the DataLoader's workers
            order = order[worker.id::worker.num_workers]
        for i in order:
            x, y = self._read(self.shards[int(i)])
            samples = rng.permutation(len(y)) if self.shuffle else range(len(y))
            for j in samples:
                yield torch.from_numpy(np.array(x[j])), torch.from_numpy(np.array(y[j]))

    def _read(self, record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        path = self.out_dir / record["file"]
        if self.verify and sha256_file(path) != record["sha256"]:
            raise OutputDirError(f"{str(path)!r}: SHA-256 differs from manifest.json (the file changed); "
                                 "delete it and run the same `feedback-loop generate` command again")
        return read_shard(path)
