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


# -- simulators that break one rule each, for ``feedback-loop check-env`` (tests/test_check_env.py) -------
class IgnoresParamsGaussianMixture(GaussianMixtureEnv):
    """Breaks 'params respected': validates the parameters, then always draws at nominal."""

    def sample_batch(self, params, n, seed):
        self.check_params(params, n)
        return super().sample_batch(self.nominal_params, n, seed)


class NondeterministicGaussianMixture(GaussianMixtureEnv):
    """Breaks 'same seed, same batch': draws from fresh OS entropy instead of the seed."""

    def sample_batch(self, params, n, seed):
        import numpy as np

        return super().sample_batch(params, n, int(np.random.default_rng().integers(2**31 - 1)))


class BatchUnlikeResetGaussianMixture(GaussianMixtureEnv):
    """Breaks 'batch equals repeated reset': batches of more than one sample are shifted by +3."""

    def sample_batch(self, params, n, seed):
        x, y = super().sample_batch(params, n, seed)
        return (x + 3.0 if n > 1 else x), y
