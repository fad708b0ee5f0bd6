"""Training a task model on one generated batch and scoring it on validation data (pure torch).

The loss, the labels' tensor type and the metrics are the ``Task``'s (``feedback_loop.tasks``); a bare
number of classes stands for a classification task, as before tasks existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ..tasks import Task, build_task


@dataclass(frozen=True)
class TrainSettings:
    """How a learner trains on one candidate's data."""

    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.0
    input_scale: float = 1.0

    @classmethod
    def of(cls, learner: Any) -> "TrainSettings":
        """The settings of a ``LearnerConfig`` (or any object with the same fields)."""
        return cls(epochs=learner.epochs, batch_size=learner.batch_size, lr=learner.lr,
                   weight_decay=learner.weight_decay, input_scale=learner.input_scale)


def limit_torch_threads(num_cpus: float) -> None:
    """Keep a process inside its CPU share: torch would otherwise use every core."""
    torch.set_num_threads(max(1, int(round(num_cpus))))


def pick_device(gpu_ids: list | None = None) -> torch.device:
    """CUDA when this process was given a GPU and torch sees one; CPU otherwise."""
    if gpu_ids and torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def to_tensors(x: np.ndarray, y: np.ndarray, device: torch.device, scale: float,
               task: Task | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs as float32 times ``scale``; labels as the task's target tensor (class indices without a task)."""
    # torch.tensor copies: object-store arrays are read-only, and the copy is cheap next to training.
    xt = torch.tensor(np.asarray(x), dtype=torch.float32, device=device) * scale
    yt = (torch.tensor(np.asarray(y), dtype=torch.long, device=device) if task is None
          else task.target_tensor(y, device))
    return xt, yt


def check_batch(xt: torch.Tensor, y: np.ndarray, task: Task | int) -> None:
    """Refuse a generated batch no model should be trained on (NaN inputs, labels the task cannot take)."""
    if not torch.isfinite(xt).all():
        raise ValueError("the generated batch contains NaN or infinite values")
    build_task(task).check_labels(np.asarray(y), "the generated batch")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, task: Task | int) -> dict[str, float]:
    """The task's metrics of ``model`` on ``(x, y)`` (classification: accuracy, loss, per-class accuracy)."""
    model.eval()
    output = torch.cat([model(chunk) for chunk in x.split(4096)])
    return build_task(task).metrics(output, y)


def train_epochs(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: TrainSettings, generator: torch.Generator,
    optimizer: torch.optim.Optimizer | None = None, task: Task | None = None,
) -> float:
    """Train in place (Adam unless an optimizer is given) on the task's loss (cross-entropy without a
    task); returns the mean loss of the last epoch."""
    loss_of = nn.functional.cross_entropy if task is None else task.loss
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    model.train()
    last = float("nan")
    for _ in range(settings.epochs):
        order = torch.randperm(len(x), generator=generator).to(x.device)
        total, count = 0.0, 0
        for idx in order.split(settings.batch_size):
            loss = loss_of(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            count += len(idx)
        last = total / max(count, 1)
    return last
