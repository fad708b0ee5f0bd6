"""What a dataset's manifest counts in its labels: what the task counts.

Each shard's record holds one field, and ``counts`` in the complete manifest its total over the shards:

- classification: ``label_counts`` (samples per class, a list indexed by class; the length is the
  simulator's ``num_classes``) → ``counts.labels`` ``{"<class>": samples}``, as before tasks existed;
- segmentation: ``pixel_counts`` (pixels per class, a list indexed by class) → ``counts.pixels``
  ``{"<class>": pixels}``;
- regression: ``label_stats`` ``{target: {count, mean, std, min, max}}`` per target (the task's target
  names; the label flattened, so keypoints give one entry per coordinate) → ``counts.label_stats``, the
  same for the whole dataset. ``std`` is the population standard deviation (ddof 0). The totals combine
  the shards' (count, mean, std) with Chan et al.'s pairwise update in shard order, so they equal the
  statistics of all labels at once up to float64 rounding, and are the same for any number of workers
  or resumes (JSON keeps every float64 exactly).

A user's own task (neither of these) is counted by sample only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..tasks import Classification, Regression, Segmentation

FIELDS = {"label_counts": "labels", "pixel_counts": "pixels", "label_stats": "label_stats"}
"""A record's field → its total's key in ``counts``."""


def count_field(task: Any) -> str | None:
    """The record field ``task`` counts its labels in (None: a task this module does not count)."""
    if isinstance(task, Segmentation):
        return "pixel_counts"
    if isinstance(task, Regression):
        return "label_stats"
    if task is None or isinstance(task, (int, np.integer, Classification)):
        return "label_counts"
    return None


def shard_counts(task: Any, y: np.ndarray) -> dict[str, Any]:
    """The field of one shard's record that counts its labels ``y`` (``{}`` for a task not counted).

    ``task``: a bound ``Task``, or an int or None (a classification's number of classes)."""
    field = count_field(task)
    if field == "label_counts":
        classes = task if task is None or isinstance(task, (int, np.integer)) else task.num_classes
        return {field: np.bincount(np.asarray(y, dtype=np.int64).ravel(), minlength=int(classes or 0)).tolist()}
    if field == "pixel_counts":
        return {field: np.bincount(np.asarray(y, dtype=np.int64).ravel(), minlength=int(task.num_classes)).tolist()}
    if field == "label_stats":
        flat = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        return {field: {name: {"count": len(column), "mean": float(column.mean()), "std": float(column.std()),
                               "min": float(column.min()), "max": float(column.max())}
                        for name, column in zip(task.target_names(), flat.T)}}
    return {}


def total_counts(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The totals of what the records count, keyed as ``counts`` in the manifest (``FIELDS``)."""
    totals: dict[str, Any] = {}
    for field, key in FIELDS.items():
        if records and all(field in r for r in records):
            add = _add_stats if field == "label_stats" else _add_counts
            totals[key] = add([r[field] for r in records])
    return totals


def _add_counts(per_shard: list[list[int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for counts in per_shard:
        for label, count in enumerate(counts):
            total[str(label)] = total.get(str(label), 0) + int(count)
    return total


def _add_stats(per_shard: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    total: dict[str, dict[str, float]] = {}
    for stats in per_shard:
        for name, b in stats.items():
            a = total.get(name)
            total[name] = dict(b) if a is None else _combine(a, b)
    return total


def _combine(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    """The statistics of two disjoint sets of values from each one's (Chan et al. 1979)."""
    n = a["count"] + b["count"]
    delta = b["mean"] - a["mean"]
    m2 = a["std"] ** 2 * a["count"] + b["std"] ** 2 * b["count"] + delta ** 2 * a["count"] * b["count"] / n
    return {"count": n, "mean": a["mean"] + delta * b["count"] / n, "std": math.sqrt(m2 / n),
            "min": min(a["min"], b["min"]), "max": max(a["max"], b["max"])}
