"""``segmentation``: a class per pixel; per-pixel cross-entropy; the score ``miou``, maximized.

Labels are ``(H, W)`` integer maps matching the input's last two axes; the model outputs
``(N, num_classes, H, W)`` logits. Metrics over a whole set: ``pixel_accuracy``, ``iou_class_k`` for
every class that occurs in the labels or the predictions, ``miou`` (their mean) and ``loss``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Task, TaskError
from .labels import check_class_labels, class_count


def confusion_matrix(predicted: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Pixel counts, rows the true class, columns the predicted one."""
    index = np.asarray(labels, dtype=np.int64).reshape(-1) * num_classes + np.asarray(predicted, dtype=np.int64).reshape(-1)
    return np.bincount(index, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def iou_per_class(confusion: np.ndarray) -> list[float | None]:
    """Intersection over union of each class (None where it occurs in neither labels nor predictions)."""
    hit = np.diag(confusion).astype(np.float64)
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    return [float(h / u) if u else None for h, u in zip(hit, union)]


class Segmentation(Task):
    """``num_classes``: pixel classes ``0 .. num_classes - 1`` (None: the simulator's, else the largest
    real label + 1); ``class_names`` (None: the simulator's ``class_names``); ``shape``: the label maps'
    ``[H, W]`` (None: the real labels')."""

    name = "segmentation"
    label_dtype = np.int64
    score = "miou"
    direction = "maximize"

    def __init__(self, num_classes: int | None = None, class_names: list[str] | None = None,
                 shape: list[int] | None = None) -> None:
        if num_classes is not None and (not isinstance(num_classes, (int, np.integer)) or num_classes < 2):
            raise TaskError(f"task.options.num_classes: value {num_classes!r} is out of range; allowed: an int >= 2")
        self.num_classes = None if num_classes is None else int(num_classes)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        if shape is not None and (len(shape) != 2 or any(int(d) < 1 for d in shape)):
            raise TaskError(f"task.options.shape: value {shape!r} is not a label map's [H, W]; allowed: two positive ints")
        self.shape: tuple[int, ...] | None = None if shape is None else tuple(int(d) for d in shape)

    def bind(self, env: Any, y_real: np.ndarray) -> None:
        y = np.asarray(y_real)
        if y.ndim != 3:
            raise TaskError(f"data.real: labels have shape {tuple(y.shape[1:])} per sample; segmentation takes a "
                            "class per pixel (allowed: y of shape (n, H, W))")
        if self.shape is None:
            self.shape = tuple(int(d) for d in y.shape[1:])
        if self.num_classes is None:
            self.num_classes = class_count(env, y, "task.options.num_classes")
        if self.class_names is None and getattr(env, "class_names", None) is not None:
            self.class_names = [str(c) for c in env.class_names]
        self.check_labels(y, "data.real")

    def label_shape(self) -> tuple[int, ...]:
        return tuple(self.shape or ())

    def check_labels(self, y: np.ndarray, where: str) -> None:
        check_class_labels(y, int(self.num_classes), self.label_shape(), where)

    def outputs(self) -> int:
        return int(self.num_classes)

    def output_shape(self, n: int, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (n, int(self.num_classes), *tuple(input_shape)[-2:])

    def options(self) -> dict[str, Any]:
        return {"num_classes": self.num_classes, "class_names": self.class_names,
                "shape": None if self.shape is None else list(self.shape)}

    def target_tensor(self, y: np.ndarray, device: Any) -> Any:
        import torch

        return torch.tensor(np.asarray(y), dtype=torch.long, device=device)

    def loss(self, output: Any, target: Any) -> Any:
        import torch

        return torch.nn.functional.cross_entropy(output, target)

    def metrics(self, output: Any, target: Any) -> dict[str, float]:
        predicted = output.argmax(1)
        confusion = confusion_matrix(predicted.cpu().numpy(), target.cpu().numpy(), int(self.num_classes))
        ious = iou_per_class(confusion)
        present = [v for v in ious if v is not None]
        metrics = {"pixel_accuracy": float(np.trace(confusion) / max(1, confusion.sum())),
                   "miou": float(np.mean(present)) if present else 0.0, "loss": self.loss(output, target).item()}
        metrics.update({f"iou_class_{k}": v for k, v in enumerate(ious) if v is not None})
        return metrics

    def predict(self, output: Any) -> Any:
        return output.argmax(1)

    def diagnostics(self, predicted: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Per-class IoU, pixel accuracy and the pixel confusion matrix."""
        confusion = confusion_matrix(predicted, y, int(self.num_classes))
        ious = iou_per_class(confusion)
        present = [v for v in ious if v is not None]
        return {"miou": float(np.mean(present)) if present else None,
                "pixel_accuracy": float(np.trace(confusion) / max(1, confusion.sum())),
                "per_class_iou": ious, "class_names": self.class_names, "confusion": confusion.tolist()}

    def diagnostics_figure(self, report: dict[str, Any], title: str = "") -> Any:
        from ..plots import plt

        ious = report["per_class_iou"]
        names = report.get("class_names") or [str(k) for k in range(len(ious))]
        figure, axis = plt.subplots(figsize=(max(4, 0.8 * len(ious) + 2), 3.5))
        axis.bar(range(len(ious)), [v or 0.0 for v in ious])
        axis.set_xticks(range(len(ious)), names)
        axis.set_ylim(0, 1)
        axis.set_ylabel("IoU on the real test half")
        axis.set_title(f"{title} (mIoU {report['miou'] or 0:.3f})", fontsize=10)
        figure.tight_layout()
        plt.close(figure)
        return figure
