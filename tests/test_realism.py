"""The realism distances against known cases: identical distributions give MMD² near 0 and C2ST near
chance, shifted ones clearly more; the MMD² estimate is unbiased (its mean over random splits of one
sample is near 0, where the biased estimate is clearly positive); the features it is measured on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from feedback_loop.objectives import c2st, combine, fed_back_objective, mmd2, realism
from feedback_loop.objectives.features import penultimate, resolve_features
from feedback_loop.objectives.realism import median_bandwidth
from feedback_loop.tasks import Classification


def _normal(n, d=8, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) + shift


def test_mmd_is_near_zero_for_one_distribution_and_clearly_larger_for_a_shift():
    same = mmd2(_normal(400, seed=1), _normal(400, seed=2))
    shifted = mmd2(_normal(400, seed=1), _normal(400, shift=0.5, seed=2))
    assert abs(same) < 0.01
    assert shifted > 0.05 and shifted > 10 * abs(same)


def test_mmd_is_unbiased_its_mean_over_random_splits_of_one_sample_is_near_zero():
    pooled = _normal(80, d=4, seed=3)
    rng = np.random.default_rng(0)
    values, biased = [], []
    sigma = median_bandwidth(torch.as_tensor(pooled))
    for _ in range(100):
        order = rng.permutation(len(pooled))
        a, b = pooled[order[:40]], pooled[order[40:]]
        values.append(mmd2(a, b, bandwidth=sigma))
        k = lambda u, v: np.exp(-((u[:, None] - v[None]) ** 2).sum(-1) / (2 * sigma**2))  # noqa: E731
        biased.append(k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean())
    spread = np.std(values) / np.sqrt(len(values))
    assert abs(np.mean(values)) < 3 * spread + 1e-4  # unbiased: centred on 0
    assert np.mean(biased) > np.mean(values) + 10 * spread  # the biased estimate is not (a sanity check)
    assert min(values) < 0  # only an unbiased estimate goes below 0


def test_mmd_of_a_sample_with_itself_shuffled_is_exactly_symmetric():
    a, b = _normal(50, seed=1), _normal(60, shift=1.0, seed=2)
    assert mmd2(a, b) == pytest.approx(mmd2(b, a), rel=1e-9)


def test_c2st_is_near_chance_for_one_distribution_and_near_one_for_a_clear_shift():
    same = [c2st(_normal(500, seed=s), _normal(500, seed=100 + s), seed=s) for s in range(3)]
    assert abs(np.mean(same) - 0.5) < 0.06
    assert c2st(_normal(500, seed=1), _normal(500, shift=2.0, seed=2)) > 0.95


def test_small_samples_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="MMD needs at least 2 samples"):
        mmd2(_normal(1), _normal(10))
    with pytest.raises(ValueError, match="C2ST needs at least 4 samples"):
        c2st(_normal(3), _normal(10))
    with pytest.raises(ValueError, match="unknown distance 'fid'"):
        realism("fid", _normal(10), _normal(10))


def test_learner_features_are_the_input_of_the_last_layer():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3))
    x = torch.randn(7, 1, 4, 4)
    features = penultimate(model, x)
    assert features.shape == (7, 5)
    assert np.allclose(features, torch.relu(model[1](x.flatten(1))).detach().numpy(), atol=1e-6)
    assert resolve_features("raw")(None, x).shape == (7, 16)
    user = resolve_features("tests.test_realism:mean_feature")
    assert user(None, x).shape == (7, 1)
    with pytest.raises(ValueError, match="unknown features 'pixels'"):
        resolve_features("pixels")


def mean_feature(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), -1).mean(1, keepdims=True)


def test_the_fed_back_objective_and_both_keep_the_task_direction():
    task = Classification(num_classes=10)
    cfg = type("O", (), {"score": "realism", "realism": "c2st", "features": "raw", "weight": 2.0})
    assert fed_back_objective(cfg, task).direction == "minimize"
    cfg.score = "both"
    assert fed_back_objective(cfg, task).direction == "maximize"
    assert combine(0.9, 0.1, 2.0, "maximize") == pytest.approx(0.7)  # accuracy minus the penalty
    assert combine(0.3, 0.1, 2.0, "minimize") == pytest.approx(0.5)  # an error plus it
