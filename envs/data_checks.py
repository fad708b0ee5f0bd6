"""The contract's checks on the data a simulator draws: every parameter changes it, per-sample
parameter arrays are accepted, ``sample_batch`` and repeated ``reset`` agree in distribution, and
shipped real data fits the observation space. ``contract_checks.py`` lists them in ``CHECKS``."""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from .base import validate_params
from .check_context import CheckContext, SimulatorContractError, batch, one_line
from .generation import _batch_by_reset, draw, takes_per_sample_params


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
    x0, y0 = batch(ctx, base, n=n)
    unchanged = []
    for name in names:
        value = _moved(ctx.space.spaces[name], base[name])
        if value == base[name]:  # a one-value Discrete: nothing to move
            continue
        x, y = batch(ctx, {**base, name: value}, n=n)
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
    params = {**validate_params(ctx.space, ctx.nominal, None), name: np.linspace(*_box_bounds(sub), n)}
    scalar_only = not takes_per_sample_params(ctx.env)
    try:  # a scalar-only simulator: through the loop's one call per group of equal values
        x, y = draw(ctx.env, params, n, ctx.seed) if scalar_only else ctx.env.sample_batch(params, n, ctx.seed)
    except Exception as err:
        raise SimulatorContractError(
            f"{ctx.name}.sample_batch failed on {'scalar values' if scalar_only else f'an array of {n} per-sample values'} "
            f"for {name!r}: {type(err).__name__}: {one_line(err)}",
            "accept a scalar or an array of n values per parameter (domain randomization draws one per "
            "sample); np.broadcast_to(params[name], (n,)) handles both. A simulator that renders one scene "
            "per call declares per_sample_params = False, and the loop calls it per sample") from err
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
    classes = int(env.num_classes) if yb.ndim == 1 and np.issubdtype(yb.dtype, np.integer) else None
    mismatch = distribution_mismatch(xb, yb, xr, yr, classes, ("a sample_batch batch", f"{m} resets"))
    if mismatch:
        raise SimulatorContractError(
            f"{ctx.name}: {mismatch}",
            "draw labels and samples the same way in both (reset can call sample_batch(params, 1, seed))")
    return None


def distribution_mismatch(x_a: np.ndarray, y_a: np.ndarray, x_b: np.ndarray, y_b: np.ndarray,
                          num_classes: int | None, names: tuple[str, str] = ("one sample", "the other"),
                          z_max: float = 6.0) -> str | None:
    """How two labelled samples drawn from what should be one distribution differ, or None.

    Two-sample z-tests on every class's share and on every feature's per-class mean; a difference of
    more than ``z_max`` standard errors is reported (chance alone almost never gets to 6). Without
    classes (``num_classes`` None: vector labels, a class per pixel) the labels' values join the
    features and every sample is one group.
    """
    m_a, m_b = len(y_a), len(y_b)
    x_a, x_b = np.asarray(x_a).reshape(m_a, -1).astype(np.float64), np.asarray(x_b).reshape(m_b, -1).astype(np.float64)
    y_a, y_b = np.asarray(y_a), np.asarray(y_b)
    if num_classes is None:
        x_a = np.concatenate([x_a, y_a.reshape(m_a, -1).astype(np.float64)], 1)
        x_b = np.concatenate([x_b, y_b.reshape(m_b, -1).astype(np.float64)], 1)
        y_a, y_b, num_classes = np.zeros(m_a, dtype=np.int64), np.zeros(m_b, dtype=np.int64), 1
    scale = float(np.concatenate([x_a, x_b]).std()) or 1.0
    for label in range(num_classes):
        p_a, p_b = float(np.mean(y_a == label)), float(np.mean(y_b == label))
        pooled = (p_a * m_a + p_b * m_b) / (m_a + m_b)
        if pooled > 0 and abs(p_a - p_b) / np.sqrt(pooled * (1 - pooled) * (1 / m_a + 1 / m_b) + 1e-12) > z_max:
            return f"class {label} is {p_a:.1%} of {names[0]} but {p_b:.1%} of {names[1]}"
        a, b = x_a[y_a == label], x_b[y_b == label]
        if len(a) < 2 or len(b) < 2:
            continue
        diff = np.abs(a.mean(0) - b.mean(0))
        se = np.sqrt(a.var(0) / len(a) + b.var(0) / len(b))
        z = np.where(diff <= 1e-6 * scale, 0.0, diff / np.maximum(se, 1e-12 * scale))
        if z.max() > z_max:
            worst = int(np.argmax(z))
            return (f"class {label} samples from {names[0]} and {names[1]} differ (feature {worst}: mean {a.mean(0)[worst]:.4g} vs "
                    f"{b.mean(0)[worst]:.4g} over {len(a)} and {len(b)} samples, z = {z.max():.1f})")
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
    from feedback_loop.tasks import TaskError, build_task, declared_task

    task = build_task(declared_task(ctx.env).spec())  # a fresh copy: binding fills in its label spec
    if task.name == "classification":
        k = int(ctx.env.num_classes)
        if not set(np.unique(real.y_val).tolist()) <= set(range(k)):
            raise SimulatorContractError(f"{ctx.name}.real_data() has labels outside [0, num_classes={k})",
                                         "map the real labels to 0 .. num_classes-1")
    try:
        task.bind(ctx.env, np.asarray(real.y_val))
        if real.y_test is not None:
            task.check_labels(np.asarray(real.y_test), "real_data() test half")
    except TaskError as err:
        raise SimulatorContractError(f"{ctx.name}.real_data() labels do not fit its task {task.name}: {one_line(err)}",
                                     "return real labels of the task's kind and shape") from err
    return None
