"""The simulator contract, rule by rule: ``CHECKS``, each a small function that raises
``SimulatorContractError`` saying what is wrong and how to fix it. ``checker.py`` runs them.
This module holds the checks on the interface (spaces, nominal values, reset, seeds, labels);
``data_checks.py`` those on the data drawn."""

from __future__ import annotations

import warnings

import numpy as np
from gymnasium import spaces

from .base import validate_params
from .check_context import Check, CheckContext, SimulatorContractError, batch, one_line
from .data_checks import _check_batch_vs_reset, _check_params_respected, _check_per_sample, _check_real_data

__all__ = ["CHECKS", "Check", "CheckContext", "SimulatorContractError", "one_line"]


# -- the checks ---------------------------------------------------------------------------------------

def _check_gymnasium(ctx: CheckContext) -> list[str]:
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_env(ctx.env, skip_render_check=True)
        except Exception as err:  # gymnasium raises AssertionError (and others) with its own message
            raise SimulatorContractError(
                f"gymnasium's check_env: {one_line(err) or type(err).__name__}",
                "make it a valid gymnasium.Env (spaces, reset(seed=...), step); see "
                "gymnasium.utils.env_checker.check_env") from err
    seen: list[str] = []
    for item in caught:
        text = one_line(item.message)
        if text and text not in seen:
            seen.append(text)
    return seen


def _check_param_space(ctx: CheckContext) -> None:
    space = getattr(ctx.env, "param_space", None)
    if not isinstance(space, spaces.Dict):
        raise SimulatorContractError(
            f"{ctx.name}.param_space must be a gymnasium.spaces.Dict of Box/Discrete entries; "
            f"got {type(space).__name__}",
            "set self.param_space = spaces.Dict({'name': spaces.Box(low, high, shape=()), ...}) in __init__")
    if not space.spaces:
        raise SimulatorContractError(f"{ctx.name}.param_space has no parameters",
                                     "add the generation parameters a policy may tune")
    for key, sub in space.spaces.items():
        scalar_box = isinstance(sub, spaces.Box) and int(np.prod(sub.shape)) == 1
        if not (scalar_box or isinstance(sub, spaces.Discrete)):
            raise SimulatorContractError(
                f"{ctx.name}.param_space[{key!r}] is {sub!r}; entries must be scalar Box or Discrete",
                "split a vector parameter into one scalar Box per component")
        if scalar_box and not (np.all(np.isfinite(sub.low)) and np.all(np.isfinite(sub.high))):
            raise SimulatorContractError(
                f"{ctx.name}.param_space[{key!r}] has unbounded limits; give physically meaningful bounds",
                "give the Box finite low and high")


def _check_ranges(ctx: CheckContext) -> None:
    space = ctx.space
    for factor, spec in (getattr(ctx.env, "ranges", None) or {}).items():
        for param in (spec.position, spec.width):
            sub = space.spaces.get(param)
            if not (isinstance(sub, spaces.Box) and float(sub.low) == 0.0 and float(sub.high) == 1.0):
                raise SimulatorContractError(
                    f"{ctx.name}.ranges[{factor!r}] names {param!r}, which must be a Box parameter in [0, 1] of param_space",
                    f"add {param!r} to param_space as spaces.Box(0.0, 1.0, shape=())")
        if not spec.low < spec.high:
            raise SimulatorContractError(f"{ctx.name}.ranges[{factor!r}] has bounds [{spec.low}, {spec.high}]; need low < high",
                                         "give the factor's physical bounds in increasing order")


def _check_nominal(ctx: CheckContext) -> None:
    space = ctx.space
    nominal = getattr(ctx.env, "nominal_params", None)
    if not isinstance(nominal, dict) or set(nominal) != set(space.spaces):
        missing = sorted(set(space.spaces) - set(nominal or {}))
        extra = sorted(set(nominal or {}) - set(space.spaces)) if isinstance(nominal, dict) else []
        raise SimulatorContractError(
            f"{ctx.name}.nominal_params must give a value for every parameter; missing {missing}"
            + (f", not in param_space {extra}" if extra else ""),
            "set self.nominal_params = {name: value} with exactly the keys of param_space")
    try:
        validate_params(space, nominal, nominal)
    except ValueError as err:
        raise SimulatorContractError(f"{ctx.name}.nominal_params is outside param_space: {err}",
                                     "move the nominal value inside the bounds, or widen the bounds") from err


