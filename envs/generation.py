"""Drawing labelled batches from any simulator, with optional per-sample domain randomization.

``generate_batch`` is what generator actors call. It uses the simulator's vectorized
``sample_batch`` when there is one, and falls back to calling ``reset`` once per sample for a
plain ``gymnasium.Env`` that only follows the minimal contract. A simulator that declares
``per_sample_params = False`` (a scene script: one value per parameter per call) gets per-sample
values as one ``sample_batch`` call per group of samples with equal values (``draw``, the one place
that calls a simulator for a batch).
"""

from __future__ import annotations

from typing import Mapping, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .base import Params, label_value, validate_params

# Per-sample uniform ranges: {param name: (low, high)}; Discrete ranges are inclusive integers.
Ranges = Mapping[str, Sequence[float]]


def nominal_params_of(env: gym.Env) -> Params:
    """The simulator's nominal parameters; every simulator must define ``nominal_params``."""
    nominal = getattr(env, "nominal_params", None)
    if nominal is None:
        raise TypeError(
            f"{type(env).__name__} has no 'nominal_params' attribute: a simulator must define a "
            "nominal value for every parameter of its param_space"
        )
    return dict(nominal)


def draw_per_sample_params(
    param_space: spaces.Dict, params: Params, ranges: Ranges, n: int, rng: np.random.Generator
) -> Params:
    """Replace each parameter named in ``ranges`` by ``n`` values drawn uniformly from its range."""
    out: Params = dict(params)
    for name, bounds in ranges.items():
        if name not in param_space.spaces:
            raise ValueError(f"randomization range for unknown parameter {name!r}")
        low, high = float(bounds[0]), float(bounds[1])
        if low > high:
            raise ValueError(f"randomization range for {name!r}: low {low} is above high {high}")
        space = param_space.spaces[name]
        if isinstance(space, spaces.Discrete):
            out[name] = rng.integers(int(round(low)), int(round(high)) + 1, size=n)
        else:
            out[name] = rng.uniform(low, high, size=n)
    return out


def generate_batch(
    env: gym.Env,
    params: Params | None,
    n: int,
    seed: int,
    ranges: Ranges | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` labelled samples ``(x, y)`` from ``env`` at ``params``; identical for identical inputs.

    With ``ranges``, the named parameters are drawn per sample, uniformly within their range
    (domain randomization); the other parameters stay at ``params`` (or nominal).
    """
    if n <= 0:
        raise ValueError(f"batch size n={n} must be positive")
    param_space = env.param_space
    base = validate_params(param_space, nominal_params_of(env), params)
    rng = np.random.default_rng([seed, 0xD12])
    full = draw_per_sample_params(param_space, base, ranges, n, rng) if ranges else base
    return draw(env, full, n, seed)


def takes_per_sample_params(env: gym.Env) -> bool:
    """Whether ``env.sample_batch`` takes an array of n values per parameter (the default), or one
    value per parameter per call (``per_sample_params = False``)."""
    return bool(getattr(env, "per_sample_params", True))


def draw(env: gym.Env, params: Params, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` samples at validated ``params`` (scalars, or arrays of ``n`` per-sample values): the
    simulator's ``sample_batch``, per group of equal values for a scalar-only one, or ``reset`` per sample."""
    if not hasattr(env, "sample_batch"):
        return _batch_by_reset(env, params, n, seed)
    if takes_per_sample_params(env) or not any(np.ndim(v) for v in params.values()):
        x, y = env.sample_batch(params, n, seed)
    else:
        x, y = _batch_by_groups(env, params, n, seed)
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != n or len(y) != n:
        raise ValueError(
            f"{type(env).__name__}.sample_batch returned {len(x)} samples and {len(y)} labels; "
            f"expected {n} of each"
        )
    return x, y


def _batch_by_groups(env: gym.Env, params: Params, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A scalar-only simulator's batch: one ``sample_batch`` call per group of samples whose values are
    all equal (continuous draws: one call per sample), each with its own seed, in sample order."""
    columns = {k: np.broadcast_to(np.asarray(v), (n,)) for k, v in params.items()}
    groups: dict[tuple, list[int]] = {}
    for i in range(n):
        groups.setdefault(tuple(columns[k][i].item() for k in columns), []).append(i)
    seeds = np.random.default_rng([seed, 0x5CA1]).integers(0, 2**31 - 1, size=len(groups))
    x: np.ndarray | None = None
    y: np.ndarray | None = None
    for (values, rows), group_seed in zip(groups.items(), seeds):
        xs, ys = env.sample_batch(dict(zip(columns, values)), len(rows), int(group_seed))
        xs, ys = np.asarray(xs), np.asarray(ys)
        if len(xs) != len(rows) or len(ys) != len(rows):
            raise ValueError(f"{type(env).__name__}.sample_batch returned {len(xs)} samples and {len(ys)} labels; "
                             f"expected {len(rows)} of each")
        if x is None:
            x, y = np.empty((n, *xs.shape[1:]), xs.dtype), np.empty((n, *ys.shape[1:]), ys.dtype)
        x[rows], y[rows] = xs, ys
    return x, y


def _batch_by_reset(env: gym.Env, params: Params, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    seeds = np.random.default_rng(seed).integers(0, 2**31 - 1, size=n)
    xs, ys = [], []
    for i in range(n):
        sample_params = {k: (v[i] if np.ndim(v) else v) for k, v in params.items()}
        obs, info = env.reset(seed=int(seeds[i]), options={"params": sample_params})
        if "label" not in info:
            raise ValueError(f"{type(env).__name__}.reset must return info['label']; got keys {sorted(info)}")
        xs.append(np.asarray(obs))
        ys.append(label_value(info["label"]))
    labels = np.asarray(ys)
    return np.stack(xs), (labels.astype(np.int64) if np.issubdtype(labels.dtype, np.integer) else labels)

