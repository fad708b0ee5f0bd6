"""``SimulatorContract``: the rules every simulator must follow, as a pytest test class.

The rules follow the task the simulator declares (``task``: classification when absent): class
indices in range, finite vectors of one shape (regression), a class per pixel (segmentation).

Override the ``simulator`` fixture to return an instance of your simulator (the unwrapped env).
A simulator without ``sample_batch`` is tested through the one-sample-per-``reset`` path the loop
falls back to; a scalar-only one (``per_sample_params = False``) through the loop's one call per group
of equal values. Set ``expects_real_data = True`` when your simulator must ship ``real_data()``.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from feedback_loop.envs.base import validate_params
from feedback_loop.envs.checker import SimulatorContractError, check_simulator
from feedback_loop.envs.data_checks import distribution_mismatch
from feedback_loop.envs.generation import _batch_by_reset, draw, takes_per_sample_params
from feedback_loop.tasks import TaskError, build_task, declared_task


def bound_task(env: Any, y: np.ndarray) -> Any:
    """A fresh copy of the simulator's declared task, bound to the labels ``y``."""
    task = build_task(declared_task(env).spec())
    task.bind(env, np.asarray(y))
    return task


def _bounds(space: gym.spaces.Space) -> tuple[float, float]:
    return float(np.asarray(space.low).reshape(-1)[0]), float(np.asarray(space.high).reshape(-1)[0])


