"""The optional refiner stage: a ``RefinerActor`` between the generators and the learners.

It is fitted on synthetic shards and the real validation inputs *without labels* (at nominal
parameters when a run starts, at the best parameters so far on every refresh); its weights are saved
in the run directory after every fit, so a resumed run refines exactly as before.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import ray

from ..config import RefinerConfig

REFINER_FILE = "refiner_weights.npz"  # the refiner's weights (numpy only, no pickle)


class RefinerStage:
    """Holds the refiner actor; ``refine`` passes shard refs through it without waiting on them."""

    def __init__(self, cfg: RefinerConfig, run_dir: Path, name: str, max_restarts: int, real_x: np.ndarray,
                 on_losses: Callable[[list[dict[str, float]]], None] | None = None) -> None:
        from ..refiners.actor import RefinerActor

        self.cfg = cfg
        self.path = Path(run_dir) / REFINER_FILE
        self.on_losses = on_losses or (lambda records: None)
        self.actor = RefinerActor.options(num_cpus=cfg.cpus, num_gpus=cfg.gpus, name=name,
                                          max_restarts=max_restarts).remote(cfg.name, cfg.options, cfg.cpus)
        self._real_x = ray.put(real_x)  # only the real inputs, never their labels, reach the refiner
        self._records_logged = 0
        self.refits = 0  # multiples of refresh_every the search has crossed and refit at (checkpointed)

    def start(self, shard: Callable[[dict, dict | None, int], ray.ObjectRef], nominal: dict[str, Any]) -> None:
        """Restore the saved weights (a resumed run) or fit afresh at nominal parameters.

        ``shard(params, ranges, n)`` renders ``n`` synthetic samples and returns their ref."""
        from ..refiners import load_state

        if self.path.is_file():
            ray.get(self.actor.set_weights.remote(load_state(self.path)[1]))
        else:
            self.fit(shard(nominal, None, self.cfg.fit_samples), steps=None)

    def fit(self, shard_ref: ray.ObjectRef, steps: int | None) -> None:
        """Fit (or continue fitting) on a synthetic shard, save the weights, report new loss records."""
        from ..refiners import save_state

        ray.get(self.actor.fit.remote(shard_ref, self._real_x, steps=steps))
        save_state(ray.get(self.actor.get_weights.remote()), self.cfg.name, self.path)
        records = ray.get(self.actor.losses.remote())
        self.on_losses(records[self._records_logged:])
        self._records_logged = len(records)

    def due(self, evaluations: int, searching: bool) -> bool:
        """Whether the search has crossed a multiple of ``refresh_every`` it has not refit at yet.

        Keyed to the crossing, not to the count sitting on a multiple: during selection and the final
        stage the count stops moving, and candidates re-scored there must all see one refiner."""
        every = self.cfg.refresh_every
        return bool(every) and searching and evaluations // every > self.refits

    def refreshed(self, evaluations: int) -> None:
        """The refit for the multiples crossed up to ``evaluations`` is done."""
        self.refits = evaluations // self.cfg.refresh_every

    def refine(self, shard_refs: list[ray.ObjectRef]) -> tuple[list[ray.ObjectRef], ray.ObjectRef]:
        """Refined shard refs, and a ref to the discriminator's mean realism of the first one."""
        refined = [self.actor.refine.remote(ref) for ref in shard_refs]
        return refined, self.actor.realism.remote(refined[0])

    def refine_now(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return ray.get(self.actor.refine.remote((x, y)))[0]

    def close(self) -> None:
        ray.kill(self.actor, no_restart=True)
