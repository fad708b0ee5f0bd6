"""``regression``: a float vector per sample (gaze angles, keypoints, a count); the score ``mae``, minimized.

Metrics over a whole set: ``mae`` (mean absolute error over every target of every sample), ``rmse``,
``r2`` (1 − residual sum of squares / total sum of squares, over all targets), ``loss`` (the training
loss) and, per target, ``mae_<name>``. Keypoints are a regression of their flattened coordinates.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Task, TaskError
from .labels import check_float_labels

SCORES = {"mae": "minimize", "rmse": "minimize", "r2": "maximize"}
LOSSES = ("mse", "l1", "huber")


class Regression(Task):
    """``targets``: the label's per-sample shape (None: the real labels'); ``names``: one per target
    (None: the simulator's ``label_names``, else ``t0, t1, ...``); ``loss``: ``mse``, ``l1`` or ``huber``;
    ``score``: ``mae`` or ``rmse`` (minimized) or ``r2`` (maximized)."""

    name = "regression"
    label_dtype = np.float32

    def __init__(self, targets: list[int] | int | None = None, names: list[str] | None = None, loss: str = "mse",
                 score: str = "mae") -> None:
        if score not in SCORES:
            raise TaskError(f"task.options.score: unknown score {score!r} for regression; allowed: {', '.join(SCORES)}")
        if loss not in LOSSES:
            raise TaskError(f"task.options.loss: unknown loss {loss!r} for regression; allowed: {', '.join(LOSSES)}")
        self.score, self.direction, self.loss_name = score, SCORES[score], loss
        self.shape = None if targets is None else tuple([targets] if isinstance(targets, int) else targets)
        if self.shape is not None and any(int(d) < 1 for d in self.shape):  # [] is one scalar target
            raise TaskError(f"task.options.targets: value {targets!r} is not a positive shape; allowed: e.g. 2 or [17, 2]")
        self.names = None if names is None else [str(n) for n in names]

    def bind(self, env: Any, y_real: np.ndarray) -> None:
        y = np.asarray(y_real)
        if self.shape is None:
            self.shape = tuple(int(d) for d in y.shape[1:]) or ()
        if self.names is None:
            declared = getattr(env, "label_names", None)
            self.names = [str(n) for n in declared] if declared is not None else None
        if self.names is not None and len(self.names) != self.outputs():
            raise TaskError(f"task.options.names: {len(self.names)} names for {self.outputs()} targets; "
                            "allowed: one name per target")
        self.check_labels(y, "data.real")

    def label_shape(self) -> tuple[int, ...]:
        return tuple(self.shape or ())

    def check_labels(self, y: np.ndarray, where: str) -> None:
        check_float_labels(y, self.label_shape(), where)

    def outputs(self) -> int:
        return int(np.prod(self.label_shape(), dtype=np.int64)) if self.label_shape() else 1

    def output_shape(self, n: int, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        return (n, self.outputs())

    def target_names(self) -> list[str]:
        return self.names or [f"t{i}" for i in range(self.outputs())]

    def options(self) -> dict[str, Any]:
        return {"targets": None if self.shape is None else list(self.shape), "names": self.names, "loss": self.loss_name, "score": self.score}

    def target_tensor(self, y: np.ndarray, device: Any) -> Any:
        import torch

        return torch.tensor(np.asarray(y, dtype=np.float32), device=device).reshape(len(y), -1)

    def loss(self, output: Any, target: Any) -> Any:
        import torch.nn.functional as F

        output = output.reshape(target.shape)
        if self.loss_name == "l1":
            return F.l1_loss(output, target)
        if self.loss_name == "huber":
            return F.smooth_l1_loss(output, target)
        return F.mse_loss(output, target)

    def metrics(self, output: Any, target: Any) -> dict[str, float]:
        output = output.reshape(target.shape)
        error = output - target
        total = ((target - target.mean(0)) ** 2).sum().item()
        metrics = {"mae": error.abs().mean().item(), "rmse": error.pow(2).mean().sqrt().item(),
                   "r2": 1.0 - (error ** 2).sum().item() / total if total > 0 else float("nan"),
                   "loss": self.loss(output, target).item()}
        for name, column in zip(self.target_names(), error.abs().mean(0).tolist()):
            metrics[f"mae_{name}"] = column
        return metrics

    def predict(self, output: Any) -> Any:
        return output.reshape((len(output), *self.label_shape()))

    def diagnostics(self, predicted: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Per-target MAE, bias and RMSE, and the error quantiles (50%, 90%, 99%) of each sample's mean error."""
        error = np.asarray(predicted, dtype=np.float64).reshape(len(y), -1) - np.asarray(y, dtype=np.float64).reshape(len(y), -1)
        per_sample = np.abs(error).mean(1)
        return {"mae": float(np.abs(error).mean()) if error.size else None,
                "per_target": [{"target": name, "mae": float(np.abs(e).mean()), "bias": float(e.mean()),
                                "rmse": float(np.sqrt((e ** 2).mean()))}
                               for name, e in zip(self.target_names(), error.T)] if error.size else [],
                "error_quantiles": {q: float(np.quantile(per_sample, float(q))) for q in ("0.5", "0.9", "0.99")}
                if error.size else {}}

    def diagnostics_figure(self, report: dict[str, Any], title: str = "") -> Any:
        from ..plots import plt

        rows = report.get("per_target") or []
        if not rows:
            return None
        figure, axis = plt.subplots(figsize=(max(4, 1.2 * len(rows) + 2), 3.5))
        names = [r["target"] for r in rows]
        axis.bar(np.arange(len(rows)) - 0.2, [r["mae"] for r in rows], 0.4, label="mean absolute error")
        axis.bar(np.arange(len(rows)) + 0.2, [r["bias"] for r in rows], 0.4, label="bias (mean error)")
        axis.axhline(0, color="black", linewidth=0.5)
        axis.set_xticks(range(len(rows)), names)
        axis.set_ylabel("error on the real test half")
        axis.legend(fontsize=8)
        axis.set_title(title, fontsize=10)
        figure.tight_layout()
        plt.close(figure)
        return figure
