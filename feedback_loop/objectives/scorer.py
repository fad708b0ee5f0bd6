"""``Scorer``: the fed-back score of one trained model, computed inside the learner, where the data is.

The learner already holds the candidate's synthetic batch and the real inputs (sent once per learner
process, with the validation half), so a realism objective costs no extra copy of the real data per
evaluation: only the distance itself (``realism.py``, bounded by its ``MAX_SAMPLES``).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from ..types import Objective
from .features import resolve_features
from .realism import realism


class Scorer:
    """Turns a model's task score (None without labels) and its synthetic batch into the fed-back score.

    ``objective`` is an ``ObjectiveConfig`` as a dict (None: the task score, as before objectives existed).
    """

    def __init__(self, objective: dict[str, Any] | None, task: Any) -> None:
        from . import combine, fed_back_objective

        self.config = SimpleNamespace(**{"score": "task", "realism": "mmd", "features": "raw", "weight": 1.0,
                                         **(objective or {})})
        self.task = task
        self.objective: Objective = fed_back_objective(self.config, task)
        self._combine = combine
        self.uses_realism = self.config.score != "task"
        self.features = resolve_features(self.config.features) if self.uses_realism else None
        self.real: torch.Tensor | None = None  # the unlabeled real inputs, as the model sees them

    def set_real(self, x_unlabeled: torch.Tensor | None) -> None:
        self.real = x_unlabeled

    def realism(self, model: torch.nn.Module, x_synthetic: torch.Tensor) -> float:
        """The distance between the synthetic batch and the unlabeled real inputs, in the configured features."""
        if self.real is None or len(self.real) < 2:
            raise ValueError(f"objective.score: {self.config.score!r} needs unlabeled real inputs, but the learner "
                             f"has {0 if self.real is None else len(self.real)}; allowed: data.labels below the "
                             "validation size, or data.real with x_unlabeled")
        return realism(self.config.realism, self.features(model, x_synthetic), self.features(model, self.real))

    def fed_back(self, task_score: float | None, realism_value: float | None) -> float:
        """The score told to the policy."""
        if self.config.score in ("task", "pareto"):  # pareto: realism rides in the metrics
            return task_score
        if self.config.score == "realism":
            return realism_value
        return self._combine(task_score, realism_value, float(self.config.weight), self.task.direction)

    def better(self, score: float, than: float | None) -> bool:
        return self.objective.better(score, than)


def to_model_inputs(x: np.ndarray | None, device: torch.device, scale: float) -> torch.Tensor | None:
    """Real inputs as the model sees them (float32 times ``input_scale``), or None."""
    if x is None or len(x) == 0:
        return None
    return torch.tensor(np.asarray(x), dtype=torch.float32, device=device) * scale
