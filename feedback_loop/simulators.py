"""Resolving the simulator and the real data a config names."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from . import envs as _envs  # registers the built-in gymnasium ids
from .envs import RealData
from .envs.checker import SimulatorContractError, check_simulator
from .imports import import_object, is_import_path

ENTRY_POINT_GROUP = "feedback_loop.simulators"


class SimulatorError(ValueError):
    """The configured simulator or real data cannot be used; the message says why."""


def _load_plugin_for(sim_id: str) -> None:
    """Let the installed package that owns ``sim_id``'s namespace register it.

    An id ``my_pkg/MySim-v0`` loads only the entry point named ``my_pkg`` of the
    ``feedback_loop.simulators`` group: no plug-in code runs that the config did not name.
    """
    from importlib.metadata import entry_points

    namespace = sim_id.split("/", 1)[0] if "/" in sim_id else None
    if namespace is None:
        return
    for entry in entry_points(group=ENTRY_POINT_GROUP, name=namespace):
        register = entry.load()
        if callable(register):
            register()


def make_simulator(sim_id: str, kwargs: dict | None = None) -> gym.Env:
    """Instantiate a simulator from a gymnasium id or a ``module:Class`` import path."""
    kwargs = kwargs or {}
    if sim_id not in gym.registry:
        _load_plugin_for(sim_id)
    if sim_id in gym.registry:
        try:
            return gym.make(sim_id, disable_env_checker=True, **kwargs).unwrapped
        except TypeError as err:
            raise SimulatorError(f"simulator.kwargs: {sim_id} rejected {kwargs}: {err}") from err
    if is_import_path(sim_id):
        cls = import_object(sim_id, "simulator.id")
        if not (isinstance(cls, type) and issubclass(cls, gym.Env)):
            raise SimulatorError(f"simulator.id: {sim_id!r} is not a gymnasium.Env subclass")
        try:
            return cls(**kwargs)
        except TypeError as err:
            raise SimulatorError(f"simulator.kwargs: {sim_id} rejected {kwargs}: {err}") from err
    known = sorted(k for k in gym.registry if k.startswith("feedback_loop/"))
    raise SimulatorError(
        f"simulator.id: unknown simulator {sim_id!r}; built-ins are {known}, or give an import path 'package.module:Class'"
    )


def checked_simulator(sim_id: str, kwargs: dict | None = None) -> gym.Env:
    env = make_simulator(sim_id, kwargs)
    try:
        check_simulator(env)
    except SimulatorContractError as err:
        raise SimulatorError(f"simulator.id: {sim_id} breaks the simulator contract: {err}") from err
    return env


def load_real_data(env: gym.Env, source: str | None) -> RealData:
    """The real data to score against: the simulator's own, an ``.npz`` file or ``module:function``."""
    if source is None:
        real = env.real_data() if hasattr(env, "real_data") else None
        if real is None:
            raise SimulatorError(
                f"data.real: {type(env).__name__} ships no real data; set data.real to an .npz file "
                "with arrays x, y (optionally x_test, y_test, x_unlabeled) or to 'module:function'"
            )
        return real
    if source.endswith(".npz"):
        path = Path(source)
        if not path.is_file():
            raise SimulatorError(f"data.real: file {source!r} does not exist")
        with np.load(path, allow_pickle=False) as arrays:
            missing = [k for k in ("x", "y") if k not in arrays]
            if missing:
                raise SimulatorError(f"data.real: {source!r} lacks arrays {missing}; it has {list(arrays)}")
            test = (arrays["x_test"], arrays["y_test"]) if "x_test" in arrays else (None, None)
            return RealData(arrays["x"], arrays["y"], *test, arrays["x_unlabeled"] if "x_unlabeled" in arrays else None)
    if is_import_path(source):
        result = import_object(source, "data.real")()
        if isinstance(result, RealData):
            return result
        if isinstance(result, dict):
            return RealData(result["x"], result["y"], result.get("x_test"), result.get("y_test"), result.get("x_unlabeled"))
        if isinstance(result, tuple) and len(result) in (2, 4):
            return RealData(*result)
        raise SimulatorError(f"data.real: {source!r} must return RealData, a dict with x, y or a tuple (x, y[, x_test, y_test])")
    raise SimulatorError(f"data.real: {source!r} is neither an .npz file nor an import path 'module:function'")


def simulator_version(env: gym.Env, sim_id: str) -> str:
    """What identifies the data a simulator renders: its id (with gymnasium's ``-vN``), the class's
    own ``version`` attribute when it has one, and the installed feedback-loop release.

    Shards, caches and exports record it so that data from a changed simulator is never mistaken
    for data from this one.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("feedback-loop")
    except PackageNotFoundError:  # running from a source tree that was not installed
        release = "unknown"
    own = getattr(env, "version", None)
    return f"{sim_id}" + (f"@{own}" if own is not None else "") + f" (feedback-loop {release})"
