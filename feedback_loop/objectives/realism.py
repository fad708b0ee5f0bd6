"""Label-free distances between a synthetic batch and unlabeled real inputs (lower is more realistic).

Both take two feature matrices ``(n, d)`` (see ``features.py``) and subsample each side to at most
``MAX_SAMPLES`` rows (a fixed seed, so the same inputs give the same value): the cost of one
evaluation's distance stays bounded however large its batch.

- ``mmd2``: the *unbiased* estimate of the squared maximum mean discrepancy (Gretton et al. 2012,
  Lemma 6) with a Gaussian kernel ``k(a, b) = exp(-|a - b|² / (2 σ²))``. The bandwidth ``σ`` is the
  median heuristic: the median Euclidean distance between distinct rows of the pooled sample. Two
  samples of one distribution give values scattered around 0 (negative ones included: it is unbiased).
- ``c2st``: a classifier two-sample test (Lopez-Paz & Oquab 2017): a logistic regression on
  standardized features learns to tell real from synthetic on half of a balanced sample; its accuracy
  on the other half is the distance. 0.5 means indistinguishable, 1.0 told apart every time.
"""

from __future__ import annotations

import numpy as np
import torch

MAX_SAMPLES = 1000  # rows per side; MMD's kernel matrices and C2ST's fit stay well under a second
REALISMS = ("mmd", "c2st")


def _subsample(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x if len(x) <= n else x[np.sort(rng.choice(len(x), n, replace=False))]


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(len(x), -1)


def median_bandwidth(pooled: torch.Tensor) -> float:
    """The median heuristic: the median distance between distinct rows (1.0 if they all coincide)."""
    d2 = torch.cdist(pooled, pooled).pow(2)
    off = d2[~torch.eye(len(pooled), dtype=torch.bool)]
    median = float(off.median().sqrt()) if off.numel() else 0.0
    return median if median > 0 else 1.0


def mmd2(synthetic: np.ndarray, real: np.ndarray, bandwidth: float | None = None, seed: int = 0) -> float:
    """Unbiased MMD² between the two samples (each at least 2 rows), Gaussian kernel of ``bandwidth``
    (None: the median heuristic over both)."""
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(_subsample(_as_2d(synthetic), MAX_SAMPLES, rng))
    y = torch.as_tensor(_subsample(_as_2d(real), MAX_SAMPLES, rng))
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError(f"realism: MMD needs at least 2 samples on each side, got {m} synthetic and {n} real")
    sigma = median_bandwidth(torch.cat([x, y])) if bandwidth is None else float(bandwidth)
    gamma = 1.0 / (2.0 * sigma**2)
    kxx = torch.exp(-gamma * torch.cdist(x, x).pow(2))
    kyy = torch.exp(-gamma * torch.cdist(y, y).pow(2))
    kxy = torch.exp(-gamma * torch.cdist(x, y).pow(2))
    # the diagonal (k(a, a) = 1) is left out of the within-sample means: that is what makes it unbiased
    xx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    yy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return float(xx + yy - 2.0 * kxy.mean())


def c2st(synthetic: np.ndarray, real: np.ndarray, seed: int = 0) -> float:
    """Held-out accuracy of a logistic regression telling ``real`` from ``synthetic`` (balanced classes,
    half of each to fit, half to test; 0.5: indistinguishable)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    n = min(len(synthetic), len(real), MAX_SAMPLES)
    if n < 4:
        raise ValueError(f"realism: C2ST needs at least 4 samples on each side, got {len(synthetic)} synthetic "
                         f"and {len(real)} real")
    x = np.concatenate([_subsample(_as_2d(synthetic), n, rng), _subsample(_as_2d(real), n, rng)])
    label = np.concatenate([np.zeros(n), np.ones(n)])
    order = rng.permutation(2 * n)
    fit, test = order[: n], order[n:]
    mean, std = x[fit].mean(0), x[fit].std(0) + 1e-8
    x = (x - mean) / std
    classifier = LogisticRegression(max_iter=1000).fit(x[fit], label[fit])
    return float((classifier.predict(x[test]) == label[test]).mean())


def realism(kind: str, synthetic: np.ndarray, real: np.ndarray, seed: int = 0) -> float:
    """The distance ``kind`` (``mmd`` or ``c2st``) between the two feature matrices."""
    if kind == "mmd":
        return mmd2(synthetic, real, seed=seed)
    if kind == "c2st":
        return c2st(synthetic, real, seed=seed)
    raise ValueError(f"objective.realism: unknown distance {kind!r}; allowed: {', '.join(REALISMS)}")
