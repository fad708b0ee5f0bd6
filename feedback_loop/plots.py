"""Plots of a run's history (matplotlib, headless)."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def best_so_far_figure(history: list[dict[str, Any]], title: str = "", score_name: str = "score",
                       direction: str = "maximize") -> Any:
    """Each evaluation's score and the best score so far, against evaluations; None if empty."""
    if not history:
        return None
    steps = [h["step"] for h in history]
    figure, axis = plt.subplots(figsize=(6, 4))
    ok = [(h["step"], h["score"]) for h in history if h["score"] is not None]
    if ok:
        axis.scatter(*zip(*ok), s=10, alpha=0.5, label="evaluation score")
    best = [h["best_score"] for h in history]
    axis.step(steps, [b if b is not None else float("nan") for b in best], where="post", label="best so far")
    axis.set_xlabel("evaluations")
    axis.set_ylabel(f"validation {score_name} ({'higher' if direction == 'maximize' else 'lower'} is better)")
    axis.set_title(title)
    axis.legend(loc="lower right" if direction == "maximize" else "upper right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    plt.close(figure)
    return figure


def _band(histories: list[list[dict[str, Any]]], key: str, grid) -> tuple[Any, Any, Any]:
    """Mean, min and max over seeds of the best score so far, interpolated on a common x grid."""
    import numpy as np

    curves = []
    for history in histories:
        xs = np.array([h[key] for h in history], dtype=float)
        ys = np.array([np.nan if h["best_score"] is None else h["best_score"] for h in history], dtype=float)
        curves.append(np.interp(grid, xs, np.nan_to_num(ys, nan=np.nanmin(ys) if np.isfinite(ys).any() else 0.0),
                                left=np.nan))
    stack = np.vstack(curves)
    return np.nanmean(stack, 0), np.nanmin(stack, 0), np.nanmax(stack, 0)


def comparison_figure(histories: dict[str, list[list[dict[str, Any]]]]) -> Any:
    """Best score so far against evaluations and against generated samples; a line per policy,
    a band (min to max) over seeds."""
    import numpy as np

    figure, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for (key, label), axis in zip([("step", "evaluations"), ("samples_generated", "generated samples")], axes):
        for policy, runs in histories.items():
            runs = [r for r in runs if r]
            if not runs:
                continue
            top = max(max(h[key] for h in r) for r in runs)
            first = max(r[0][key] for r in runs)  # where every seed has a value
            grid = np.linspace(first, top, 200)
            mean, low, high = _band(runs, key, grid)
            (line,) = axis.plot(grid, mean, label=f"{policy} ({len(runs)} seeds)")
            axis.fill_between(grid, low, high, color=line.get_color(), alpha=0.2)
        axis.set_xlabel(label)
        axis.set_ylabel("best validation score so far")
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    plt.close(figure)
    return figure


def samples_figure(x: Any, y: Any, real_x: Any = None, real_y: Any = None, per_class: int = 8,
                   title: str = "") -> Any:
    """Generated samples next to real ones: a grid per class for images (C, H, W), a scatter for 2-D
    points; None for other shapes."""
    import numpy as np

    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 2 and x.shape[1] == 2:
        figure, axes = plt.subplots(1, 2 if real_x is not None else 1, figsize=(10, 4.5), squeeze=False)
        panels = [("generated at the best parameters", x, y)] + ([("real (validation)", np.asarray(real_x), np.asarray(real_y))]
                                                                 if real_x is not None else [])
        for axis, (name, px, py) in zip(axes[0], panels):
            for label in np.unique(py):
                axis.scatter(*px[py == label].T, s=4, alpha=0.5, label=f"class {label}")
            axis.set_title(name)
            axis.legend(loc="upper right", fontsize=8)
        figure.suptitle(title)
        figure.tight_layout()
        plt.close(figure)
        return figure
    if x.ndim != 4:
        return None
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):  # no classes to group by: a plain grid
        return _image_grid(x, real_x, rows=4, cols=per_class, title=title)
    classes = sorted(np.unique(y).tolist())
    real_x = None if real_x is None else np.asarray(real_x)
    cols = per_class * (2 if real_x is not None else 1) + (1 if real_x is not None else 0)
    figure, axes = plt.subplots(len(classes), cols, figsize=(cols * 0.6, len(classes) * 0.6 + 0.6), squeeze=False)
    vmax = float(max(x.max(), real_x.max() if real_x is not None else 0)) or 1.0
    for row, label in enumerate(classes):
        generated = x[y == label][:per_class]
        real = real_x[np.asarray(real_y) == label][:per_class] if real_x is not None else []
        for col in range(cols):
            axis = axes[row, col]
            axis.axis("off")
            image = (generated[col] if col < len(generated) else None) if col < per_class else (
                real[col - per_class - 1] if 0 <= col - per_class - 1 < len(real) else None)
            if image is not None:
                axis.imshow(image.mean(0), cmap="gray_r", vmin=0, vmax=vmax, interpolation="nearest")
    axes[0, 0].set_title("generated", loc="left", fontsize=9)
    if real_x is not None:
        axes[0, per_class + 1].set_title("real (validation)", loc="left", fontsize=9)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    plt.close(figure)
    return figure


