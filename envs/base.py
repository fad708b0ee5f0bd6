"""The Simulator contract: a parameterized synthetic-data generator as a gymnasium environment.

A simulator is a plain ``gymnasium.Env`` whose *generation parameters* live in ``param_space``
(a ``spaces.Dict`` of scalar ``Box`` and ``Discrete`` entries). ``reset(options={"params": ...})``
draws one labelled sample; ``sample_batch(params, n, seed)`` draws many at once.

Subclasses implement ``param_space``, ``nominal_params`` and ``sample_batch``; everything else
(validation of parameters, ``reset``/``step``, the one-sample path) is provided here so that a
plug-in author writes only the generator itself. ``check_simulator`` in ``checker.py`` tells an
author exactly what is wrong with an implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .ranges import RangeParam

# A parameter value is a scalar, or (inside ``sample_batch``) an array with one value per sample.
ParamValue = Any
Params = dict[str, ParamValue]


@dataclass(frozen=True)
class RealData:
    """The "real" data a simulator is meant to imitate.

    ``x_val``/``y_val`` are the only real data whose score may be fed back to a policy;
    ``x_test``/``y_test`` (optional) are held out for reporting final results only.
    ``x_unlabeled`` (optional) are real inputs without labels: a realism objective compares the
    synthetic batches with them (``data.labels`` moves the validation samples it unlabels here).
    """

    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    x_unlabeled: np.ndarray | None = None

    def __post_init__(self) -> None:
        if len(self.x_val) != len(self.y_val):
            raise ValueError(
                f"real data: x_val has {len(self.x_val)} rows but y_val has {len(self.y_val)}"
            )
        if (self.x_test is None) != (self.y_test is None):
            raise ValueError("real data: give both x_test and y_test, or neither")
        if self.x_test is not None and len(self.x_test) != len(self.y_test):
            raise ValueError(
                f"real data: x_test has {len(self.x_test)} rows but y_test has {len(self.y_test)}"
            )
        if self.x_unlabeled is not None and np.shape(self.x_unlabeled)[1:] != np.shape(self.x_val)[1:]:
            raise ValueError(f"real data: x_unlabeled has samples of shape {np.shape(self.x_unlabeled)[1:]}, "
                             f"x_val {np.shape(self.x_val)[1:]}")

    def unlabeled(self) -> np.ndarray:
        """The real inputs whose labels are not used (empty, shaped like ``x_val``, when there are none)."""
        if self.x_unlabeled is None:
            return np.asarray(self.x_val)[:0]
        return np.asarray(self.x_unlabeled)

    def inputs(self) -> np.ndarray:
        """Every real input outside the test half: labelled validation inputs, then unlabeled ones."""
        return np.concatenate([np.asarray(self.x_val), self.unlabeled().astype(np.asarray(self.x_val).dtype)])


def label_value(label: Any) -> Any:
    """One sample's label as ``info["label"]`` carries it: an int for a class index, else a numpy array
    (a regression's vector, a class per pixel)."""
    array = np.asarray(label)
    if array.ndim == 0 and np.issubdtype(array.dtype, np.integer):
        return int(array)
    return array


def _is_scalar_box(space: spaces.Space) -> bool:
    return isinstance(space, spaces.Box) and int(np.prod(space.shape)) == 1


def validate_params(
    param_space: spaces.Dict,
    nominal: Mapping[str, ParamValue],
    params: Mapping[str, ParamValue] | None,
    n: int | None = None,
) -> Params:
    """Fill missing parameters with nominal values and check every value against ``param_space``.

    With ``n`` given, a value may also be an array of ``n`` per-sample values.
    Raises ``ValueError`` naming the parameter, the offending value and the allowed range.
    """
    params = dict(params or {})
    unknown = sorted(set(params) - set(param_space.spaces))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown}; this simulator's parameters are "
            f"{sorted(param_space.spaces)}"
        )
    out: Params = {}
    for name, space in param_space.spaces.items():
        value = params.get(name, nominal[name])
        arr = np.asarray(value)
        if arr.ndim > 0 and arr.size > 1:
            if n is None or arr.shape != (n,):
                expected = "a scalar" if n is None else f"a scalar or an array of shape ({n},)"
                raise ValueError(
                    f"parameter {name!r}: got an array of shape {arr.shape}, expected {expected}"
                )
        elif arr.ndim > 0:
            arr = arr.reshape(())
        if isinstance(space, spaces.Discrete):
            lo, hi = int(space.start), int(space.start + space.n - 1)
            if not np.issubdtype(arr.dtype, np.integer) and not np.all(arr == np.round(arr)):
                raise ValueError(
                    f"parameter {name!r}: value {value!r} is not an integer; "
                    f"allowed: integers in [{lo}, {hi}]"
                )
            if not np.all((arr >= lo) & (arr <= hi)):
                bad = arr if arr.ndim == 0 else arr[(arr < lo) | (arr > hi)][0]
                raise ValueError(
                    f"parameter {name!r}: value {bad!r} is outside its range; "
                    f"allowed: integers in [{lo}, {hi}]"
                )
            out[name] = int(arr) if arr.ndim == 0 else arr.astype(np.int64)
        elif _is_scalar_box(space):
            lo, hi = float(space.low.reshape(-1)[0]), float(space.high.reshape(-1)[0])
            arr = arr.astype(np.float64)
            if not np.all(np.isfinite(arr)):
                raise ValueError(f"parameter {name!r}: value {value!r} is not finite; allowed: [{lo}, {hi}]")
            # A small tolerance: float32 spaces round their own bounds.
            tol = 1e-6 * max(1.0, abs(lo), abs(hi))
            if not np.all((arr >= lo - tol) & (arr <= hi + tol)):
                bad = arr if arr.ndim == 0 else arr[(arr < lo - tol) | (arr > hi + tol)][0]
                raise ValueError(
                    f"parameter {name!r}: value {float(bad)!r} is outside its bounds [{lo}, {hi}]"
                )
            arr = np.clip(arr, lo, hi)
            out[name] = float(arr) if arr.ndim == 0 else arr
        else:
            raise TypeError(
                f"param_space entry {name!r} is {type(space).__name__}; only scalar Box and "
                "Discrete entries are supported"
            )
    return out


