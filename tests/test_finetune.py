"""``final.finetune``: the delivered model fine-tuned on the labelled real samples, its epochs chosen by
cross-validation inside them; the test half is never read to choose anything (poisoned with NaN, the
fine-tuned weights are the same), and ``model_finetuned.npz`` loads as ``model.npz`` does."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from feedback_loop import load_model
from feedback_loop.delivery import save_model
from feedback_loop.finetune import EPOCH_GRID, FINETUNED_FILE, finetune_delivered
from feedback_loop.learners import build_model
from feedback_loop.preflight import prepare_run
from tests.test_loop_logic import in_process, tiny


def _delivered(tmp_path, prepared):
    """A model.npz as a run delivers it (an untrained model: fine-tuning has something to gain)."""
    torch.manual_seed(0)
    module = build_model(prepared.config.learner.model, prepared.input_shape, prepared.task.outputs(),
                         prepared.config.learner.hidden)
    save_model(tmp_path / "model.npz", {k: v.numpy() for k, v in module.state_dict().items()},
               model=prepared.config.learner.model, hidden=prepared.config.learner.hidden,
               input_shape=prepared.input_shape, task=prepared.task, input_scale=prepared.config.learner.input_scale,
               params={})


def test_finetuning_never_reads_the_test_half(tmp_path):
    prepared = prepare_run(tiny("optuna", 2, "data.labels=30"))
    poisoned = dataclasses.replace(prepared, real=dataclasses.replace(
        prepared.real, x_test=np.full_like(prepared.real.x_test, np.nan),
        y_test=np.zeros_like(prepared.real.y_test)))  # valid classes, all wrong: only a report can see them
    runs = {}
    for name, run in (("clean", prepared), ("poisoned", poisoned)):
        (tmp_path / name).mkdir()
        _delivered(tmp_path / name, run)
        runs[name] = finetune_delivered(tmp_path / name, run)
    clean, dirty = (load_model(tmp_path / n / FINETUNED_FILE) for n in ("clean", "poisoned"))
    for key, value in clean.module.state_dict().items():
        assert torch.isfinite(value).all() and torch.equal(value, dirty.module.state_dict()[key]), key
    assert runs["clean"]["finetune_epochs"] == runs["poisoned"]["finetune_epochs"] in EPOCH_GRID
    assert runs["clean"]["finetune_cv"] == runs["poisoned"]["finetune_cv"]
    assert np.isfinite(runs["clean"]["finetuned_test_score"])
    assert runs["clean"]["finetuned_on"] == 30


def test_the_finetuned_model_loads_with_the_same_loader_and_beats_the_untrained_one(tmp_path):
    prepared = prepare_run(tiny("optuna", 2, "data.labels=40"))
    _delivered(tmp_path, prepared)
    out = finetune_delivered(tmp_path, prepared)
    model = load_model(tmp_path / FINETUNED_FILE)
    assert model.meta["finetune_epochs"] == out["finetune_epochs"] > 0 and model.meta["finetuned_on"] == 40
    real = prepared.real
    untrained = np.mean(load_model(tmp_path).predict(real.x_test) == real.y_test)
    assert np.mean(model.predict(real.x_test) == real.y_test) == pytest.approx(out["finetuned_test_score"], abs=1e-6)
    assert out["finetuned_test_score"] > untrained + 0.1


def test_a_run_with_finetune_reports_both_test_scores(tmp_path):
    config = tiny("pbt", 4, "policy.options={population: 2, interval: 2}", "data.labels=20", "final.finetune=true")
    summary = in_process(config, tmp_path / "run", capacity=2).run(progress=False)
    assert summary["status"] == "finished"
    assert summary["delivered_test_score"] is not None and summary["finetuned_test_score"] is not None
    assert summary["finetuned_model_file"] == FINETUNED_FILE and (tmp_path / "run" / FINETUNED_FILE).is_file()
    assert summary["finetune_train_samples"] > 0
