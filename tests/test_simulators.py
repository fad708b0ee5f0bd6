"""The simulator contract suite (``feedback_loop.testing.SimulatorContract``) over every built-in, then specifics."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import feedback_loop.envs  # noqa: F401  (registers the ids)
from feedback_loop.envs.checker import SimulatorContractError, check_simulator
from feedback_loop.envs.generation import generate_batch
from feedback_loop.envs.registration import BUILTIN_ENVS
from feedback_loop.testing import SimulatorContract


@pytest.mark.parametrize("env_id", list(BUILTIN_ENVS))
def test_every_builtin_simulator_is_made(env_id):
    """A built-in that cannot be constructed fails here (and every contract test of it errors)."""
    assert isinstance(gym.make(env_id, disable_env_checker=True).unwrapped, gym.Env)


class TestBuiltinSimulators(SimulatorContract):
    """Every rule of the contract, for every simulator in ``BUILTIN_ENVS``."""

    expects_real_data = True  # every built-in ships its real data

    @pytest.fixture(params=list(BUILTIN_ENVS))
    def simulator(self, request):
        return gym.make(request.param, disable_env_checker=True).unwrapped


# -- GaussianMixture specifics ---------------------------------------------------------------------

def test_gaussian_mixture_means_follow_params(gm_env):
    params = gm_env.oracle_params()
    x, y = gm_env.sample_batch(params, 20_000, seed=0)
    # Class 0 is an equal mixture of (-2.5, 0) and (1.5, 2.5): its mean is their midpoint.
    assert x[y == 0].mean(0) == pytest.approx([-0.5, 1.25], abs=0.05)
    assert x[y == 1].mean(0) == pytest.approx([0.75, -1.75], abs=0.05)


def test_gaussian_mixture_real_sets_are_fixed_and_distinct(gm_env):
    a, b = gm_env.real_data(), gm_env.real_data()
    assert np.array_equal(a.x_val, b.x_val) and np.array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_val, a.x_test)
    assert len(a.x_val) == 1000 and len(a.x_test) == 1000


# -- plain gymnasium envs through the fallback path, and the checker's messages --------------------

class PlainEnv(gym.Env):
    """A minimal plug-in simulator with no sample_batch: the loop must fall back to reset()."""

    observation_space = gym.spaces.Box(-10, 10, shape=(1,), dtype=np.float32)
    action_space = gym.spaces.Discrete(1)
    param_space = gym.spaces.Dict({"offset": gym.spaces.Box(-1, 1, shape=(), dtype=np.float32)})
    nominal_params = {"offset": 0.0}
    num_classes = 2

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        offset = float((options or {}).get("params", {}).get("offset", 0.0))
        if abs(offset) > 1:
            raise ValueError(f"parameter 'offset': value {offset} is outside its bounds [-1, 1]")
        label = int(self.np_random.integers(2))
        return np.array([label + offset], dtype=np.float32), {"label": label}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {"label": 0}


def test_plain_env_uses_reset_fallback():
    env = PlainEnv()
    check_simulator(env)
    x, y = generate_batch(env, {"offset": 0.5}, 20, seed=0)
    assert np.allclose(x[:, 0], y + 0.5)


def test_checker_names_the_broken_rule():
    class NoNominal(PlainEnv):
        nominal_params = {}

    with pytest.raises(SimulatorContractError, match="nominal_params.*missing \\['offset'\\]"):
        check_simulator(NoNominal())

    class NoLabel(PlainEnv):
        def reset(self, *, seed=None, options=None):
            obs, _ = super().reset(seed=seed, options=options)
            return obs, {}

    with pytest.raises(SimulatorContractError, match="info\\['label'\\]"):
        check_simulator(NoLabel())
