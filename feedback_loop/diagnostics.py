"""Where a model trained on synthetic data fails on real data: per-class accuracy, the confusion
matrix, the most confused pairs, and the real samples it gets wrong beside their nearest synthetic ones.

The run reports these for its delivered model on the real test half (``summary.json`` and an MLflow
figure); ``bench/digits_errors.py`` adds the nearest-synthetic view for the digits.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def class_report(predicted: np.ndarray, labels: np.ndarray, num_classes: int, top: int = 5) -> dict[str, Any]:
    """Accuracy overall and per class, the confusion matrix (rows: true class, columns: predicted),
    and the ``top`` most frequent confusions as ``{"true", "predicted", "count"}``."""
    predicted, labels = np.asarray(predicted, dtype=int), np.asarray(labels, dtype=int)
    confusion = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = [float(confusion[k, k] / confusion[k].sum()) if confusion[k].sum() else None
                 for k in range(num_classes)]
    off = [(int(confusion[t, p]), t, p) for t in range(num_classes) for p in range(num_classes)
           if t != p and confusion[t, p]]
    return {"accuracy": float((predicted == labels).mean()) if len(labels) else None,
            "per_class_accuracy": per_class, "confusion": confusion.tolist(),
            "top_confusions": [{"true": t, "predicted": p, "count": c} for c, t, p in sorted(off, reverse=True)[:top]]}


def nearest(queries: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """Index into ``pool`` of each query's nearest sample (Euclidean over all features)."""
    q = queries.reshape(len(queries), -1).astype(np.float64)
    p = pool.reshape(len(pool), -1).astype(np.float64)
    distances = (q ** 2).sum(1)[:, None] - 2 * q @ p.T + (p ** 2).sum(1)[None, :]
    return distances.argmin(1)


def per_class_figure(reports: dict[str, dict[str, Any]], title: str = "") -> Any:
    """Per-class accuracy bars for each named report, and the first report's confusion matrix."""
    from .plots import plt

    names = list(reports)
    classes = len(reports[names[0]]["per_class_accuracy"])
    figure, (bars, matrix) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw={"width_ratios": [1.4, 1]})
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        values = [v if v is not None else 0.0 for v in reports[name]["per_class_accuracy"]]
        bars.bar(np.arange(classes) + (i - (len(names) - 1) / 2) * width, values, width,
                 label=f"{name} ({reports[name]['accuracy']:.3f})")
    bars.set_xticks(range(classes))
    bars.set_xlabel("true class")
    bars.set_ylabel("accuracy on the real test half")
    bars.set_ylim(min(0.5, min(v or 0 for r in reports.values() for v in r["per_class_accuracy"])), 1.0)
    bars.legend(loc="lower left", fontsize=8)
    confusion = np.asarray(reports[names[0]]["confusion"], dtype=float)
    rates = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
    np.fill_diagonal(rates, np.nan)  # the errors only: the diagonal would dwarf them
    image = matrix.imshow(rates, cmap="Reds")
    matrix.set_xlabel("predicted class")
    matrix.set_ylabel("true class")
    matrix.set_xticks(range(classes))
    matrix.set_yticks(range(classes))
    matrix.set_title(f"{names[0]}: share of each true class mistaken", fontsize=9)
    figure.colorbar(image, ax=matrix, fraction=0.046)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    plt.close(figure)
    return figure
