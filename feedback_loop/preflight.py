"""Preflight: refuse every bad input before Ray or MLflow start.

``prepare_run(config)`` checks everything a run will need (policy and its options, the per-policy
options of ``compare``, the refiner and its options, the simulator, the real data, the task model)
and raises a one-line ``ConfigError`` (or ``SimulatorError`` / ``ImportPathError``) naming the key
path, the bad value and what is allowed. It only builds cheap, in-memory objects once: a typo then
costs seconds, not a Ray cluster start, an MLflow run and a failed first evaluation.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from .config import Config, ConfigError, coerce_value
from .config_rules import check_rules, refuse_said_elsewhere
from .envs import RealData
from .imports import ImportPathError
from .labels import apply_labels_budget
from .objectives import check_run as check_objective_run, fed_back_objective
from .policies import POLICIES, SAMPLERS
from .refiners import REFINERS, SimGANConfig
from .simulators import checked_simulator, load_real_data
from .tasks import Task, TaskError, task_for
from .topology import Topology
from .types import Objective

logger = logging.getLogger(__name__)

# Constructor arguments the loop passes itself to every policy (a policy adds its own: ``loop_options``);
# a user option may not set them.
_FROM_LOOP = {"param_space", "nominal_params", "seed", "direction"}
# Refiners whose options form a dataclass (checked field by field, then built once for range checks).
_REFINER_CONFIGS: dict[str, type] = {"simgan": SimGANConfig}


@dataclass
class PreparedRun:
    """What a run needs, checked before Ray or MLflow start."""

    config: Config
    env: gymnasium.Env  # the simulator, already contract-checked (simulators.checked_simulator)
    real: RealData  # simulators.load_real_data(env, config.data.real)
    input_shape: tuple[int, ...]  # real x_val.shape[1:]
    task: Task  # what is learned and scored, bound to the simulator and the real labels
    policy_options: dict[str, Any]  # validated/coerced constructor kwargs for make_policy(config.policy.name, ...)
    warnings: list[str] = field(default_factory=list)  # config_rules' warned settings, one line each
    fed_back: Objective | None = None  # objectives.fed_back_objective (None: the task's)

    @property
    def objective(self) -> Objective:
        """The score fed back and its direction (the task's, or the ``objective`` section's)."""
        return self.fed_back or self.task.objective

    @property
    def num_classes(self) -> int | None:
        """The classes of a classification or segmentation task (None for other tasks)."""
        return getattr(self.task, "num_classes", None)


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (the CLI prints exactly one line per user error)."""
    return " ".join(str(err).split()) or type(err).__name__


def _choices(names: typing.Iterable[str]) -> str:
    return ", ".join(sorted(names))


def _check_name(path: str, what: str, value: str, allowed: typing.Iterable[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"{path}: unknown {what} {value!r}; choose one of {_choices(allowed)}")


def _policy_kwargs(policy: str, options: Any, path: str) -> dict[str, Any]:
    """``options`` checked against the keyword parameters (and type hints) of the policy's ``__init__``."""
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values, got {type(options).__name__} {options!r}")
    init = POLICIES[policy].__init__
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # unresolvable annotations: names are still checked, values by construction
        hints = {}
    reserved = _FROM_LOOP | set(POLICIES[policy].loop_options)
    keyword = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    allowed = [name for name, p in inspect.signature(init).parameters.items()
               if name != "self" and p.kind in keyword and name not in reserved]
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        if key in reserved:
            raise ConfigError(f"{path}.{key}: set by the loop itself for policy {policy!r}; remove it "
                              f"(allowed: {_choices(allowed) or 'no options'})")
        if key not in allowed:
            raise ConfigError(f"{path}.{key}: unknown option for policy {policy!r}; "
                              f"allowed: {_choices(allowed) or 'no options'}")
        kwargs[key] = coerce_value(value, hints.get(key, Any), f"{path}.{key}")
    return kwargs


def direction_kwargs(policy: str, task: Task, path: str = "policy.name",
                     objective: Objective | None = None) -> dict[str, Any]:
    """``{"direction": ...}`` for a policy that takes the fed-back score's direction (``objective``, else the
    task's); a policy that cannot (a plug-in written before tasks) serves only maximized scores."""
    direction = (objective or task.objective).direction
    init = inspect.signature(POLICIES[policy].__init__).parameters
    if "direction" in init or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in init.values()):
        return {"direction": direction}
    if direction != "maximize":
        raise ConfigError(f"{path}: policy {policy!r} takes no 'direction', so it can only maximize, but the task's "
                          f"score {task.score!r} is minimized; allowed: a policy whose __init__ takes direction")
    return {}