def _image_grid(x: Any, real_x: Any, rows: int, cols: int, title: str = "") -> Any:
    """``rows`` × ``cols`` generated images, and as many real ones beside them."""
    import numpy as np

    panels = [("generated", np.asarray(x))] + ([("real (validation)", np.asarray(real_x))] if real_x is not None else [])
    height, width = np.asarray(x).shape[-2:]
    figure, axes = plt.subplots(rows, cols * len(panels), squeeze=False,
                                figsize=(cols * len(panels) * 0.35 * max(1.0, width / height) + 0.5, rows * 0.5 + 0.6))
    for p, (name, images) in enumerate(panels):
        for k in range(rows * cols):
            axis = axes[k // cols, p * cols + k % cols]
            axis.axis("off")
            if k < len(images):
                axis.imshow(images[k].mean(0), cmap="gray", interpolation="nearest")
        axes[0, p * cols].set_title(name, loc="left", fontsize=9)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    plt.close(figure)
    return figure


def population_figure(population: dict[str, Any], title: str = "", max_params: int = 11) -> Any:
    """A population's schedule: each member's validation score and parameters per generation, a
    line per member, a marker where it copied another member (exploit); the parameters that varied
    most across the schedule (at most ``max_params``). None without a schedule."""
    import numpy as np

    schedule = population.get("schedule") or []
    if not schedule:
        return None
    members = sorted({e["member"] for e in schedule})
    names = [k for k, v in schedule[0]["params"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    spread = {k: float(np.ptp([float(e["params"][k]) for e in schedule])) for k in names}
    shown = [k for k in sorted(names, key=lambda k: -spread[k]) if spread[k] > 0][:max_params] or names[:max_params]
    panels = ["score", *shown]
    cols = min(3, len(panels))
    rows = (len(panels) + cols - 1) // cols
    figure, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.8 * rows), squeeze=False)
    copies = {(e["member"], e["generation"]): e["copied_from"] for e in population.get("lineage", [])}
    for axis, panel in zip(axes.flat, panels):
        for member in members:
            mine = sorted((e for e in schedule if e["member"] == member), key=lambda e: e["generation"])
            xs = [e["generation"] for e in mine]
            ys = [np.nan if (e["score"] if panel == "score" else e["params"][panel]) is None else
                  float(e["score"] if panel == "score" else e["params"][panel]) for e in mine]
            (line,) = axis.plot(xs, ys, marker=".", drawstyle="steps-post", label=f"member {member}")
            hops = [(x, y) for x, y in zip(xs, ys) if (member, x) in copies]
            if hops:
                axis.scatter(*zip(*hops), marker="o", s=40, facecolors="none", edgecolors=line.get_color())
        axis.set_title("validation score" if panel == "score" else panel, fontsize=9)
        axis.set_xlabel("generation", fontsize=8)
        axis.grid(alpha=0.3)
    for axis in list(axes.flat)[len(panels):]:
        axis.axis("off")
    axes[0, 0].legend(fontsize=7, loc="lower right")
    figure.suptitle(f"{title} (circles: copied another member)", fontsize=10)
    figure.tight_layout()
    plt.close(figure)
    return figure
