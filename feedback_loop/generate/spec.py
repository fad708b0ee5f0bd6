"""What a generated dataset is: its identity (``DatasetSpec``) and its shards (``ShardPlan``).

Everything a shard's bytes depend on is in the spec, and each shard's seed is a pure function of
the spec's seed and the shard's index, so the same spec gives byte-identical shards however many
workers render them. A rerun into the same folder must match the spec saved there (``differences``),
so one folder never mixes two datasets.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

FORMATS = ("npz", "parquet")
DEFAULT_SHARD_SIZE = 10_000
# A seed stream of its own: a generated dataset never repeats the data of the loop's jobs.
GENERATE_STREAM = 0x6E4E


@dataclass(frozen=True)
class ShardPlan:
    """One shard: its index, sample count, seed and file name inside the output folder."""

    index: int
    count: int
    seed: int
    file: str


def shard_seed(seed: int, index: int) -> int:
    """The seed of shard ``index`` of a dataset seeded ``seed`` (independent streams per shard)."""
    return int(np.random.SeedSequence([int(seed), GENERATE_STREAM, int(index)]).generate_state(1)[0])


def shard_at(index: int, n: int, shard_size: int, seed: int, fmt: str) -> ShardPlan:
    """Shard ``index`` of ``n`` samples in shards of ``shard_size`` (the last holds the remainder)."""
    width = max(5, len(str(math.ceil(n / shard_size) - 1)))
    return ShardPlan(index, min(shard_size, n - index * shard_size), shard_seed(seed, index),
                     f"shard-{index:0{width}d}.{fmt}")


def plan_shards(n: int, shard_size: int, seed: int, fmt: str) -> list[ShardPlan]:
    """Every shard of ``n`` samples in shards of ``shard_size``."""
    return [shard_at(i, n, shard_size, seed, fmt) for i in range(math.ceil(n / shard_size))]


def plain(value: Any) -> Any:
    """``value`` as JSON gives it back (numpy scalars to Python, tuples to lists), for comparisons."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


@dataclass(frozen=True)
class DatasetSpec:
    """Everything the bytes of a generated dataset depend on (saved at the top of manifest.json)."""

    simulator: dict[str, Any]
    """``{"id", "kwargs", "version"}`` of the simulator that renders the samples."""
    params: dict[str, Any]
    """A value for every parameter of the simulator's ``param_space``."""
    ranges: dict[str, list[float]] | None
    """Per-sample uniform ranges of randomized parameters (domain randomization), or None."""
    seed: int
    n: int
    shard_size: int
    format: str
    refiner: dict[str, Any] | None
    """``{"name", "options", "weights_sha256"}`` of the refiner the shards went through, or None."""

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))

    def differences(self, saved: dict[str, Any]) -> list[str]:
        """``"KEY: SAVED in the folder, NOW now"`` for every key where ``saved`` (a manifest) differs."""
        mine = self.to_dict()
        return [f"{key}: {_short(saved.get(key))} in the folder, {_short(value)} now"
                for key, value in mine.items() if plain(saved.get(key)) != value]


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."