def _construct_policy(policy: str, kwargs: dict[str, Any], path: str, env: gymnasium.Env, seed: int,
                      task: Task) -> Any:
    """Build the policy once, so range errors of its constructor surface now (Optuna: in-memory study)."""
    try:
        return POLICIES[policy](param_space=env.param_space, nominal_params=env.nominal_params, seed=seed,
                                **direction_kwargs(policy, task), **kwargs)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"{path}: policy {policy!r} rejects {kwargs}: {_one_line(err)}") from err


def local_ray_resources() -> dict[str, float]:
    """What the Ray a run starts here would have: the running one's resources if this process has one
    (tests, notebooks), else this machine's CPUs as Ray counts them (cgroup limits included)."""
    import ray

    if ray.is_initialized():
        return dict(ray.cluster_resources())
    try:
        from ray._private.utils import get_num_cpus  # what ray.init(num_cpus=None) uses

        return {"CPU": float(get_num_cpus())}
    except (ImportError, AttributeError):  # a later Ray without it: the machine's count
        return {"CPU": float(os.cpu_count() or 1)}


def _check_shares(config: Config, policy: Any) -> None:
    """Explicit CPU shares that a local Ray could never hold are refused now, not after Ray has started,
    naming the shares and the setting that decides how many actors there are (``executors.shares``).
    A cluster may grow, so a run that joins one is checked when it starts, against what it has."""
    from .executors.base import ResourceError
    from .executors.resources import joins_a_cluster
    from .executors.shares import fitted

    if joins_a_cluster(config.resources.ray_address):
        return
    topology = Topology.of(policy)
    learners = topology.learners(config.resources.learners)
    generators = learners if config.resources.placement == "pack" else config.resources.generators
    try:
        fitted(config, generators, learners, topology.persistent, local_ray_resources(), strict=True)
    except ResourceError as err:
        raise ConfigError(str(err)) from err


def _check_refiner(config: Config, input_shape: tuple[int, ...] | None) -> None:
    name, options = config.refiner.name, config.refiner.options
    _check_name("refiner.name", "refiner", name, REFINERS)
    config_cls = _REFINER_CONFIGS.get(name)
    if config_cls is None:
        if options:
            raise ConfigError(f"refiner.options: refiner {name!r} takes no options, got {sorted(options)}; "
                              f"allowed: none (or set refiner.name: {_choices(_REFINER_CONFIGS)})")
        return
    hints = typing.get_type_hints(config_cls)
    fields = [f.name for f in dataclasses.fields(config_cls)]
    coerced = {}
    for key, value in options.items():
        if key not in fields:
            raise ConfigError(f"refiner.options.{key}: unknown option for refiner {name!r}; allowed: {_choices(fields)}")
        coerced[key] = coerce_value(value, hints[key], f"refiner.options.{key}")
    try:
        config_cls.from_dict(coerced)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"refiner.options: {_one_line(err)}") from err
    if input_shape is not None and len(input_shape) != 3:  # SimGAN's convs refine images only
        raise ConfigError(f"refiner.name: refiner {name!r} needs image inputs of shape (C, H, W); "
                          f"the real data has samples of shape {input_shape}; allowed: none for such data")


