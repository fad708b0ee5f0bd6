"""Plug-in simulators used by the tests through ``module:Class`` import paths."""

from __future__ import annotations

from feedback_loop.envs.gaussian_mixture import GaussianMixtureEnv


class ExplodingGaussianMixture(GaussianMixtureEnv):
    """Raises for candidates whose first mean coordinate is positive."""

    def sample_batch(self, params, n, seed):
        params = self.check_params(params, n)
        if params["c0_m0_x"] > 0:
            raise RuntimeError("simulator exploded on purpose")
        return super().sample_batch(params, n, seed)


def tiny_model(input_shape, num_classes):
    """A user-supplied model builder: ``learner.model: tests.plugins:tiny_model``."""
    import torch

    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(torch.tensor(input_shape).prod()), num_classes))


class NaNGaussianMixture(GaussianMixtureEnv):
    """Returns NaN batches away from nominal: every evaluation fails, none may become the best.

    (At nominal it behaves, so that it passes the contract check made before a run starts.)"""

    def sample_batch(self, params, n, seed):
        params = self.check_params(params, n)
        x, y = super().sample_batch(params, n, seed)
        if params["c0_m0_x"] != self.nominal_params["c0_m0_x"]:
            x[:] = float("nan")
        return x, y


class NoLabelEnv(GaussianMixtureEnv):
    """Breaks the contract: reset returns no label."""

    def reset(self, *, seed=None, options=None):
        obs, _ = super().reset(seed=seed, options=options)
        return obs, {}


class SlowGaussianMixture(GaussianMixtureEnv):
    """Takes at least half a second per batch, so that a signal sent after the third evaluation
    always lands while the run is still going, however fast the machine."""

    def sample_batch(self, params, n, seed):
        import time

        time.sleep(0.5)
        return super().sample_batch(params, n, seed)


def wrong_width_model(input_shape, num_classes):
    """A broken model builder: one output too many (``learner.model: tests.plugins:wrong_width_model``)."""
    import torch

    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(int(torch.tensor(input_shape).prod()), num_classes + 1))
