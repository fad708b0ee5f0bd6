"""Learners: task models, and training them on generated data to score the data's usefulness."""

from .models import BUILTIN_MODELS, build_model, resolve_model_builder
from .task_learner import TaskLearner
from .training import TrainSettings, evaluate, limit_torch_threads, pick_device, to_tensors, train_epochs

__all__ = [
    "BUILTIN_MODELS", "build_model", "resolve_model_builder", "TaskLearner", "TrainSettings", "evaluate",
    "limit_torch_threads", "pick_device", "to_tensors", "train_epochs",
]
