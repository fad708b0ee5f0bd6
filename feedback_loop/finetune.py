"""``final.finetune``: the delivered model fine-tuned on the labelled real samples (synthetic pretraining,
then the few real labels, as practitioners do).

How long to fine-tune is chosen by k-fold cross-validation *inside* the labelled samples (each fold
starts from the delivered weights, trains on the other folds and is scored on its own after each
epoch of ``EPOCH_GRID``; 0 epochs — keep the delivered model — is a candidate too). The model is then
fine-tuned on every labelled sample for the chosen epochs and written as ``model_finetuned.npz``, which
``load_model`` reads as it reads ``model.npz``. The test half is read only afterwards, to report.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .delivery import LoadedModel, load_model, save_model
from .learners.training import TrainSettings, evaluate, to_tensors, train_epochs

FINETUNED_FILE = "model_finetuned.npz"
EPOCH_GRID = (0, 1, 2, 5, 10, 20, 40)  # candidate fine-tuning lengths (epochs over the labelled samples)
MAX_FOLDS = 5


def _folds(y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds where every class has a sample in each, else plain shuffled folds."""
    from sklearn.model_selection import KFold, StratifiedKFold

    y = np.asarray(y)
    k = min(MAX_FOLDS, len(y))
    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer) and np.unique(y, return_counts=True)[1].min() >= k:
        return list(StratifiedKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    return list(KFold(k, shuffle=True, random_state=seed).split(np.zeros(len(y))))


def _train_scores(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, held: tuple | None,
                  settings: TrainSettings, task: Any, seed: int) -> list[float]:
    """Train ``model`` in place up to the grid's largest length; the held-out score at every grid point."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    one = dataclasses.replace(settings, epochs=1)
    scores, done = [], 0
    for epochs in EPOCH_GRID:
        for _ in range(epochs - done):
            train_epochs(model, x, y, one, generator, optimizer, task=task)
        done = epochs
        if held is not None:
            scores.append(evaluate(model, *held, task)[task.score])
    return scores


def choose_epochs(delivered: LoadedModel, x: np.ndarray, y: np.ndarray, settings: TrainSettings, task: Any,
                  seed: int = 0) -> tuple[int, dict[str, float], int]:
    """The fine-tuning length with the best mean held-out score over the folds (the shortest of equals),
    every length's mean, and the sample visits the folds spent. Reads only ``(x, y)``: the labelled samples."""
    xt, yt = to_tensors(x, y, torch.device("cpu"), settings.input_scale, task)
    per_fold, visits = [], 0
    for train, held in _folds(y, seed):
        visits += len(train) * EPOCH_GRID[-1]
        model = _copy(delivered)
        per_fold.append(_train_scores(model, xt[train], yt[train], (xt[held], yt[held]), settings, task, seed))
    means = np.mean(per_fold, axis=0)
    utility = means if task.direction == "maximize" else -means
    best = int(np.flatnonzero(utility == utility.max())[0])
    return EPOCH_GRID[best], {str(e): float(m) for e, m in zip(EPOCH_GRID, means)}, visits


def _copy(delivered: LoadedModel) -> torch.nn.Module:
    import copy

    model = copy.deepcopy(delivered.module)
    model.train()
    return model


def finetune_delivered(run_dir: Path, prepared: Any, seed: int = 0) -> dict[str, Any]:
    """Fine-tune ``RUN_DIR/model.npz`` on the labelled real samples; write ``model_finetuned.npz``; return
    the summary's ``finetuned_*`` fields (``finetuned_test_score``: on the test half, reported only)."""
    delivered = load_model(run_dir)
    real, task, learner = prepared.real, delivered.task, prepared.config.learner
    settings = TrainSettings.of(learner)
    epochs, cv, visits = choose_epochs(delivered, real.x_val, real.y_val, settings, task, seed)
    model = _copy(delivered)
    xt, yt = to_tensors(real.x_val, real.y_val, torch.device("cpu"), settings.input_scale, task)
    generator = torch.Generator().manual_seed(seed)
    if epochs:
        train_epochs(model, xt, yt, dataclasses.replace(settings, epochs=epochs), generator, task=task)
    model.eval()
    weights = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
    meta = {k: v for k, v in delivered.meta.items() if k not in ("format", "model", "hidden", "input_shape", "task",
                                                                 "input_scale")}
    save_model(Path(run_dir) / FINETUNED_FILE, weights, model=delivered.meta["model"], hidden=delivered.meta["hidden"],
               input_shape=tuple(delivered.meta["input_shape"]), task=task, input_scale=delivered.input_scale,
               **meta, finetuned_on=len(real.x_val), finetune_epochs=epochs, finetune_cv=cv)
    test_score = None
    if real.x_test is not None:  # the report, after every choice is made
        test = to_tensors(real.x_test, real.y_test, torch.device("cpu"), settings.input_scale, task)
        test_score = evaluate(model, *test, task)[task.score]
    return {"finetuned_test_score": test_score, "finetune_epochs": epochs, "finetune_cv": cv,
            "finetuned_on": len(real.x_val), "finetuned_model_file": FINETUNED_FILE,
            # sample visits of the cross-validation and the fine-tuning (beside the run's train_samples)
            "finetune_train_samples": visits + len(real.x_val) * epochs}
