"""The labels budget (``data.labels``): which real validation samples keep their labels.

A user with many unlabeled inputs and a few labelled ones is served by the same ``RealData``: the
kept ``N`` samples stay ``x_val``/``y_val`` (what task scores are computed on), every other
validation input joins ``x_unlabeled`` (what a realism objective compares the synthetic data with).
The test half is never touched: it is only for reports.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import seeds
from .envs import RealData


def kept_indices(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` indices of ``y`` (sorted), drawn with ``seed``: stratified by class when ``y`` holds one
    integer class per sample (each class keeps its share, rounded by largest remainder, every class
    at least one while ``n`` allows), uniformly otherwise (regression targets, masks)."""
    y = np.asarray(y)
    total = len(y)
    if not 0 <= n <= total:
        raise ValueError(f"data.labels: value {n} is out of range; allowed: 0 to {total} (the labelled "
                         "validation samples), or null for all")
    rng = np.random.default_rng(seed)
    if n == total:
        return np.arange(total)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        return np.sort(rng.permutation(total)[:n])
    classes, counts = np.unique(y, return_counts=True)
    quota = _class_quota(counts, n)
    kept = [rng.permutation(np.flatnonzero(y == c))[:q] for c, q in zip(classes, quota)]
    return np.sort(np.concatenate(kept)).astype(np.int64)


def _class_quota(counts: np.ndarray, n: int) -> np.ndarray:
    """Per-class sample counts summing to ``n``, proportional to ``counts`` (largest remainder), with
    every class given one first when ``n`` reaches the number of classes (few labels: cover all)."""
    quota = np.zeros(len(counts), dtype=np.int64)
    if n >= len(counts):
        quota += 1
    rest = n - quota.sum()
    share = counts / counts.sum() * rest
    extra = np.minimum(np.floor(share).astype(np.int64), counts - quota)
    quota += extra
    order = np.argsort(-(share - np.floor(share)), kind="stable")  # largest remainders first
    i = 0
    while quota.sum() < n:
        c = order[i % len(order)]
        if quota[c] < counts[c]:
            quota[c] += 1
        i += 1
    return quota


def apply_labels_budget(real: RealData, labels: int | None, run_seed: int) -> RealData:
    """``real`` with labels kept for ``labels`` validation samples (None: all, unchanged) and the other
    validation inputs moved to ``x_unlabeled`` (after any the real data brought itself)."""
    if labels is None:
        return real
    keep = kept_indices(real.y_val, int(labels), seeds.labels(run_seed))
    dropped = np.setdiff1d(np.arange(len(real.y_val)), keep)
    x_val = np.asarray(real.x_val)
    unlabeled = np.concatenate([real.unlabeled().astype(x_val.dtype), x_val[dropped]])
    return dataclasses.replace(real, x_val=x_val[keep], y_val=np.asarray(real.y_val)[keep], x_unlabeled=unlabeled)
