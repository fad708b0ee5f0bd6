"""Task models and the per-candidate training step."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from feedback_loop.learners import TrainSettings, build_model, to_tensors, train_and_score


@pytest.mark.parametrize(("name", "shape"), [("mlp", (2,)), ("mlp", (1, 8, 8)), ("cnn", (1, 8, 8))])
def test_builtin_models_map_inputs_to_class_logits(name, shape):
    model = build_model(name, shape, 10)
    assert model(torch.zeros(5, *shape)).shape == (5, 10)


def test_user_model_by_import_path():
    model = build_model("tests.plugins:tiny_model", (2,), 3)
    assert model(torch.zeros(4, 2)).shape == (4, 3)


def test_unknown_model_is_named():
    with pytest.raises(ValueError, match="learner.model: unknown model 'resnet9000'"):
        build_model("resnet9000", (2,), 2)
    with pytest.raises(ValueError, match="needs image inputs"):
        build_model("cnn", (2,), 2)


def test_training_learns_separable_data_and_reports_loss_before_training():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    x = (rng.standard_normal((400, 2)) + 3 * y[:, None]).astype(np.float32)
    xv, yv = to_tensors(x, y, torch.device("cpu"), 1.0)
    torch.manual_seed(0)
    outcome = train_and_score(build_model("mlp", (2,), 2), x, y, xv, yv, TrainSettings(epochs=10), 2, seed=0)
    assert outcome.ok and outcome.score > 0.95
    assert outcome.train_loss == pytest.approx(np.log(2), abs=0.5)  # an untrained model's loss
    assert outcome.metrics["final_train_loss"] < outcome.train_loss
    assert {"val_accuracy_class_0", "val_accuracy_class_1"} <= set(outcome.metrics)


def test_nan_batch_is_refused():
    x = np.full((8, 2), np.nan, dtype=np.float32)
    xv, yv = to_tensors(np.zeros((4, 2)), np.zeros(4), torch.device("cpu"), 1.0)
    with pytest.raises(ValueError, match="NaN"):
        train_and_score(build_model("mlp", (2,), 2), x, np.zeros(8), xv, yv, TrainSettings(epochs=1), 2, seed=0)
