"""Plots of a run's history (matplotlib, headless)."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def best_so_far_figure(history: list[dict[str, Any]], title: str = "") -> Any:
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
    axis.set_ylabel("validation score")
    axis.set_title(title)
    axis.legend(loc="lower right")
    axis.grid(alpha=0.3)
    figure.tight_layout()
    plt.close(figure)
    return figure
