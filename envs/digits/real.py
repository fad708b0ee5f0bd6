"""The real target: scikit-learn's copy of the UCI optdigits test set (1,797 digits, 8x8, 0..16).

Split once, stratified by class, with a fixed seed into a *validation* half (the only real data
whose score the loop may feed back) and a *test* half (final reports only).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..base import RealData

SPLIT_SEED = 20240917  # fixed: every run of the project sees the same split


@lru_cache(maxsize=4)
def _split(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.images.astype(np.float32)[:, None, :, :]  # (1797, 1, 8, 8), integer values 0..16
    y = digits.target.astype(np.int64)
    x_val, x_test, y_val, y_test = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    return x_val, y_val, x_test, y_test


def load_real_digits(seed: int = SPLIT_SEED) -> RealData:
    """``RealData(x_val, y_val, x_test, y_test)``: x float32 (N, 1, 8, 8) in 0..16, y int64.

    The split is stratified (per-class counts of the halves differ by at most one) and the same
    on every call with the same ``seed``; each call returns fresh copies of the arrays.
    """
    x_val, y_val, x_test, y_test = (a.copy() for a in _split(int(seed)))
    return RealData(x_val=x_val, y_val=y_val, x_test=x_test, y_test=y_test)