def declared_task(ctx: CheckContext):
    """The task the simulator declares (``task`` attribute; classification when absent), unbound."""
    from feedback_loop.tasks import TaskError, declared_task as declared

    if "task" not in ctx.cache:
        try:
            ctx.cache["task"] = declared(ctx.env)
        except (TaskError, ImportError) as err:
            raise SimulatorContractError(f"{ctx.name}.task: {one_line(err)}",
                                         "set task to classification, regression, segmentation or a Task") from err
    return ctx.cache["task"]


def _check_task(ctx: CheckContext) -> list[str]:
    task = declared_task(ctx)
    return [f"{ctx.name} serves the task {task.describe()}"]


def has_classes(ctx: CheckContext) -> bool:
    """Whether the declared task labels with classes (classification, segmentation)."""
    return getattr(declared_task(ctx), "name", "") in ("classification", "segmentation")


def _check_num_classes(ctx: CheckContext) -> None:
    if not has_classes(ctx) and getattr(ctx.env, "num_classes", None) is None:
        return  # a regression has targets, not classes
    num_classes = getattr(ctx.env, "num_classes", None)
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
        raise SimulatorContractError(f"{ctx.name}.num_classes must be an int (the number of label classes); got {num_classes!r}",
                                     "set num_classes = K (labels are 0 .. K-1)")


def _check_label(ctx: CheckContext) -> None:
    obs, info = ctx.env.reset(seed=ctx.seed, options={"params": ctx.nominal})
    if not isinstance(info, dict) or "label" not in info:
        keys = sorted(info) if isinstance(info, dict) else type(info).__name__
        raise SimulatorContractError(f"{ctx.name}.reset must return info['label']; got keys {keys}",
                                     "return (sample, {'label': label}) from reset: a class index, or an array "
                                     "of the task's label shape")
    ctx.cache["reset_obs"] = obs


def _check_observation(ctx: CheckContext) -> None:
    obs = ctx.cache["reset_obs"]
    space = ctx.env.observation_space
    if not space.contains(np.asarray(obs, dtype=space.dtype)):
        shape = np.shape(obs)
        raise SimulatorContractError(
            f"{ctx.name}.reset returned an observation outside observation_space (shape {shape}, space {space})",
            "make observation_space match the samples (shape, dtype, bounds)")


def _out_of_range(ctx: CheckContext) -> tuple[str, float]:
    return next(iter(ctx.space.spaces)), 1e9


def _check_bad_params(ctx: CheckContext) -> None:
    bad_name, value = _out_of_range(ctx)
    try:
        ctx.env.reset(seed=ctx.seed, options={"params": {bad_name: value}})
    except ValueError as err:
        ctx.cache["bad_params_error"] = str(err)
    else:
        raise SimulatorContractError(
            f"{ctx.name}.reset accepted {bad_name}=1e9, outside param_space; it must raise ValueError",
            "validate params first, e.g. params = self.check_params(params) (feedback_loop.envs.Simulator) "
            "or feedback_loop.envs.validate_params")


def _check_bad_params_named(ctx: CheckContext) -> None:
    bad_name, _ = _out_of_range(ctx)
    message = ctx.cache.get("bad_params_error", "")
    if bad_name not in message:
        raise SimulatorContractError(
            f"{ctx.name}.reset rejected {bad_name}=1e9 with ValueError({message!r}), which does not name the parameter",
            "say which parameter, its value and its bounds (feedback_loop.envs.validate_params does)")


def _check_unknown_params(ctx: CheckContext) -> None:
    try:
        ctx.env.reset(seed=ctx.seed, options={"params": {"no_such_parameter": 1.0}})
    except ValueError as err:
        if "unknown parameter" not in str(err):
            raise SimulatorContractError(
                f"{ctx.name}.reset rejected an unknown parameter with ValueError({str(err)!r}), not saying 'unknown parameter'",
                "list the unknown names and the known ones (feedback_loop.envs.validate_params does)") from err
    else:
        raise SimulatorContractError(
            f"{ctx.name}.reset accepted a parameter not in param_space ('no_such_parameter'); it must raise ValueError",
            "reject names outside param_space (feedback_loop.envs.validate_params does)")


