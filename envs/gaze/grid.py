"""A picture of synthetic eye patches next to target ones: ``sample_grid_png(path, params, real_x, real_y)``.

Usable from the loop (e.g. to log a grid to MLflow) and as a script that writes
``docs/gaze_samples.png`` with nominal parameters vs. the generated target's *validation* half::

    python -m feedback_loop.envs.gaze.grid docs/gaze_samples.png
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping

import numpy as np


def sample_grid_png(path: str | Path, params: Mapping | None, real_x: np.ndarray | None = None,
                    real_y: np.ndarray | None = None, *, rows: int = 6, cols: int = 4, seed: int = 0,
                    env=None, title: str | None = None) -> Path:
    """Write a PNG: ``rows`` x ``cols`` synthetic patches drawn with ``params`` (left) and, if given,
    as many target patches (right), each titled with its (pitch, yaw) label in degrees. Headless (Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .env import GazeEnv

    env = env or GazeEnv()
    x, y = env.sample_batch(params, rows * cols, seed)
    panels = [(x, y, "synthetic")]
    if real_x is not None:
        if real_y is None:
            raise ValueError("give real_y with real_x")
        panels.append((np.asarray(real_x)[: rows * cols], np.asarray(real_y)[: rows * cols], "target (validation)"))
    gap, (h, w) = 3, x.shape[-2:]
    fig, axes = plt.subplots(1, len(panels), figsize=(len(panels) * cols * 1.45, rows * 0.95 + 0.7), squeeze=False)
    for ax, (px, py, name) in zip(axes[0], panels):
        # one mosaic per panel (white gaps), labels written over each tile's top-left corner
        mosaic = np.ones((rows * (h + gap) - gap, cols * (w + gap) - gap), dtype=np.float32)
        for i in range(min(len(px), rows * cols)):
            r, c = divmod(i, cols)
            mosaic[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = px[i].reshape(h, w)
            ax.text(c * (w + gap) + 1, r * (h + gap) + 1, f"{py[i, 0]:.0f}, {py[i, 1]:.0f}", fontsize=6,
                    color="yellow", va="top", ha="left")
        ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    from .env import GazeEnv

    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else "docs/gaze_samples.png"
    env = GazeEnv()
    real = env.real_data()  # validation half only: the test half is for final reports
    sample_grid_png(out, env.nominal_params, real.x_val, real.y_val, env=env,
                    title="Gaze-v0: nominal parameters (left) vs the generated target's validation half (right); "
                          "labels (pitch, yaw) in degrees")
    print(out)


if __name__ == "__main__":
    main()
