"""Training a task model on one generated batch and scoring it on validation data (pure torch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn


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


def to_tensors(x: np.ndarray, y: np.ndarray, device: torch.device, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    # torch.tensor copies: object-store arrays are read-only, and the copy is cheap next to training.
    xt = torch.tensor(np.asarray(x), dtype=torch.float32, device=device) * scale
    yt = torch.tensor(np.asarray(y), dtype=torch.long, device=device)
    return xt, yt


def check_batch(xt: torch.Tensor, yt: torch.Tensor, num_classes: int) -> None:
    """Refuse a generated batch no model should be trained on (NaN inputs, labels out of range)."""
    if not torch.isfinite(xt).all():
        raise ValueError("the generated batch contains NaN or infinite values")
    if len(yt) and (yt.min() < 0 or yt.max() >= num_classes):
        raise ValueError(f"the generated batch has labels outside [0, {num_classes})")


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Accuracy, loss and per-class accuracy of ``model`` on ``(x, y)``."""
    model.eval()
    logits = torch.cat([model(chunk) for chunk in x.split(4096)])
    loss = nn.functional.cross_entropy(logits, y).item()
    correct = logits.argmax(1) == y
    metrics = {"accuracy": correct.float().mean().item(), "loss": loss}
    for k in range(num_classes):
        mask = y == k
        if mask.any():
            metrics[f"accuracy_class_{k}"] = correct[mask].float().mean().item()
    return metrics


def train_epochs(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: TrainSettings, generator: torch.Generator,
    optimizer: torch.optim.Optimizer | None = None,
) -> float:
    """Train in place (Adam unless an optimizer is given); returns the mean loss of the last epoch."""
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    model.train()
    last = float("nan")
    for _ in range(settings.epochs):
        order = torch.randperm(len(x), generator=generator).to(x.device)
        total, count = 0.0, 0
        for idx in order.split(settings.batch_size):
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
            count += len(idx)
        last = total / max(count, 1)
    return last
