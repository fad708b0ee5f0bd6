"""``classification``: one class index per sample; cross-entropy; the score ``accuracy``, maximized.

This is the loop's original task, kept bit for bit: the same loss, metrics and per-class accuracy
as before tasks existed, so a classification run gives the same numbers at the same seeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Task, TaskError
from .labels import check_class_labels, class_count


class Classification(Task):
    """``num_classes``: labels are ``0 .. num_classes - 1`` (None: the simulator's ``num_classes``, else
    the largest real label + 1)."""

    name = "classification"
    label_dtype = np.int64
    score = "accuracy"
    direction = "maximize"

    def __init__(self, num_classes: int | None = None) -> None:
        if num_classes is not None and (not isinstance(num_classes, (int, np.integer)) or num_classes < 1):
            raise TaskError(f"task.options.num_classes: value {num_classes!r} is not a positive int; allowed: >= 1")
        self.num_classes = None if num_classes is None else int(num_classes)

    def bind(self, env: Any, y_real: np.ndarray) -> None:
        if self.num_classes is None:
            self.num_classes = class_count(env, y_real, "task.options.num_classes")
        if np.ndim(y_real) != 1:
            raise TaskError(f"data.real: labels have shape {tuple(np.shape(y_real)[1:])} per sample; classification "
                            "takes one class index per sample (allowed: y of shape (n,)); for a class per pixel "
                            "use task: segmentation, for float vectors task: regression")
        self.check_labels(y_real, "data.real")

    def label_shape(self) -> tuple[int, ...]:
        return ()

    def check_labels(self, y: np.ndarray, where: str) -> None:
        check_class_labels(y, self.num_classes, (), where)

    def outputs(self) -> int:
        return int(self.num_classes)

    def output_shape(self, n: int, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (n, int(self.num_classes))

    def options(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes}

    def target_tensor(self, y: np.ndarray, device: Any) -> Any:
        import torch

        return torch.tensor(np.asarray(y), dtype=torch.long, device=device)

    def loss(self, output: Any, target: Any) -> Any:
        import torch

        return torch.nn.functional.cross_entropy(output, target)

    def metrics(self, output: Any, target: Any) -> dict[str, float]:
        """Accuracy, loss and per-class accuracy (``accuracy_class_k`` for the classes present)."""
        import torch

        loss = torch.nn.functional.cross_entropy(output, target).item()
        correct = output.argmax(1) == target
        metrics = {"accuracy": correct.float().mean().item(), "loss": loss}
        for k in range(int(self.num_classes)):
            mask = target == k
            if mask.any():
                metrics[f"accuracy_class_{k}"] = correct[mask].float().mean().item()
        return metrics

    def predict(self, output: Any) -> Any:
        return output.argmax(1)

    def diagnostics(self, predicted: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        from ..diagnostics import class_report

        return class_report(predicted, y, int(self.num_classes))

    def diagnostics_figure(self, report: dict[str, Any], title: str = "") -> Any:
        from ..diagnostics import per_class_figure

        return per_class_figure({"delivered model": report}, title=title)
