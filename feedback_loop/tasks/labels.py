"""Label checks shared by the tasks (numpy only): every message names where, the value and the range."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import TaskError


def class_count(env: Any, y_real: np.ndarray, field: str) -> int:
    """The simulator's ``num_classes``, else the largest real label + 1."""
    declared = getattr(env, "num_classes", None)
    if declared is not None:
        return int(declared)
    y = np.asarray(y_real)
    if y.size == 0:
        raise TaskError(f"{field}: the simulator declares no num_classes and there are no real labels to count; "
                        "set num_classes on the simulator or in task.options")
    return int(np.max(y)) + 1


def check_class_labels(y: np.ndarray, num_classes: int, per_sample: tuple[int, ...], where: str) -> None:
    """Integer class indices in ``[0, num_classes)`` with ``per_sample`` shape (``()`` or ``(H, W)``)."""
    y = np.asarray(y)
    if tuple(y.shape[1:]) != tuple(per_sample):
        raise TaskError(f"{where}: labels have shape {tuple(y.shape[1:])} per sample, expected {tuple(per_sample)}")
    if y.size == 0:
        return
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.number) or not np.all(np.isfinite(y)) or not np.all(y == np.round(y)):
            bad = y.reshape(-1)[0] if not np.issubdtype(y.dtype, np.number) else \
                y[~(np.isfinite(y) & (y == np.round(y)))].reshape(-1)[0]
            bad = bad.item() if hasattr(bad, "item") else bad
            raise TaskError(f"{where}: label {bad!r} is not a class index; allowed: integers 0 to {num_classes - 1}")
    low, high = int(np.min(y)), int(np.max(y))
    if low < 0 or high >= num_classes:
        raise TaskError(f"{where}: labels span [{low}, {high}] but there are {num_classes} classes; "
                        f"allowed: 0 to {num_classes - 1}")


def check_float_labels(y: np.ndarray, per_sample: tuple[int, ...], where: str) -> None:
    """Finite numbers with ``per_sample`` shape."""
    y = np.asarray(y)
    if tuple(y.shape[1:]) != tuple(per_sample):
        raise TaskError(f"{where}: labels have shape {tuple(y.shape[1:])} per sample, expected {tuple(per_sample)}")
    if not np.issubdtype(y.dtype, np.number) or np.issubdtype(y.dtype, np.complexfloating):
        raise TaskError(f"{where}: labels have dtype {y.dtype}; allowed: real numbers")
    if y.size and not np.all(np.isfinite(y)):
        bad = y[~np.isfinite(y)].reshape(-1)[0]
        raise TaskError(f"{where}: label value {float(bad)} is not finite; allowed: finite real numbers")