def _check_model(config: Config, real: RealData, input_shape: tuple[int, ...], task: Task) -> None:
    """Build the task model once and run it on 2 real samples, as a learner would see them: its output
    must have the task's shape."""
    import torch

    from .learners.models import build_model, resolve_model_builder

    name = config.learner.model
    try:
        resolve_model_builder(name)
    except ImportPathError:
        raise  # already one line naming learner.model
    except ValueError as err:
        raise ConfigError(_one_line(err)) from err
    try:
        model = build_model(name, input_shape, task.outputs(), config.learner.hidden)
        x = torch.as_tensor(np.asarray(real.inputs()[:2]), dtype=torch.float32) * config.learner.input_scale
        model.eval()  # e.g. batch norm: inference mode works on any batch size
        with torch.no_grad():
            out = model(x)
        expected = task.output_shape(len(x), input_shape)
        if tuple(getattr(out, "shape", ())) != expected:
            raise ValueError(f"its output has shape {tuple(getattr(out, 'shape', ()))}, expected {expected}")
    except Exception as err:  # anything the learner would hit on its first batch
        reason = _one_line(err).removeprefix("learner.model: ")
        raise ConfigError(f"learner.model: {name!r} cannot be built for inputs of shape {input_shape} "
                          f"and the task {task.describe()} with {task.outputs()} outputs: {reason}") from err


def _check_search(config: Config, policy_kwargs: dict[str, Any]) -> None:
    """Successive halving needs per-candidate evaluations; the budget must leave room for the search."""
    from .schedulers import fidelities, reserve, rung_fidelities

    persistent = POLICIES[config.policy.name].learner_mode_for(policy_kwargs) == "persistent"
    search = config.search  # rungs and repeats against the topology: config_rules.RULES
    _check_policy_options(config.policy.name, policy_kwargs, config)
    budget, kept = config.budget.train_samples, reserve(config)
    cheapest = rung_fidelities(fidelities(config)[0], config.search.rungs, config.search.eta)[0].train_samples
    searches = not persistent and POLICIES[config.policy.name].searches
    first = cheapest * search.repeats  # the first candidate's evaluation, or its whole race
    if budget is not None and searches and kept + first > budget:
        what = f"one race of {search.repeats} seeds" if search.repeats > 1 else "one evaluation"
        raise ConfigError(f"budget.train_samples: value {budget} leaves no room for the search: re-scoring and the "
                          f"final model take {kept}, {what} {first}; allowed: >= {kept + first} "
                          "(or lower selection.* / final.*)")
    evaluations = config.budget.evaluations
    # uniform DR races too when the budget counts evaluations (its one-model path needs train_samples)
    races = not persistent and (searches or not budget)
    if evaluations is not None and races and evaluations < search.repeats:
        raise ConfigError(f"budget.evaluations: value {evaluations} cannot finish one race of search.repeats "
                          f"{search.repeats} seeds; allowed: >= {search.repeats}")


def _with_defaults(policy: str, kwargs: dict[str, Any], config: Config) -> dict[str, Any]:
    """``kwargs`` with what the policy takes from the rest of the config where the options leave it out
    (Optuna: the sampler, and the pruner that fits the search)."""
    return {**POLICIES[policy].default_options(config), **kwargs}


def _check_policy_options(policy: str, kwargs: dict[str, Any], config: Config) -> None:
    """The policy's own check of its options against the rest of the config (e.g. Optuna's pruner)."""
    try:
        POLICIES[policy].check_options(kwargs, config)
    except ValueError as err:
        raise ConfigError(_one_line(err)) from err


def build_policy(prepared: PreparedRun, run_dir: Path) -> Any:
    """The configured policy with its checked options, what the loop sets for it (``loop_kwargs``: e.g.
    Optuna's study journal in ``run_dir`` and its pruner over the search's rungs) and the task's direction."""
    from .policies import make_policy

    config, options = prepared.config, dict(prepared.policy_options)
    options.update(POLICIES[config.policy.name].loop_kwargs(env=prepared.env, config=config, run_dir=run_dir))
    options.update(direction_kwargs(config.policy.name, prepared.task, objective=prepared.objective))
    return make_policy(config.policy.name, param_space=prepared.env.param_space,
                       nominal_params=prepared.env.nominal_params, seed=config.policy.seed, **options)


