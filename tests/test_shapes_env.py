"""``feedback_loop/Shapes-v0``: the segmentation simulator's batch format, parameters and hidden target."""

from __future__ import annotations

import ast
import inspect

import gymnasium as gym
import numpy as np
import pytest

import feedback_loop.envs  # noqa: F401  (registers the ids)
from feedback_loop.envs.shapes import RANGES, ShapesEnv
from feedback_loop.envs.shapes import env as env_module


@pytest.fixture(scope="module")
def env() -> ShapesEnv:
    return ShapesEnv()


def test_batch_format_and_labels(env):
    x, y = env.sample_batch(env.nominal_params, 64, seed=0)
    assert x.shape == (64, 1, 16, 16) and x.dtype == np.float32
    assert y.shape == (64, 16, 16) and y.dtype == np.int64
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert set(np.unique(y).tolist()) == {0, 1, 2}  # 64 images hold background and both shapes
    assert env.observation_space.contains(x[0])
    assert env.task == "segmentation" and env.num_classes == 3 == len(env.class_names)
    assert isinstance(env.version, int)


def test_registered_gym_id():
    made = gym.make("feedback_loop/Shapes-v0", disable_env_checker=True).unwrapped
    assert isinstance(made, ShapesEnv)


def test_same_seed_same_batch_other_seed_other_batch(env):
    x1, y1 = env.sample_batch(env.nominal_params, 32, seed=7)
    x2, y2 = env.sample_batch(env.nominal_params, 32, seed=7)
    x3, y3 = env.sample_batch(env.nominal_params, 32, seed=8)
    assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
    assert not np.array_equal(x1, x3) and not np.array_equal(y1, y3)


def test_per_sample_arrays_act_per_sample(env):
    n = 16
    spec = RANGES["background"]
    # half the images on a black background, half on a white one (width 0: a fixed level)
    params = {spec.width: 0.0, spec.position: np.repeat([0.0, 1.0], n // 2),
              RANGES["texture"].width: 0.0, RANGES["texture"].position: 0.0,
              RANGES["noise"].width: 0.0, RANGES["noise"].position: 0.0}
    x, y = env.sample_batch(params, n, seed=3)
    assert x.shape == (n, 1, 16, 16) and y.shape == (n, 16, 16)
    background = [x[i, 0][y[i] == 0] for i in range(n)]
    assert max(b.mean() for b in background[: n // 2]) < 0.2
    assert min(b.mean() for b in background[n // 2:]) > 0.8


def test_p_ellipse_sets_the_class_of_objects(env):
    _, only_ellipses = env.sample_batch({"p_ellipse": 1.0}, 32, seed=0)
    _, only_rectangles = env.sample_batch({"p_ellipse": 0.0}, 32, seed=0)
    assert set(np.unique(only_ellipses).tolist()) == {0, 1}
    assert set(np.unique(only_rectangles).tolist()) == {0, 2}


def test_uniform_dr_is_in_the_family(env):
    uniform = {**env.nominal_params, **{s.width: 1.0 for s in RANGES.values()}}
    x, y = env.sample_batch(uniform, 32, seed=0)
    assert x.shape == (32, 1, 16, 16) and 0 <= y.min() and y.max() < env.num_classes


@pytest.mark.parametrize("name, value", [("size_width", 1.5), ("blur_position", -0.1), ("p_ellipse", 2.0)])
def test_out_of_range_param_raises_naming_it(env, name, value):
    with pytest.raises(ValueError, match=rf"{name}.*bounds"):
        env.sample_batch({name: value}, 4, seed=0)
    with pytest.raises(ValueError, match=name):
        env.sample_batch({name: np.full(4, value)}, 4, seed=0)


def test_real_halves_are_fixed_distinct_and_labelled_per_pixel(env):
    a, b = env.real_data(), env.real_data()
    for part in ("x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(a, part), getattr(b, part))
    assert a.x_val is not b.x_val  # fresh copies: a caller may edit its own
    assert a.x_val.shape == a.x_test.shape == (400, 1, 16, 16) and a.x_val.dtype == np.float32
    assert a.y_val.shape == a.y_test.shape == (400, 16, 16) and a.y_val.dtype == np.int64
    assert set(np.unique(a.y_val).tolist()) == {0, 1, 2}
    assert not np.array_equal(a.x_val, a.x_test)


def test_the_target_is_hidden_from_the_simulator():
    from feedback_loop.envs.shapes import target

    source = inspect.getsource(env_module)
    tree = ast.parse(source)
    module_imports = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert not any("target" in (getattr(node, "module", None) or "") for node in module_imports)
    settings = [name for name in vars(target) if name.isupper()]
    assert settings, "target.py keeps its settings as module constants"
    assert not [name for name in settings if name in source]
