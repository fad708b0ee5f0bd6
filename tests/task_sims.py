"""A small regression simulator for the loop's task tests (the Gaze showcase is too big for them).

``SignalSim``: noisy sine waves of 16 samples; the label is the wave's (amplitude, frequency), each
drawn from a range the policy sets. Its "real" data come from a hidden setting the nominal ranges do
not cover (amplitudes 2 to 2.5, frequencies 1 to 1.5, more noise): generated, as a toy problem's are.
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from feedback_loop.envs import RangeParam, RealData, Simulator

LENGTH = 16


class SignalSim(Simulator):
    """Noisy sine waves; regression of (amplitude, frequency)."""

    task = "regression"
    label_names = ("amplitude", "frequency")

    def __init__(self) -> None:
        self.ranges = {"amplitude": RangeParam("amplitude_position", "amplitude_width", 0.5, 3.0),
                       "frequency": RangeParam("frequency_position", "frequency_width", 0.5, 3.0)}
        names = [n for r in self.ranges.values() for n in (r.position, r.width)]
        self.param_space = spaces.Dict({**{n: spaces.Box(0.0, 1.0, shape=(), dtype=np.float32) for n in names},
                                        "noise": spaces.Box(0.0, 0.5, shape=(), dtype=np.float32)})
        self.nominal_params = {**{n: (0.5 if n.endswith("position") else 0.2) for n in names}, "noise": 0.1}
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(LENGTH,), dtype=np.float32)

    def sample_batch(self, params, n, seed):
        p = self.check_params(params, n)
        rng = np.random.default_rng(seed)
        a_low, a_high = self.ranges["amplitude"].interval(p["amplitude_position"], p["amplitude_width"])
        f_low, f_high = self.ranges["frequency"].interval(p["frequency_position"], p["frequency_width"])
        return draw(rng, n, rng.uniform(a_low, a_high, size=n), rng.uniform(f_low, f_high, size=n), p["noise"])

    def real_data(self) -> RealData:
        rng = np.random.default_rng(7)
        val = draw(rng, 300, rng.uniform(2.0, 2.5, 300), rng.uniform(1.0, 1.5, 300), 0.2)
        test = draw(rng, 300, rng.uniform(2.0, 2.5, 300), rng.uniform(1.0, 1.5, 300), 0.2)
        return RealData(*val, *test)


def draw(rng: np.random.Generator, n: int, amplitude: np.ndarray, frequency: np.ndarray,
         noise) -> tuple[np.ndarray, np.ndarray]:
    t = np.linspace(0.0, 1.0, LENGTH)
    x = amplitude[:, None] * np.sin(2 * np.pi * frequency[:, None] * t)
    x = x + np.asarray(noise).reshape(-1, 1) * rng.standard_normal((n, LENGTH))
    return x.astype(np.float32), np.stack([amplitude, frequency], 1).astype(np.float32)