def sample(env: Any, params: dict, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``env.sample_batch``; for a scalar-only simulator (``per_sample_params = False``) or one without
    ``sample_batch``, the way the loop calls it (``envs.generation.draw``: per group of equal values, or
    ``reset`` per sample)."""
    if hasattr(env, "sample_batch") and takes_per_sample_params(env):
        return env.sample_batch(params, n, seed)
    return draw(env, validate_params(env.param_space, env.nominal_params, params, n), n, seed)


class SimulatorContract:
    """Base of a pytest test class: every rule of the Simulator contract, run on the ``simulator`` fixture."""

    expects_real_data: bool = False
    """True: ``real_data()`` must return data (else the real-data test is skipped when it returns None)."""
    distribution_samples: int = 1500
    """Samples drawn both ways in the batch-versus-reset test (lower it for a slow renderer)."""

    @pytest.fixture
    def simulator(self):
        """Override: return an instance of your simulator."""
        raise NotImplementedError(
            f"{type(self).__name__} must override the 'simulator' fixture of SimulatorContract"
        )

    def test_gymnasium_check_env(self, simulator):
        """Rule: the simulator is a valid gymnasium.Env (gymnasium's check_env passes)."""
        check_env(simulator, skip_render_check=True)

    def test_feedback_loop_contract(self, simulator):
        """Rule: check_simulator passes (param_space, nominal_params, task and labels, info['label'], determinism)."""
        try:
            check_simulator(simulator)
        except SimulatorContractError as err:
            pytest.fail(f"check_simulator: {err}")

    def test_same_seed_same_batch_and_other_seed_other_batch(self, simulator):
        """Rule: the same params and seed give an identical batch; another seed gives another batch."""
        env = simulator
        x1, y1 = sample(env, env.nominal_params, 64, seed=5)
        x2, y2 = sample(env, env.nominal_params, 64, seed=5)
        x3, _ = sample(env, env.nominal_params, 64, seed=6)
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2), "the same params and seed must give the same batch"
        assert not np.array_equal(x1, x3), "another seed must give another batch"

    def test_params_outside_space_are_rejected_with_name_value_and_bounds(self, simulator):
        """Rule: reset with a parameter outside param_space raises ValueError naming the parameter, value and bounds."""
        name = next(iter(simulator.param_space.spaces))
        with pytest.raises(ValueError, match=rf"{name}.*1000000.*(bounds|allowed)"):
            simulator.reset(seed=0, options={"params": {name: 1_000_000}})

    def test_unknown_params_are_rejected(self, simulator):
        """Rule: reset with a parameter not in param_space raises ValueError saying 'unknown parameter'."""
        with pytest.raises(ValueError, match="unknown parameter"):
            simulator.reset(seed=0, options={"params": {"no_such_parameter": 1.0}})

    def test_params_are_respected(self, simulator):
        """Rule: moving every parameter away from nominal changes the generated data."""
        env = simulator
        other = {}
        for name, space in env.param_space.spaces.items():
            if isinstance(space, gym.spaces.Discrete):
                other[name] = int(space.start + space.n - 1)
            else:
                low, high = _bounds(space)
                other[name] = high if env.nominal_params[name] < high else low
        x_nominal, _ = sample(env, env.nominal_params, 256, seed=1)
        x_other, _ = sample(env, other, 256, seed=1)
        assert not np.allclose(x_nominal, x_other), f"params {other} gave the same data as nominal_params"

    def test_per_sample_parameter_arrays_are_accepted(self, simulator):
        """Rule: a continuous parameter may be an array of n per-sample values; the batch has n samples (a
        scalar-only simulator, ``per_sample_params = False``: through the loop's one call per sample)."""
        n = 32
        boxes = [(k, s) for k, s in simulator.param_space.spaces.items() if isinstance(s, gym.spaces.Box)]
        if not boxes:
            pytest.skip("no continuous (Box) parameter")
        name, space = boxes[0]
        values = np.linspace(*_bounds(space), n)
        x, y = sample(simulator, {name: values}, n, seed=0)
        assert len(x) == n == len(y), f"{n} per-sample values must give {n} samples and labels; got {len(x)}, {len(y)}"

    def test_batch_matches_repeated_reset_in_distribution(self, simulator):
        """Rule: sample_batch and one-sample-per-reset draw from the same distribution (class counts, class
        means; without classes, the means of the inputs and the labels)."""
        env = simulator
        n = self.distribution_samples
        x_batch, y_batch = sample(env, env.nominal_params, n, seed=0)
        full = validate_params(env.param_space, env.nominal_params, None)
        x_reset, y_reset = _batch_by_reset(env, full, n, seed=0)
        assert x_reset.shape == x_batch.shape, f"batch shape {x_batch.shape} != reset shape {x_reset.shape}"
        # the checker's own two-sample z-tests (class shares, per-class feature means)
        classes = env.num_classes if y_batch.ndim == 1 and np.issubdtype(y_batch.dtype, np.integer) else None
        mismatch = distribution_mismatch(x_batch, y_batch, x_reset, y_reset, classes,
                                         ("sample_batch", f"{n} resets"))
        assert mismatch is None, mismatch

    def test_real_data_matches_observation_space(self, simulator):
        """Rule: real_data() samples have the observation shape and labels that fit the task."""
        real_data = getattr(simulator, "real_data", None)
        real = real_data() if callable(real_data) else None
        if real is None:
            assert not self.expects_real_data, "real_data() returned None; this simulator must ship real data"
            pytest.skip("the simulator ships no real data")
        assert real.x_val.shape[1:] == simulator.observation_space.shape, (
            f"real x_val samples have shape {real.x_val.shape[1:]}, observation_space {simulator.observation_space.shape}"
        )
        try:
            bound_task(simulator, real.y_val)
        except TaskError as err:
            pytest.fail(f"real labels do not fit the task: {err}")

    def test_labels_fit_the_declared_task(self, simulator):
        """Rule: generated labels fit the declared task and have one shape (the real data's, when shipped)."""
        _, y = sample(simulator, simulator.nominal_params, 16, seed=0)
        try:
            task = bound_task(simulator, y)
        except TaskError as err:
            pytest.fail(f"generated labels do not fit the task: {err}")
        real_data = getattr(simulator, "real_data", None)
        real = real_data() if callable(real_data) else None
        if real is not None:
            assert tuple(np.shape(real.y_val)[1:]) == task.label_shape(), (
                f"real labels have shape {tuple(np.shape(real.y_val)[1:])} per sample, generated ones {task.label_shape()}")
