"""Where the parameters come from: a params file (``--params``) or a finished run (``--from``).

The params file is the format ``feedback-loop export`` writes (YAML or JSON)::

    simulator: {id: ..., kwargs: {...}, version: ...}
    params: {<every param_space key>: value}
    intervals: {...}   # informative only, ignored here
    ranges: {...}      # optional: per-sample uniform ranges {name: [low, high]}
    seed: <int>        # optional
    task: {name: ..., options: {...}}   # optional: the task the labels serve (default: the simulator's)
    source: {...}      # optional, copied into the manifest

Every problem a user can fix is a ``GenerateInputError``: one line naming the file, the key, the
value and what is allowed.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import yaml

from ..errors import UserError


class GenerateInputError(UserError):
    """A params file, run directory or refiner file that cannot be used; the message says why."""


@dataclass(frozen=True)
class RefinerSource:
    """A fitted refiner: its name, options (as in a config's ``refiner.options``) and weight file."""

    name: str
    options: dict[str, Any]
    weights: Path


@dataclass
class Source:
    """The simulator and parameters to generate with, and where they came from."""

    sim_id: str
    sim_kwargs: dict[str, Any]
    params: dict[str, Any]
    ranges: dict[str, list[float]] | None = None
    seed: int | None = None
    version: str | None = None
    """The simulator version the source recorded (None: not recorded)."""
    origin: dict[str, Any] = field(default_factory=dict)
    """Where the parameters came from (copied into the manifest as ``source``)."""
    refiner: RefinerSource | None = None
    task: dict[str, Any] | None = None
    """The task's spec (``{"name", "options"}``, as a run's ``summary.json`` records it), or None: the
    simulator's declared task."""
    label: str = "params"
    """How error messages name the source, e.g. ``--params params.yaml``."""


def load_params_file(path: str | Path) -> Source:
    """A ``Source`` from a params file; missing ``simulator`` or ``params`` is named."""
    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())  # YAML is a superset of JSON: both parse here
    except FileNotFoundError:
        raise GenerateInputError(f"--params {str(path)!r}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise GenerateInputError(f"--params {str(path)!r}: cannot read it ({err})") from None
    except yaml.YAMLError as err:
        raise GenerateInputError(f"--params {str(path)!r}: not valid YAML or JSON ({_one_line(err)})") from None
    if not isinstance(document, dict):
        raise GenerateInputError(f"--params {str(path)!r}: expected a mapping with keys simulator and params, "
                                 f"got {type(document).__name__}")
    for key in ("simulator", "params"):
        if key not in document:
            raise GenerateInputError(f"--params {str(path)!r}: missing key {key!r} (the file needs simulator "
                                     "{id, kwargs, version} and params; feedback-loop export writes one)")
    simulator, params = document["simulator"], document["params"]
    if not isinstance(simulator, dict) or not isinstance(simulator.get("id"), str):
        raise GenerateInputError(f"--params {str(path)!r}: simulator must be a mapping with a string id, "
                                 f"got {simulator!r}")
    if not isinstance(params, dict):
        raise GenerateInputError(f"--params {str(path)!r}: params must be a mapping of parameter names to values, "
                                 f"got {type(params).__name__}")
    seed = document.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or seed < 0):
        raise GenerateInputError(f"--params {str(path)!r}: seed must be a non-negative integer, got {seed!r}")
    kwargs = simulator.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise GenerateInputError(f"--params {str(path)!r}: simulator.kwargs must be a mapping, got {kwargs!r}")
    task = document.get("task")
    if isinstance(task, str):  # a task's name alone
        task = {"name": task}
    if task is not None and not (isinstance(task, dict) and isinstance(task.get("name"), str)):
        raise GenerateInputError(f"--params {str(path)!r}: task must be a task name or a mapping with a string "
                                 f"name (and options), got {task!r}")
    return Source(sim_id=simulator["id"], sim_kwargs=kwargs, params=params, ranges=document.get("ranges") or None,
                  seed=seed, version=simulator.get("version"), task=task, label=f"--params {path}",
                  origin={"params_file": str(path.resolve()), **({"source": document["source"]}
                                                                 if document.get("source") else {})})


