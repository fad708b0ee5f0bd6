"""A small third-party simulator: two classes of 2-D sensor readings, a blob inside a ring.

It is what a user writes for their own problem, and all this folder needs: no package, no
registration. A config names it ``simulator.id: my_sim:Rings`` and feedback-loop finds this file in
the current folder. The policy tunes three generation parameters; the "real" readings in
``real.npz`` were made by ``make_real_data.py`` at a setting the policy is not told.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from feedback_loop.envs import Simulator


class Rings(Simulator):
    """Class 0: readings scattered around the origin; class 1: readings on a ring around them."""

    num_classes = 2

    def __init__(self) -> None:
        self.param_space = spaces.Dict({
            "radius": spaces.Box(0.5, 4.0, shape=(), dtype=np.float32),   # the ring's radius
            "noise": spaces.Box(0.05, 1.0, shape=(), dtype=np.float32),   # sensor noise on every reading
            "spread": spaces.Box(0.1, 2.0, shape=(), dtype=np.float32),   # how far class 0 strays from the origin
        })
        self.nominal_params = {"radius": 1.0, "noise": 0.5, "spread": 1.0}   # a first guess
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)

    def sample_batch(self, params, n, seed):
        params = self.check_params(params, n)          # nominal values filled in, bounds checked
        rng = np.random.default_rng(seed)
        # each value is a scalar or one value per sample (uniform domain randomization draws those)
        radius, noise, spread = (np.broadcast_to(params[k], (n,)) for k in ("radius", "noise", "spread"))
        y = rng.permutation((np.arange(n) + rng.integers(2)) % 2)   # balanced classes
        angle = rng.uniform(0.0, 2 * np.pi, size=n)
        r = np.where(y == 1, radius, np.abs(rng.normal(0.0, spread)))
        x = np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1) + noise[:, None] * rng.standard_normal((n, 2))
        return x.astype(np.float32), y.astype(np.int64)
