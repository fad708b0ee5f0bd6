"""A scalar-only simulator, as a scene script for Blender, Unity or Isaac is: one value per parameter
per ``sample_batch`` call (one scene), never an array of per-sample values."""

from __future__ import annotations

import numpy as np

from feedback_loop.envs.gaussian_mixture import GaussianMixtureEnv


class SceneGaussianMixture(GaussianMixtureEnv):
    """The Gaussian mixture, refusing per-sample arrays as a one-scene-per-call renderer would; it
    declares so (``per_sample_params = False``) and records its calls."""

    per_sample_params = False

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[dict, int]] = []

    def sample_batch(self, params, n, seed):
        arrays = sorted(name for name, value in params.items() if np.ndim(value))
        if arrays:
            raise TypeError(f"one scene per call takes one value per parameter; got arrays for {arrays}")
        self.calls.append((dict(params), n))
        return super().sample_batch(params, n, seed)


class UndeclaredSceneGaussianMixture(SceneGaussianMixture):
    """The same renderer without the declaration: check-env must say what to declare."""

    per_sample_params = True
