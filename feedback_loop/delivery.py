"""The delivered model: weights in ``model.npz`` (no pickle) with what is needed to rebuild it.

``save_model`` writes the torch module's ``state_dict`` arrays plus a JSON header (the model builder's
name or import path, hidden width, input shape, the task's spec, input scaling, and where it came
from); ``load_model(run_dir)`` rebuilds the module with the same builder and loads the weights, and
``predict`` answers in the task's terms (a class, a vector, a class per pixel).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .checkpoint import load_arrays, save_arrays

MODEL_FILE = "model.npz"
FORMAT = 1
_HEADER = "__feedback_loop_model__"  # a unicode array holding the JSON header: no pickle needed


@dataclass
class LoadedModel:
    """A delivered model: ``module`` takes inputs multiplied by ``input_scale`` (as in training)."""

    module: Any  # torch.nn.Module, in eval mode, on CPU
    input_scale: float
    meta: dict[str, Any]
    task: Any = None  # the bound feedback_loop.tasks.Task it was trained for

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The task's predictions for raw inputs ``x`` (the simulator's and real data's units): class labels
        for classification, float vectors for regression, a class per pixel for segmentation."""
        return self.task.predict(self.output(x)).numpy()

    def output(self, x: np.ndarray) -> Any:
        """The module's raw output (logits, values) for raw inputs ``x``, as a torch tensor."""
        import torch

        with torch.no_grad():
            scaled = torch.as_tensor(np.asarray(x), dtype=torch.float32) * self.input_scale
            return torch.cat([self.module(chunk) for chunk in scaled.split(4096)])

    def metrics(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """Every metric of the task on ``(x, y)`` (e.g. accuracy; mae, rmse, r2; miou)."""
        return self.task.metrics(self.output(x), self.task.target_tensor(y, "cpu"))


def model_weights(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The weights of a learner state (a persistent learner's state also holds Adam and generators)."""
    return {k: v for k, v in state.items() if not k.startswith(("adam/", "generator/"))}


def save_model(path: str | Path, weights: dict[str, np.ndarray], *, model: str, hidden: int | None,
               input_shape: tuple[int, ...], task: Any, input_scale: float, **origin: Any) -> Path:
    """Write ``weights`` and the header that rebuilds them; ``task`` is a ``Task``, its spec or a number of
    classes; ``origin`` (params, scores, ...) is kept as is."""
    from .tasks import build_task

    meta = {"format": FORMAT, "model": model, "hidden": hidden, "input_shape": list(input_shape),
            "task": build_task(task).spec(), "input_scale": float(input_scale), **origin}
    arrays = {k: np.ascontiguousarray(v) for k, v in model_weights(weights).items()}
    arrays[_HEADER] = np.array(json.dumps(meta))
    save_arrays(path, arrays)
    return Path(path)


def load_model(run_dir_or_file: str | Path) -> LoadedModel:
    """The model a run delivered (``RUN_DIR/model.npz``, or the file itself), rebuilt on CPU."""
    import torch

    from .learners import build_model
    from .tasks import build_task

    path = Path(run_dir_or_file)
    if path.is_dir():
        path = path / MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no delivered model at {str(path)!r}; a run writes {MODEL_FILE} when it finishes")
    arrays = load_arrays(path)
    if _HEADER not in arrays:
        raise ValueError(f"{str(path)!r} is not a feedback-loop model file (no header)")
    meta = json.loads(str(arrays.pop(_HEADER)))
    task = build_task(meta["task"] if "task" in meta else meta["num_classes"])  # older files: classes only
    module = build_model(meta["model"], tuple(meta["input_shape"]), task.outputs(), meta["hidden"])
    module.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()})
    module.eval()
    return LoadedModel(module, meta["input_scale"], meta, task)