def _check_same_seed(ctx: CheckContext) -> None:
    x1, y1 = batch(ctx)
    x2, y2 = batch(ctx)
    if not (np.array_equal(x1, x2) and np.array_equal(y1, y2)):
        raise SimulatorContractError(
            f"{ctx.name}: the same params and seed gave different batches",
            "draw every random number from the seed given (np.random.default_rng(seed) in sample_batch, "
            "self.np_random after super().reset(seed=seed) in reset), never from global state")
    ctx.cache["nominal_batch"] = (x1, y1)


def _check_other_seed(ctx: CheckContext) -> None:
    n = max(ctx.n, 16)
    x1, _ = batch(ctx, n=n)
    x2, _ = batch(ctx, n=n, seed=ctx.seed + 1)
    if np.array_equal(x1, x2):
        raise SimulatorContractError(
            f"{ctx.name}: seeds {ctx.seed} and {ctx.seed + 1} gave the same batch",
            "seed the generator with the seed argument (np.random.default_rng(seed)), not a constant")


def _check_labels(ctx: CheckContext) -> None:
    from feedback_loop.tasks import TaskError, build_task

    _, y = ctx.cache.get("nominal_batch") or batch(ctx)
    task = build_task(declared_task(ctx).spec())  # a fresh copy: binding fills in its label spec
    if task.name == "classification":
        k = int(ctx.env.num_classes)
        if not all(0 <= int(label) < k for label in np.asarray(y).reshape(-1)):
            raise SimulatorContractError(f"{ctx.name}: labels must lie in [0, num_classes={k})",
                                         f"return integer labels 0 .. {k - 1}, or fix num_classes")
    try:
        task.bind(ctx.env, np.asarray(y))
    except TaskError as err:
        raise SimulatorContractError(f"{ctx.name}: its labels do not fit its task {task.name}: {one_line(err)}",
                                     "return labels of the task's kind and shape, or declare another task") from err
    ctx.cache["label_shape"] = task.label_shape()


CHECKS: tuple[Check, ...] = (
    Check("gymnasium_check_env", "gymnasium's own env checker passes", _check_gymnasium),
    Check("param_space", "param_space is a Dict of bounded scalar Box / Discrete entries", _check_param_space,
          preflight=True),
    Check("ranges", "declared randomization ranges name [0, 1] Box parameters and ordered bounds", _check_ranges,
          ("param_space",), preflight=True),
    Check("nominal_params", "a nominal value for every parameter, inside param_space", _check_nominal,
          ("param_space",), preflight=True),
    Check("task", "task names a known task (classification when absent)", _check_task, preflight=True),
    Check("num_classes", "num_classes is a positive int (tasks with classes)", _check_num_classes, ("task",),
          preflight=True),
    Check("label_in_info", "reset(seed, options={'params': ...}) returns info['label']", _check_label,
          ("nominal_params",), preflight=True),
    Check("observation_in_space", "reset's sample lies in observation_space", _check_observation,
          ("label_in_info",), preflight=True),
    Check("bad_params_rejected", "a parameter outside its bounds raises ValueError", _check_bad_params,
          ("param_space",), preflight=True),
    Check("bad_params_named", "that ValueError names the parameter", _check_bad_params_named,
          ("bad_params_rejected",)),
    Check("unknown_params_rejected", "a parameter not in param_space raises ValueError('unknown parameter ...')",
          _check_unknown_params, ("nominal_params",)),
    Check("same_seed_same_batch", "the same params and seed give the same batch", _check_same_seed,
          ("nominal_params",), preflight=True),
    Check("labels_in_range", "labels fit the task (classes in [0, num_classes); finite vectors; a class per pixel)",
          _check_labels,
          ("num_classes", "nominal_params"), preflight=True),
    Check("other_seed_other_batch", "another seed gives another batch", _check_other_seed,
          ("same_seed_same_batch",)),
    Check("params_respected", "moving any one parameter changes the data (at nominal or mid-bounds)",
          _check_params_respected,
          ("same_seed_same_batch",)),
    Check("per_sample_params", "sample_batch accepts an array of n per-sample values (or declares "
          "per_sample_params = False: then one call per sample)", _check_per_sample,
          ("nominal_params",)),
    Check("batch_equals_reset", "sample_batch and n resets draw from the same distribution", _check_batch_vs_reset,
          ("label_in_info", "num_classes", "nominal_params")),
    Check("real_data", "real_data(), when shipped, matches observation_space and the task's labels", _check_real_data,
          ("num_classes",)),
)
