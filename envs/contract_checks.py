"""The simulator contract, rule by rule: ``CHECKS``, each a small function that raises
``SimulatorContractError`` saying what is wrong and how to fix it. ``checker.py`` runs them."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .base import validate_params
from .generation import _batch_by_reset, generate_batch


class SimulatorContractError(TypeError):
    """A simulator does not follow the feedback-loop contract; the message says what to fix.

    ``problem`` says what is wrong, ``fix`` (optional) how to fix it; the message joins them with " — ".
    """

    def __init__(self, problem: str, fix: str | None = None) -> None:
        super().__init__(f"{problem} — {fix}" if fix else problem)
        self.problem = problem
        self.fix = fix


@dataclass
class CheckContext:
    """What a check sees: the simulator, sizes and seed, and values an earlier check computed."""

    env: gym.Env
    n: int = 8
    """Batch size of the quick checks (determinism, labels)."""
    seed: int = 0
    samples: int = 500
    """Samples compared between sample_batch and repeated reset (more: a sharper test, slower)."""
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return type(self.env).__name__

    @property
    def space(self) -> spaces.Dict:
        return self.env.param_space

    @property
    def nominal(self) -> dict[str, Any]:
        return dict(self.env.nominal_params)


@dataclass(frozen=True)
class Check:
    name: str
    rule: str
    func: Callable[[CheckContext], list[str] | None]
    """Raises SimulatorContractError when broken; may return warnings (lines) when it passes."""
    needs: tuple[str, ...] = ()
    """Checks that must pass first (else this one is skipped)."""
    preflight: bool = False
    """Part of ``check_simulator``, run before every loop (keep these cheap)."""


# -- the checks ---------------------------------------------------------------------------------------

def _check_gymnasium(ctx: CheckContext) -> list[str]:
    from gymnasium.utils.env_checker import check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_env(ctx.env, skip_render_check=True)
        except Exception as err:  # gymnasium raises AssertionError (and others) with its own message
            raise SimulatorContractError(
                f"gymnasium's check_env: {_one_line(err) or type(err).__name__}",
                "make it a valid gymnasium.Env (spaces, reset(seed=...), step); see "
                "gymnasium.utils.env_checker.check_env") from err
    seen: list[str] = []
    for item in caught:
        text = _one_line(item.message)
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


def _check_num_classes(ctx: CheckContext) -> None:
    num_classes = getattr(ctx.env, "num_classes", None)
    if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) or num_classes < 1:
        raise SimulatorContractError(f"{ctx.name}.num_classes must be an int (the number of label classes); got {num_classes!r}",
                                     "set num_classes = K (labels are 0 .. K-1)")


def _check_label(ctx: CheckContext) -> None:
    obs, info = ctx.env.reset(seed=ctx.seed, options={"params": ctx.nominal})
    if not isinstance(info, dict) or "label" not in info:
        keys = sorted(info) if isinstance(info, dict) else type(info).__name__
        raise SimulatorContractError(f"{ctx.name}.reset must return info['label']; got keys {keys}",
                                     "return (sample, {'label': int(label)}) from reset")
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


def _batch(ctx: CheckContext, params: dict | None = None, n: int | None = None, seed: int | None = None):
    return generate_batch(ctx.env, ctx.nominal if params is None else params, n or ctx.n,
                          ctx.seed if seed is None else seed)


def _check_same_seed(ctx: CheckContext) -> None:
    x1, y1 = _batch(ctx)
    x2, y2 = _batch(ctx)
    if not (np.array_equal(x1, x2) and np.array_equal(y1, y2)):
        raise SimulatorContractError(
            f"{ctx.name}: the same params and seed gave different batches",
            "draw every random number from the seed given (np.random.default_rng(seed) in sample_batch, "
            "self.np_random after super().reset(seed=seed) in reset), never from global state")
    ctx.cache["nominal_batch"] = (x1, y1)


def _check_other_seed(ctx: CheckContext) -> None:
    n = max(ctx.n, 16)
    x1, _ = _batch(ctx, n=n)
    x2, _ = _batch(ctx, n=n, seed=ctx.seed + 1)
    if np.array_equal(x1, x2):
        raise SimulatorContractError(
            f"{ctx.name}: seeds {ctx.seed} and {ctx.seed + 1} gave the same batch",
            "seed the generator with the seed argument (np.random.default_rng(seed)), not a constant")


def _check_labels(ctx: CheckContext) -> None:
    _, y = ctx.cache.get("nominal_batch") or _batch(ctx)
    k = int(ctx.env.num_classes)
    if not all(0 <= int(label) < k for label in np.asarray(y).reshape(-1)):
        raise SimulatorContractError(f"{ctx.name}: labels must lie in [0, num_classes={k})",
                                     f"return integer labels 0 .. {k - 1}, or fix num_classes")


def _box_bounds(space: spaces.Box) -> tuple[float, float]:
    return float(np.asarray(space.low).reshape(-1)[0]), float(np.asarray(space.high).reshape(-1)[0])


def _moved(space: spaces.Space, nominal: Any) -> Any:
    """A value of ``space`` far from ``nominal``: the farther bound, or another category."""
    if isinstance(space, spaces.Discrete):
        low, high = int(space.start), int(space.start + space.n - 1)
        return high if int(nominal) != high else low
    low, high = _box_bounds(space)
    return high if abs(high - float(nominal)) >= abs(float(nominal) - low) else low


def _check_params_respected(ctx: CheckContext) -> None:
    """Each parameter alone, moved to its farther bound (or another category), must change a batch.

    A small batch first; a parameter that seems to change nothing (one that acts on few samples,
    such as the weight of a rare style) is tried again on a batch of ``samples``, then at the centre
    of ``param_space`` (one gated by another, such as a target that only acts when a strength is on)."""
    suspects = _unchanged_by(ctx, list(ctx.space.spaces), max(ctx.n, 64), ctx.nominal)
    if suspects:
        suspects = _unchanged_by(ctx, suspects, max(ctx.samples, 256), ctx.nominal)
    ignored = _unchanged_by(ctx, suspects, max(ctx.samples, 256), _centre(ctx)) if suspects else []
    if ignored:
        ignored = [f"{name} ({ctx.nominal[name]!r} -> {_moved(ctx.space.spaces[name], ctx.nominal[name])!r})"
                   for name in ignored]
        shown = ", ".join(ignored[:4]) + (f" and {len(ignored) - 4} more" if len(ignored) > 4 else "")
        raise SimulatorContractError(
            f"{ctx.name}: changing {shown} left the data unchanged",
            "use params[name] when generating (sample_batch, or reset's options['params']), or drop "
            "parameters that have no effect from param_space")


def _centre(ctx: CheckContext) -> dict[str, Any]:
    """Every Box parameter at the middle of its bounds, every Discrete one nominal."""
    return {name: sum(_box_bounds(sp)) / 2 if isinstance(sp, spaces.Box) else ctx.nominal[name]
            for name, sp in ctx.space.spaces.items()}


def _unchanged_by(ctx: CheckContext, names: list[str], n: int, base: dict[str, Any]) -> list[str]:
    x0, y0 = _batch(ctx, base, n=n)
    unchanged = []
    for name in names:
        value = _moved(ctx.space.spaces[name], base[name])
        if value == base[name]:  # a one-value Discrete: nothing to move
            continue
        x, y = _batch(ctx, {**base, name: value}, n=n)
        if np.array_equal(x, x0) and np.array_equal(y, y0):
            unchanged.append(name)
    return unchanged


def _check_per_sample(ctx: CheckContext) -> list[str] | None:
    if not hasattr(ctx.env, "sample_batch"):
        return None  # the loop's reset fallback splits per-sample arrays itself
    boxes = [(k, s) for k, s in ctx.space.spaces.items() if isinstance(s, spaces.Box)]
    if not boxes:
        return None
    name, sub = boxes[0]
    n = max(ctx.n, 16)
    low, high = float(np.asarray(sub.low).reshape(-1)[0]), float(np.asarray(sub.high).reshape(-1)[0])
    params = {**validate_params(ctx.space, ctx.nominal, None), name: np.linspace(low, high, n)}
    try:
        x, y = ctx.env.sample_batch(params, n, ctx.seed)
    except Exception as err:
        raise SimulatorContractError(
            f"{ctx.name}.sample_batch failed on an array of {n} per-sample values for {name!r}: "
            f"{type(err).__name__}: {_one_line(err)}",
            "accept a scalar or an array of n values per parameter (domain randomization draws one per "
            "sample); np.broadcast_to(params[name], (n,)) handles both") from err
    if len(x) != n or len(y) != n:
        raise SimulatorContractError(
            f"{ctx.name}.sample_batch returned {len(x)} samples and {len(y)} labels for n={n} per-sample values",
            "return exactly n samples and n labels")
    return None


def _check_batch_vs_reset(ctx: CheckContext) -> list[str] | None:
    """sample_batch(params, n, seed) and n resets draw from the same distribution.

    Not the same samples: reset draws each sample with its own seed (as the loop's fallback does),
    so the class shares and the per-class means of the two are compared, with two-sample z-tests
    (a difference of more than 6 standard errors fails; chance alone almost never gets there).
    """
    env = ctx.env
    if not hasattr(env, "sample_batch"):
        return None  # the loop draws batches by reset: nothing to compare
    m = ctx.samples
    full = validate_params(ctx.space, ctx.nominal, None)
    xb, yb = (np.asarray(a) for a in env.sample_batch(full, m, ctx.seed))
    xr, yr = _batch_by_reset(env, full, m, ctx.seed + 1)
    if xb.shape != xr.shape:
        raise SimulatorContractError(
            f"{ctx.name}: sample_batch gives samples of shape {xb.shape[1:]}, reset {xr.shape[1:]}",
            "make reset return one sample exactly as sample_batch draws it (feedback_loop.envs.Simulator does)")
    xb, xr = xb.reshape(m, -1).astype(np.float64), xr.reshape(m, -1).astype(np.float64)
    scale = float(np.concatenate([xb, xr]).std()) or 1.0
    for label in range(int(env.num_classes)):
        pb, pr = float(np.mean(yb == label)), float(np.mean(yr == label))
        pooled = (pb + pr) / 2
        if pooled > 0 and abs(pb - pr) / np.sqrt(pooled * (1 - pooled) * 2 / m + 1e-12) > 6:
            raise SimulatorContractError(
                f"{ctx.name}: class {label} is {pb:.1%} of a sample_batch batch but {pr:.1%} of {m} resets",
                "draw labels the same way in sample_batch and reset (reset can call sample_batch(params, 1, seed))")
        a, b = xb[yb == label], xr[yr == label]
        if len(a) < 2 or len(b) < 2:
            continue
        diff = np.abs(a.mean(0) - b.mean(0))
        se = np.sqrt(a.var(0) / len(a) + b.var(0) / len(b))
        z = np.where(diff <= 1e-6 * scale, 0.0, diff / np.maximum(se, 1e-12 * scale))
        if z.max() > 6:
            worst = int(np.argmax(z))
            raise SimulatorContractError(
                f"{ctx.name}: class {label} samples from sample_batch and from reset differ (feature {worst}: "
                f"mean {a.mean(0)[worst]:.4g} vs {b.mean(0)[worst]:.4g} over {len(a)} and {len(b)} samples)",
                "draw a sample the same way in both (reset can call sample_batch(params, 1, seed))")
    return None


def _check_real_data(ctx: CheckContext) -> list[str] | None:
    real_data = getattr(ctx.env, "real_data", None)
    real = real_data() if callable(real_data) else None
    if real is None:
        return [f"{ctx.name} ships no real data: a config must set data.real (an .npz file or module:function)"]
    shape = tuple(ctx.env.observation_space.shape or ())
    if tuple(np.shape(real.x_val)[1:]) != shape:
        raise SimulatorContractError(
            f"{ctx.name}.real_data() samples have shape {tuple(np.shape(real.x_val)[1:])}, observation_space {shape}",
            "return real samples shaped like the simulator's")
    k = int(ctx.env.num_classes)
    if not set(np.unique(real.y_val).tolist()) <= set(range(k)):
        raise SimulatorContractError(f"{ctx.name}.real_data() has labels outside [0, num_classes={k})",
                                     "map the real labels to 0 .. num_classes-1")
    return None


CHECKS: tuple[Check, ...] = (
    Check("gymnasium_check_env", "gymnasium's own env checker passes", _check_gymnasium),
    Check("param_space", "param_space is a Dict of bounded scalar Box / Discrete entries", _check_param_space,
          preflight=True),
    Check("ranges", "declared randomization ranges name [0, 1] Box parameters and ordered bounds", _check_ranges,
          ("param_space",), preflight=True),
    Check("nominal_params", "a nominal value for every parameter, inside param_space", _check_nominal,
          ("param_space",), preflight=True),
    Check("num_classes", "num_classes is a positive int", _check_num_classes, preflight=True),
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
    Check("labels_in_range", "labels lie in [0, num_classes)", _check_labels,
          ("num_classes", "nominal_params"), preflight=True),
    Check("other_seed_other_batch", "another seed gives another batch", _check_other_seed,
          ("same_seed_same_batch",)),
    Check("params_respected", "moving any one parameter changes the data (at nominal or mid-bounds)",
          _check_params_respected,
          ("same_seed_same_batch",)),
    Check("per_sample_params", "sample_batch accepts an array of n per-sample values", _check_per_sample,
          ("nominal_params",)),
    Check("batch_equals_reset", "sample_batch and n resets draw from the same distribution", _check_batch_vs_reset,
          ("label_in_info", "num_classes", "nominal_params")),
    Check("real_data", "real_data(), when shipped, matches observation_space and num_classes", _check_real_data,
          ("num_classes",)),
)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _one_line(obj: Any) -> str:
    return " ".join(_ANSI.sub("", str(obj)).split())