def check_per_policy_options(config: Config) -> dict[str, dict[str, Any]]:
    """``policy_options`` (what ``compare`` gives each policy): every name a policy, every option one it
    takes, checked against the rest of the config; returns each policy's options with its defaults."""
    per_policy: dict[str, dict[str, Any]] = {}
    for name, options in config.policy_options.items():
        _check_name(f"policy_options.{name}", "policy", name, POLICIES)
        refuse_said_elsewhere(options, f"policy_options.{name}")
        # compare keeps the base sampler and the pruner that fits the search
        per_policy[name] = _with_defaults(name, _policy_kwargs(name, options, f"policy_options.{name}"), config)
    for name, options in per_policy.items():
        _check_policy_options(name, options, config)
    return per_policy


def prepare_run(config: Config) -> PreparedRun:
    """Check every input of a run and return what it needs; raise one line naming what is wrong."""
    # Names and types first: no simulator or model needed, so a typo is refused in milliseconds.
    policy = config.policy
    _check_name("policy.name", "policy", policy.name, POLICIES)
    _check_name("policy.sampler", "sampler", policy.sampler, SAMPLERS)
    warnings = check_rules(config)  # settings that do nothing or conflict (config_rules.RULES)
    kwargs = _with_defaults(policy.name, _policy_kwargs(policy.name, policy.options, "policy.options"), config)
    per_policy = check_per_policy_options(config)
    _check_refiner(config, None)
    _check_search(config, kwargs)
    check_objective_run(config, POLICIES[policy.name])

    env = checked_simulator(config.simulator.id, config.simulator.kwargs)
    try:
        real = apply_labels_budget(load_real_data(env, config.data.real), config.data.labels, config.seed)
    except ValueError as err:  # data.labels beyond the validation samples
        raise ConfigError(_one_line(err)) from err
    input_shape = tuple(int(n) for n in np.shape(real.x_val)[1:])
    obs_shape = getattr(getattr(env, "observation_space", None), "shape", None)
    if obs_shape is not None and tuple(obs_shape) != input_shape:
        raise ConfigError(f"data.real: samples of shape {input_shape} do not match the simulator's observations "
                          f"of shape {tuple(obs_shape)} ({config.simulator.id}); allowed: real data shaped like the simulator's")
    if len(real.x_val) == 0 and config.data.labels != 0:
        raise ConfigError("data.real: the real validation data is empty; allowed: at least one sample")
    if config.objective.score != "task" and len(real.unlabeled()) < 2:
        raise ConfigError(f"objective.score: value {config.objective.score!r} compares synthetic data with unlabeled "
                          f"real inputs, and there are {len(real.unlabeled())}; allowed: data.labels below the "
                          f"{len(real.x_val)} validation samples, or data.real with x_unlabeled")
    try:  # the learner's loss would fail on labels the task cannot take mid-run
        task = task_for(config.task.name, config.task.options, env, real.y_val)
        if real.y_test is not None:
            task.check_labels(np.asarray(real.y_test), "data.real (test half)")
    except TaskError as err:
        raise ConfigError(_one_line(err)) from err

    if config.final.widen and not getattr(env, "ranges", None) and not any(w.startswith("final.widen:") for w in warnings):
        # a searched candidate's intervals are the simulator's range factors (per-sample ranges: persistent
        # and uniform policies, which config_rules.RULES warn about already)
        warnings.append(f"final.widen: value {config.final.widen!r} is ignored: the simulator {config.simulator.id!r} "
                        f"has no range factors to widen (policy {policy.name!r})")
    _check_refiner(config, input_shape)
    _check_shares(config, _construct_policy(policy.name, kwargs, "policy.options", env, policy.seed, task))
    for name, options in per_policy.items():
        _construct_policy(name, options, f"policy_options.{name}", env, policy.seed, task)
    _check_model(config, real, input_shape, task)
    for line in warnings:  # once per run, before anything starts
        logger.warning("warning: %s", line)
    return PreparedRun(config=config, env=env, real=real, input_shape=input_shape, task=task,
                       policy_options=kwargs, warnings=warnings,
                       fed_back=fed_back_objective(config.objective, task))
