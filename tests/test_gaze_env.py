"""feedback_loop/Gaze-v0: format, determinism, parameters, and its generated target's fixed halves."""

from __future__ import annotations

import ast
import inspect

import gymnasium as gym
import numpy as np
import pytest

import feedback_loop.envs  # noqa: F401  (registers the ids)
from feedback_loop.envs.gaze import FACTORS, RANGES, GazeEnv
from feedback_loop.envs.gaze import env as env_module


@pytest.fixture(scope="module")
def env() -> GazeEnv:
    return GazeEnv()


@pytest.fixture(scope="module")
def real(env):
    return env.real_data()


def test_registered_and_declares_regression():
    env = gym.make("feedback_loop/Gaze-v0", disable_env_checker=True).unwrapped
    assert isinstance(env, GazeEnv)
    assert env.task == "regression" and env.label_names == ("pitch", "yaw") and env.version == 1
    assert "num_classes" not in vars(GazeEnv)


def test_batch_format(env):
    x, y = env.sample_batch(None, 64, seed=0)
    assert x.shape == (64, 1, 36, 60) and x.dtype == np.float32
    assert y.shape == (64, 2) and y.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert env.observation_space.contains(x[0])
    assert x.std(axis=(1, 2, 3)).min() > 0.02, "every patch shows an eye, not a flat field"


def test_reset_gives_a_float_pair(env):
    obs, info = env.reset(seed=3)
    assert obs.shape == (1, 36, 60)
    assert np.asarray(info["label"]).shape == (2,)


def test_same_seed_same_batch_other_seed_other_batch(env):
    x1, y1 = env.sample_batch(None, 16, seed=7)
    x2, y2 = env.sample_batch(None, 16, seed=7)
    x3, y3 = env.sample_batch(None, 16, seed=8)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3) and not np.array_equal(y1, y3)


def test_per_sample_arrays(env):
    n = 32
    params = dict(env.nominal_params)
    params["gaze_pitch_position"] = np.linspace(0.0, 1.0, n)
    params["blur_width"] = np.full(n, 0.5)
    x, y = env.sample_batch(params, n, seed=1)
    assert x.shape == (n, 1, 36, 60) and y.shape == (n, 2)
    # the pitch interval moves up with its per-sample position, so the labels do on average
    assert np.corrcoef(np.arange(n), y[:, 0])[0, 1] > 0.8


def test_out_of_range_and_unknown_params_raise(env):
    with pytest.raises(ValueError, match="gaze_yaw_width"):
        env.sample_batch({"gaze_yaw_width": 1.5}, 4, seed=0)
    with pytest.raises(ValueError, match="unknown parameter"):
        env.sample_batch({"no_such": 0.0}, 4, seed=0)


def test_labels_lie_in_narrow_ranges(env):
    pitch, yaw = RANGES["gaze_pitch"], RANGES["gaze_yaw"]
    params = dict(env.nominal_params)
    params[pitch.position], params[pitch.width] = pitch.encode(-25.0, -20.0)
    params[yaw.position], params[yaw.width] = yaw.encode(10.0, 12.0)
    _, y = env.sample_batch(params, 200, seed=2)
    assert y[:, 0].min() >= -25.0 - 1e-4 and y[:, 0].max() <= -20.0 + 1e-4
    assert y[:, 1].min() >= 10.0 - 1e-4 and y[:, 1].max() <= 12.0 + 1e-4
    assert y[:, 0].std() > 1.0, "uniform over the interval, not a point"


def test_param_space_and_nominal(env):
    assert set(env.ranges) == set(FACTORS)
    for spec in env.ranges.values():
        assert spec.position in env.param_space.spaces and spec.width in env.param_space.spaces
    env.check_params(env.nominal_params)  # inside param_space
    # the nominal gaze is a naive box centred on straight ahead
    a, b = RANGES["gaze_pitch"].interval(env.nominal_params["gaze_pitch_position"], env.nominal_params["gaze_pitch_width"])
    assert float(a) == pytest.approx(-float(b))


def test_moving_the_gaze_moves_the_iris(env):
    """The darkest pixels (the pupil) follow the yaw: looking to the image's right moves them right."""
    yaw = RANGES["gaze_yaw"]
    params = {**env.nominal_params, "noise_width": 0.0, "noise_position": 0.0}
    cols = []
    for lo, hi in ((-30.0, -29.0), (29.0, 30.0)):
        params[yaw.position], params[yaw.width] = yaw.encode(lo, hi)
        x, _ = env.sample_batch(params, 64, seed=4)
        dark = x[:, 0] < np.quantile(x[:, 0], 0.03, axis=(1, 2), keepdims=True)
        cols.append((dark * np.arange(60)).sum(axis=(1, 2)) / np.maximum(dark.sum(axis=(1, 2)), 1))
    assert cols[1].mean() > cols[0].mean() + 5


def test_real_halves_fixed_deterministic_distinct(env, real):
    again = env.real_data()
    assert np.array_equal(real.x_val, again.x_val) and np.array_equal(real.y_test, again.y_test)
    assert real.x_val.shape == (1000, 1, 36, 60) and real.x_test.shape == (1000, 1, 36, 60)
    assert real.y_val.shape == (1000, 2) and real.y_val.dtype == np.float32 and real.x_val.dtype == np.float32
    assert not np.array_equal(real.x_val, real.x_test) and not np.array_equal(real.y_val, real.y_test)
    assert real.x_val.min() >= 0.0 and real.x_val.max() <= 1.0
    # labels are continuous angles, not class indices; people look down at a screen below the camera
    assert not np.array_equal(real.y_val, np.round(real.y_val))
    assert np.median(real.y_val[:, 0]) < -5.0


def test_target_settings_stay_out_of_the_simulator():
    """env.py imports the target only inside real_data(), and holds none of its constants."""
    from feedback_loop.envs.gaze import target

    source = inspect.getsource(env_module)
    module_level = [node for node in ast.parse(source).body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert not any("target" in (getattr(node, "module", "") or "") for node in module_level)
    constants = [name for name, value in vars(target).items() if name.isupper() and not callable(value)
                 and name not in ("HEIGHT", "WIDTH")]
    assert len(constants) > 10
    leaked = [name for name in constants if name in source or hasattr(env_module, name)]
    assert not leaked, f"env.py mentions the target's settings {leaked}"
