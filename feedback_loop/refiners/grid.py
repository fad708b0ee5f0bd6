"""A picture of what a refiner does: synthetic vs refined vs real samples.

``refinement_grid(synthetic, refined, real, path)`` writes a PNG and returns the matplotlib Figure,
so the loop can also log it to MLflow (``client.log_figure(run_id, fig, "refiner_grid.png")``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _images(batch: np.ndarray, n: int) -> np.ndarray:
    x = np.asarray(batch, dtype=np.float32)
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"refinement_grid draws one-channel images; got shape {x.shape}")
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"refinement_grid takes (N, 1, H, W) or (N, H, W) images; got shape {x.shape}")
    return x[:n]


def refinement_grid(
    synthetic: np.ndarray,
    refined: np.ndarray,
    real: np.ndarray,
    path: str | Path | None = None,
    *,
    columns: int = 10,
    rows: int = 2,
    vmax: float | None = None,
    cmap: str = "gray_r",
    title: str | None = None,
):
    """Rows of ``synthetic`` samples, the *same* samples ``refined``, their difference, and ``real`` samples.

    Inputs are (N, 1, H, W) or (N, H, W) in 0..``vmax`` (None: the largest value shown, so images in
    0..1 are not washed out on the digits' 0..16 scale), drawn with ``cmap`` (``gray_r``: ink dark on
    white, as digits are; ``gray`` for brightness images such as eyes). Draws
    ``rows × columns`` samples per group. Writes ``path`` (PNG) if given; returns the Figure (a
    ``matplotlib.figure.Figure`` with an Agg canvas: headless, no pyplot state to close).
    """
    from matplotlib.figure import Figure

    n = rows * columns
    synthetic, refined, real = _images(synthetic, n), _images(refined, n), _images(real, n)
    if synthetic.shape != refined.shape:
        raise ValueError(f"synthetic {synthetic.shape} and refined {refined.shape} must be the same samples")
    if vmax is None:
        vmax = float(max(synthetic.max(), refined.max(), real.max() if len(real) else 0.0)) or 1.0
    groups = [("synthetic", synthetic, cmap, 0.0, vmax),
              ("refined", refined, cmap, 0.0, vmax),
              ("refined − synthetic", refined - synthetic, "RdBu_r", -vmax / 4, vmax / 4),
              ("real", real, cmap, 0.0, vmax)]
    fig = Figure(figsize=(columns * 0.55 + 0.4, len(groups) * (rows * 0.55 + 0.35) + (0.3 if title else 0.0)))
    subfigs = fig.subfigures(len(groups), 1)
    for k, (sub, (label, images, cmap, lo, hi)) in enumerate(zip(subfigs, groups)):
        sub.suptitle(f"{title}\n{label}" if title and k == 0 else label, x=0.01, ha="left", fontsize=8)
        axes = sub.subplots(rows, columns, squeeze=False)
        for k, ax in enumerate(axes.flat):
            ax.set_axis_off()
            if k < len(images):
                ax.imshow(images[k], cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=90)
    return fig