class Simulator(gym.Env):
    """Base class for feedback-loop simulators.

    Subclasses must set, in ``__init__``:

    - ``param_space``: ``spaces.Dict`` of scalar ``Box`` (continuous) and ``Discrete`` (categorical)
      generation parameters, with physically meaningful bounds;
    - ``nominal_params``: a value inside ``param_space`` for every parameter;
    - ``observation_space``: the space of one sample;
    - ``num_classes``: number of label classes (classification and segmentation);

    and may set ``task`` (class attribute): what the labels are for, a task name (``classification``,
    the default; ``regression``, float label vectors; ``segmentation``, a class per pixel) or a
    ``feedback_loop.tasks.Task``; ``label_names`` names a regression's targets, ``class_names`` the classes;

    and implement ``sample_batch``. They may override ``real_data`` (the data the simulator
    imitates) and ``oracle_params`` (the true parameters, where known, as in a toy problem).

    An episode is one sample: ``reset`` returns it with ``info["label"]``; ``step`` draws the next
    sample with the same parameters (the single action is a no-op), so that gymnasium tools work.
    """

    metadata = {"render_modes": []}
    param_space: spaces.Dict
    nominal_params: Params
    num_classes: int
    task: Any = "classification"
    """What the labels are for: a task name or a ``feedback_loop.tasks.Task`` (see the class docstring)."""
    ranges: dict[str, RangeParam] = {}
    """Randomized factors: factor name -> ``RangeParam`` (its position/width parameters, in [0, 1], and
    physical bounds). Declaring them lets ``UniformDR`` draw each factor uniformly over its bounds and
    lets reports show ordered intervals."""
    per_sample_params: bool = True
    """True: ``sample_batch`` takes an array of n values per parameter (vectorized). False: one value per
    parameter per call (a scene script for Blender, Unity or Isaac renders one scene per call); the loop
    then calls it once per group of samples with equal values (``envs.generation.draw``)."""
    action_space = spaces.Discrete(1)

    _params: Params | None = None

    # -- what a subclass implements -----------------------------------------------------------
    def sample_batch(self, params: Mapping[str, ParamValue], n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` labelled samples; ``(x, y)`` numpy arrays with ``len(x) == len(y) == n``.

        Each parameter value is a scalar or an array of ``n`` per-sample values (as domain
        randomization draws them); always a scalar where ``per_sample_params`` is False. Missing parameters take nominal values; out-of-range values
        raise ``ValueError`` (call ``self.check_params(params, n)`` first). The same ``params``
        and ``seed`` must give an identical batch.
        """
        raise NotImplementedError

    def real_data(self) -> RealData | None:
        """The real data this simulator imitates, or None if it ships none."""
        return None

    def oracle_params(self) -> Params | None:
        """The true generation parameters, where they are known (toy problems); else None."""
        return None

    # -- provided -------------------------------------------------------------------------------
    def check_params(self, params: Mapping[str, ParamValue] | None, n: int | None = None) -> Params:
        """Validated parameters: nominal values filled in, bounds checked (``ValueError``)."""
        return validate_params(self.param_space, self.nominal_params, params, n)

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = options or {}
        unknown_options = sorted(set(options) - {"params"})
        if unknown_options:
            raise ValueError(f"unknown reset option(s) {unknown_options}; the only option is 'params'")
        self._params = self.check_params(options.get("params"))
        return self._draw_one()

    def step(self, action):
        if self._params is None:
            raise RuntimeError("call reset() before step()")
        obs, info = self._draw_one()
        return obs, 0.0, False, False, info

    def _draw_one(self):
        sample_seed = int(self.np_random.integers(0, 2**31 - 1))
        x, y = self.sample_batch(self._params, 1, sample_seed)
        obs = np.asarray(x[0], dtype=self.observation_space.dtype)
        return obs, {"label": label_value(y[0])}