def load_run_dir(run_dir: str | Path, with_refiner: bool) -> Source:
    """A ``Source`` from a finished run: the delivered (else best) parameters and ranges, the run's
    simulator and seed, and with ``with_refiner`` its fitted refiner."""
    from ..config import load_config
    from ..executors.refiner_stage import REFINER_FILE
    from ..export import chosen_params
    from ..simulators import make_simulator

    run_dir = Path(run_dir)
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        hint = (f"the run has not finished; finish it with `feedback-loop resume {run_dir}`"
                if (run_dir / "checkpoint.json").is_file() else "is it a feedback-loop run directory?")
        raise GenerateInputError(f"--from {str(run_dir)!r}: no summary.json ({hint})")
    try:
        summary = json.loads(summary_path.read_text())
    except ValueError as err:
        raise GenerateInputError(f"--from {str(run_dir)!r}: summary.json is corrupt ({err})") from None
    config = load_config(run_dir / "config.yaml")
    env = make_simulator(config.simulator.id, config.simulator.kwargs)
    params, _ = chosen_params(summary, env)  # the same choice `feedback-loop export` makes
    ranges = summary.get("selected_ranges") if summary.get("selected_params") else summary.get("best_ranges")
    refiner = None
    if with_refiner:
        weights = run_dir / REFINER_FILE
        if config.refiner.name == "none" or not weights.is_file():
            raise GenerateInputError(f"--refiner: the run in {str(run_dir)!r} has no fitted refiner "
                                     f"(refiner: {config.refiner.name}, {REFINER_FILE} "
                                     f"{'present' if weights.is_file() else 'missing'}); leave out --refiner")
        refiner = RefinerSource(config.refiner.name, dict(config.refiner.options), weights)
    return Source(sim_id=config.simulator.id, sim_kwargs=dict(config.simulator.kwargs), params=params,
                  ranges=ranges or None, seed=config.seed, version=None, task=summary.get("task"),
                  origin={"run_dir": str(run_dir.resolve()), "mlflow_run_id": summary.get("mlflow_run_id"),
                          "policy": summary.get("policy")}, refiner=refiner, label=f"--from {run_dir}")


def check_source(source: Source, env: gym.Env, installed_version: str) -> dict[str, Any]:
    """The parameters, checked: every ``param_space`` key present, none unknown, each in range.

    A simulator version other than the installed one is a warning (stderr), not an error."""
    from ..envs.base import validate_params
    from ..envs.generation import nominal_params_of

    where, space = source.label, env.param_space.spaces
    missing = sorted(set(space) - set(source.params))
    if missing:
        raise GenerateInputError(f"{where}: params lacks {missing}; give a value for every parameter of "
                                 f"{source.sim_id} (feedback-loop export writes them all)")
    try:
        checked = validate_params(env.param_space, nominal_params_of(env), source.params)
        for name, bounds in (source.ranges or {}).items():  # per-sample ranges: both ends in bounds
            if name not in space or not isinstance(bounds, (list, tuple)) or len(bounds) != 2 or bounds[0] > bounds[1]:
                raise ValueError(f"ranges.{name}: {bounds!r} must be [low, high] with low <= high, for a parameter "
                                 f"of {source.sim_id}")
            for end in bounds:
                validate_params(env.param_space, checked, {name: end})
    except (ValueError, TypeError) as err:
        raise GenerateInputError(f"{where}: {err}") from None
    if source.version is not None and source.version != installed_version:
        print(f"warning: {where} was written for simulator {source.version!r}; the installed one is "
              f"{installed_version!r}, so the data may differ from the run's", file=sys.stderr)
    return checked


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split())
