"""``feedback_loop/GaussianMixture-v0``: the toy check of "Learning to Simulate" (Ruiz et al. 2019).

Two classes of 2-D points; each class is an equal mixture of two isotropic Gaussians with σ = 1.
The generation parameters are the 8 mean coordinates ``c{class}_m{component}_{x|y}``, each in
[-5, 5]. A hidden setting ψ* produced the "real" data:

==========  ==============  ==============
class       component 0     component 1
==========  ==============  ==============
0           (-2.5,  0.0)    ( 1.5,  2.5)
1           ( 2.5, -1.0)    (-1.0, -2.5)
==========  ==============  ==============

The real validation set (1,000 points, seed 1234) and test set (1,000 points, seed 5678) are drawn
from ψ*, with balanced classes. The decision boundary between the classes bends, so a learner
must see data whose class means sit on the right sides of it: the policy has to find the
correct layout, not just separate two blobs. The nominal setting, a naive first guess, puts both
components of a class on top of each other: class 0 at (-1, 1) and class 1 at (1, -1).
The oracle is the same learner trained on data from ψ*.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from gymnasium import spaces

from .base import Params, RealData, Simulator

SIGMA = 1.0
MEAN_BOUND = 5.0
HIDDEN_MEANS = np.array(
    [
        [[-2.5, 0.0], [1.5, 2.5]],  # class 0: component 0, component 1
        [[2.5, -1.0], [-1.0, -2.5]],  # class 1
    ]
)
NOMINAL_MEANS = np.array([[[-1.0, 1.0], [-1.0, 1.0]], [[1.0, -1.0], [1.0, -1.0]]])
VALIDATION_SEED, TEST_SEED, REAL_SET_SIZE = 1234, 5678, 1000


def param_name(cls: int, comp: int, axis: int) -> str:
    return f"c{cls}_m{comp}_{'xy'[axis]}"


PARAM_NAMES = [param_name(c, m, a) for c in range(2) for m in range(2) for a in range(2)]


def means_to_params(means: np.ndarray) -> Params:
    return {param_name(c, m, a): float(means[c, m, a]) for c in range(2) for m in range(2) for a in range(2)}


class GaussianMixtureEnv(Simulator):
    """2-class, 2-component Gaussian mixture in the plane; parameters are the 8 mean coordinates."""

    num_classes = 2

    def __init__(self) -> None:
        self.param_space = spaces.Dict(
            {
                name: spaces.Box(-MEAN_BOUND, MEAN_BOUND, shape=(), dtype=np.float32)
                for name in PARAM_NAMES
            }
        )
        self.nominal_params = means_to_params(NOMINAL_MEANS)
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(2,), dtype=np.float32)

    def sample_batch(self, params: Mapping, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        params = self.check_params(params, n)
        rng = np.random.default_rng(seed)
        # Balanced classes; the random offset keeps one-sample batches (reset) unbiased.
        labels = rng.permutation((np.arange(n) + rng.integers(2)) % 2)
        comps = rng.integers(0, 2, size=n)
        means = np.empty((n, 2))
        for cls in range(2):
            for comp in range(2):
                mask = (labels == cls) & (comps == comp)
                for axis in range(2):
                    value = np.broadcast_to(params[param_name(cls, comp, axis)], (n,))
                    means[mask, axis] = value[mask]
        x = means + SIGMA * rng.standard_normal((n, 2))
        return x.astype(np.float32), labels.astype(np.int64)

    def oracle_params(self) -> Params:
        return means_to_params(HIDDEN_MEANS)

    def real_data(self) -> RealData:
        hidden = self.oracle_params()
        x_val, y_val = self.sample_batch(hidden, REAL_SET_SIZE, VALIDATION_SEED)
        x_test, y_test = self.sample_batch(hidden, REAL_SET_SIZE, TEST_SEED)
        return RealData(x_val, y_val, x_test, y_test)
