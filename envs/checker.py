"""``check_simulator``: tells a plug-in author exactly what their simulator gets wrong.

Like ``gymnasium.utils.env_checker.check_env`` but for the feedback-loop contract: a
``param_space`` of scalar Box/Discrete entries, nominal values inside it, parameters honoured by
``reset(options={"params": ...})``, ``info["label"]``, and a deterministic batch path.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .base import validate_params
from .generation import generate_batch


class SimulatorContractError(TypeError):
    """A simulator does not follow the feedback-loop contract; the message says what to fix."""


def check_simulator(env: gym.Env, n: int = 8, seed: int = 0) -> None:
    """Raise ``SimulatorContractError`` naming the first broken rule of the simulator contract."""
    name = type(env).__name__
    space = getattr(env, "param_space", None)
    if not isinstance(space, spaces.Dict):
        raise SimulatorContractError(
            f"{name}.param_space must be a gymnasium.spaces.Dict of Box/Discrete entries; "
            f"got {type(space).__name__}"
        )
    for key, sub in space.spaces.items():
        scalar_box = isinstance(sub, spaces.Box) and int(np.prod(sub.shape)) == 1
        if not (scalar_box or isinstance(sub, spaces.Discrete)):
            raise SimulatorContractError(
                f"{name}.param_space[{key!r}] is {sub!r}; entries must be scalar Box or Discrete"
            )
        if scalar_box and not (np.all(np.isfinite(sub.low)) and np.all(np.isfinite(sub.high))):
            raise SimulatorContractError(
                f"{name}.param_space[{key!r}] has unbounded limits; give physically meaningful bounds"
            )
    for factor, spec in (getattr(env, "ranges", None) or {}).items():
        for param in (spec.position, spec.width):
            sub = space.spaces.get(param)
            if not (isinstance(sub, spaces.Box) and float(sub.low) == 0.0 and float(sub.high) == 1.0):
                raise SimulatorContractError(
                    f"{name}.ranges[{factor!r}] names {param!r}, which must be a Box parameter in [0, 1] of param_space")
        if not spec.low < spec.high:
            raise SimulatorContractError(f"{name}.ranges[{factor!r}] has bounds [{spec.low}, {spec.high}]; need low < high")
    nominal = getattr(env, "nominal_params", None)
    if not isinstance(nominal, dict) or set(nominal) != set(space.spaces):
        missing = sorted(set(space.spaces) - set(nominal or {}))
        raise SimulatorContractError(
            f"{name}.nominal_params must give a value for every parameter; missing {missing}"
        )
    try:
        validate_params(space, nominal, nominal)
    except ValueError as err:
        raise SimulatorContractError(f"{name}.nominal_params is outside param_space: {err}") from err
    if not isinstance(getattr(env, "num_classes", None), int):
        raise SimulatorContractError(f"{name}.num_classes must be an int (the number of label classes)")
    obs, info = env.reset(seed=seed, options={"params": nominal})
    if "label" not in info:
        raise SimulatorContractError(f"{name}.reset must return info['label']; got keys {sorted(info)}")
    if not env.observation_space.contains(np.asarray(obs, dtype=env.observation_space.dtype)):
        raise SimulatorContractError(f"{name}.reset returned an observation outside observation_space")
    bad_name = next(iter(space.spaces))
    try:
        env.reset(seed=seed, options={"params": {bad_name: 1e9}})
    except ValueError:
        pass
    else:
        raise SimulatorContractError(
            f"{name}.reset accepted {bad_name}=1e9, outside param_space; it must raise ValueError"
        )
    x1, y1 = generate_batch(env, nominal, n, seed)
    x2, y2 = generate_batch(env, nominal, n, seed)
    if not (np.array_equal(x1, x2) and np.array_equal(y1, y2)):
        raise SimulatorContractError(f"{name}: the same params and seed gave different batches")
    if not all(0 <= int(label) < env.num_classes for label in y1):
        raise SimulatorContractError(f"{name}: labels must lie in [0, num_classes={env.num_classes})")
