"""Learners: task models, and training them on generated data to score the data's usefulness."""

from .models import BUILTIN_MODELS, build_model, resolve_model_builder
from .training import (TrainSettings, evaluate, limit_torch_threads, pick_device, to_tensors, train_and_score,
                       train_epochs)

__all__ = [
    "BUILTIN_MODELS", "build_model", "resolve_model_builder", "TrainSettings", "evaluate",
    "limit_torch_threads", "pick_device", "to_tensors", "train_and_score", "train_epochs",
]
