"""``RefinerActor``: a refiner as a Ray actor between the generator and the learner actors.

The driver fits it once on synthetic shards and the *unlabeled* real samples, then passes each
generated shard's ObjectRef through ``refine`` and the result's ObjectRef on to a learner: Ray
resolves top-level ObjectRef arguments, so the driver never waits on the data itself.

    actor = RefinerActor.options(num_cpus=1, num_gpus=0.25).remote("simgan", {"steps": 500})
    actor.fit.remote(shard_ref_1, shard_ref_2, real_x)      # shards are (x, y); labels unused
    refined_ref = actor.refine.remote(shard_ref)             # -> (x_refined, y)
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import ray

from ..learners import limit_torch_threads, pick_device
from . import make_refiner


def _images(shard: Any) -> np.ndarray:
    """The images of a shard given as ``(x, y)`` or as a bare array."""
    if isinstance(shard, (tuple, list)):
        if len(shard) != 2:
            raise ValueError(f"a shard is an (x, y) pair; got a sequence of {len(shard)}")
        return np.asarray(shard[0])
    return np.asarray(shard)


@ray.remote
class RefinerActor:
    """Fits one refiner and refines shards as they stream from generators to learners.

    On CUDA when the actor was given a GPU share (``.options(num_gpus=0.25)``) and torch sees one,
    on CPU otherwise; ``num_cpus`` caps torch's threads so the actor stays inside its CPU share.
    """

    def __init__(self, name: str = "simgan", options: dict[str, Any] | None = None, num_cpus: float = 1.0) -> None:
        limit_torch_threads(num_cpus)
        self.device = pick_device(ray.get_gpu_ids())
        self.refiner = make_refiner(name, options, device=self.device)

    def fit(self, *args: Any, steps: int | None = None) -> dict[str, float]:
        """``fit(shard, ..., real_x)``: synthetic shards ``(x, y)`` (labels ignored), then the unlabeled
        real images. Returns a summary: samples, steps, seconds, and the last loss record."""
        if len(args) < 2:
            raise ValueError("fit(synthetic_shard, ..., real_x): give at least one shard and the real images")
        *shards, real_x = args
        x = np.concatenate([_images(s) for s in shards])
        start = time.perf_counter()
        records = self.refiner.fit(x, np.asarray(real_x), steps=steps)
        summary = {"samples": float(len(x)), "real_samples": float(len(real_x)), "records": float(len(records)),
                   "seconds": time.perf_counter() - start}
        if records:
            summary.update({k: v for k, v in records[-1].items() if k != "step"})
        return summary

    def refine(self, shard: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y) -> (refined x, y)``: the same shape, dtype float32 and value range; labels untouched."""
        if not isinstance(shard, (tuple, list)) or len(shard) != 2:
            raise ValueError("refine takes a shard (x, y) as returned by GeneratorActor.generate")
        x, y = shard
        return self.refiner.refine(np.asarray(x)), np.asarray(y)

    def realism(self, shard: Any) -> float:
        """Mean discriminator realism in [0, 1] of a shard ``(x, y)`` or an image batch (for ``Outcome.metrics``)."""
        return float(np.mean(self.refiner.realism(_images(shard))))

    def losses(self) -> list[dict[str, float]]:
        """Every per-step loss record so far: ``{"step": i, name: value, ...}`` (log with ``step=i``)."""
        return self.refiner.losses

    def get_weights(self) -> dict[str, np.ndarray]:
        return self.refiner.state_dict()

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        self.refiner.load_state_dict(weights)

    def device_name(self) -> str:
        return str(self.device)
