"""A picture of synthetic digits next to real ones: ``sample_grid_png(path, params, real_x, ...)``.

Usable from the loop (e.g. to log a grid to MLflow as an artifact) and as a script that writes
``docs/digits_samples.png`` with nominal parameters vs. real *validation* digits::

    python -m feedback_loop.envs.digits.grid docs/digits_samples.png
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping

import numpy as np


def sample_grid_png(
    path: str | Path,
    params: Mapping | None,
    real_x: np.ndarray | None = None,
    real_y: np.ndarray | None = None,
    *,
    per_class: int = 8,
    seed: int = 0,
    env=None,
    title: str | None = None,
) -> Path:
    """Write a PNG: for every digit one row of ``per_class`` synthetic samples drawn with
    ``params`` (left) and, if ``real_x``/``real_y`` are given, ``per_class`` real samples (right).

    ``real_x`` is (N, 1, 8, 8) or (N, 8, 8) in 0..16. Returns the path. Uses matplotlib's Agg
    backend, so it works headless.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from .env import DigitsEnv

    env = env or DigitsEnv()
    n = per_class * 10 * 4
    x, y = env.sample_batch(params, n, seed)
    synth = [x[y == d][:per_class, 0] for d in range(10)]
    real = None
    if real_x is not None:
        if real_y is None:
            raise ValueError("give real_y with real_x")
        rx = np.asarray(real_x).reshape(-1, 8, 8)
        ry = np.asarray(real_y)
        real = [rx[ry == d][:per_class] for d in range(10)]
    cols = per_class + (per_class + 1 if real is not None else 0)
    fig, axes = plt.subplots(10, cols, figsize=(cols * 0.6, 10 * 0.6 + 0.6))
    for d in range(10):
        for j in range(cols):
            ax = axes[d, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for side in ax.spines.values():
                side.set_visible(False)
            if j < per_class and j < len(synth[d]):
                ax.imshow(synth[d][j], cmap="gray_r", vmin=0, vmax=16, interpolation="nearest")
            elif real is not None and j > per_class and j - per_class - 1 < len(real[d]):
                ax.imshow(real[d][j - per_class - 1], cmap="gray_r", vmin=0, vmax=16, interpolation="nearest")
    axes[0, 0].set_title("synthetic", loc="left", fontsize=9)
    if real is not None:
        axes[0, per_class + 1].set_title("real (validation)", loc="left", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> None:
    from .env import DigitsEnv

    argv = sys.argv[1:] if argv is None else argv
    out = argv[0] if argv else "docs/digits_samples.png"
    env = DigitsEnv()
    real = env.real_data()  # validation half only: the test half is for final reports
    sample_grid_png(out, env.nominal_params, real.x_val, real.y_val, env=env,
                    title="Digits-v0: nominal parameters (left) vs real optdigits validation digits (right)")
    print(out)


if __name__ == "__main__":
    main()
