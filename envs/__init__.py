"""Simulators (``gymnasium.Env`` subclasses) and the real data they imitate.

Importing this package registers the built-in simulators as gymnasium ids under the
``feedback_loop/`` namespace. It must not import ray or mlflow: a simulator is usable alone.
"""

from .base import Params, RealData, Simulator, validate_params
from .ranges import RangeParam, intervals, starting_points, widen_params, widest_params
from .registration import register_builtin_envs

register_builtin_envs()

__all__ = ["Params", "RangeParam", "RealData", "Simulator", "intervals", "starting_points", "validate_params", "widen_params", "widest_params", "register_builtin_envs"]
