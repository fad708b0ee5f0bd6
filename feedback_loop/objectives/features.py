"""Where realism is measured (``objective.features``): the inputs, the task model's features, or a
user's extractor. Nothing is downloaded: a user who wants a pretrained encoder names their own.

- ``raw``: the inputs as the learner sees them (times ``learner.input_scale``), flattened;
- ``learner``: the candidate's own trained task model's penultimate features (the input of its last
  layer with weights), so the distance is measured where the task model looks;
- ``module:function``: ``function(x: ndarray of shape (n, *input_shape)) -> ndarray (n, d)``.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

FEATURES = ("raw", "learner")
FeatureFn = Callable[[torch.nn.Module | None, torch.Tensor], np.ndarray]


def last_layer(model: torch.nn.Module) -> torch.nn.Module:
    """The model's last module with its own weights (a classifier head's ``Linear``, an FCN's last conv)."""
    last = None
    for module in model.modules():
        if any(True for _ in module.parameters(recurse=False)):
            last = module
    if last is None:
        raise ValueError("objective.features: 'learner' needs a task model with weights")
    return last


@torch.no_grad()
def penultimate(model: torch.nn.Module, x: torch.Tensor) -> np.ndarray:
    """What ``model``'s last layer with weights receives for ``x``, flattened per sample."""
    captured: list[torch.Tensor] = []
    hook = last_layer(model).register_forward_pre_hook(lambda _module, args: captured.append(args[0].detach()))
    was_training = model.training
    model.eval()
    try:
        for chunk in x.split(4096):
            model(chunk)
    finally:
        hook.remove()
        model.train(was_training)
    return torch.cat(captured).reshape(len(x), -1).cpu().double().numpy()


def _raw(_model: torch.nn.Module | None, x: torch.Tensor) -> np.ndarray:
    return x.detach().reshape(len(x), -1).cpu().double().numpy()


def _user(function: Callable[[np.ndarray], Any], name: str) -> FeatureFn:
    def features(_model: torch.nn.Module | None, x: torch.Tensor) -> np.ndarray:
        out = np.asarray(function(x.detach().cpu().numpy()), dtype=np.float64)
        if out.ndim != 2 or len(out) != len(x):
            raise ValueError(f"objective.features: {name!r} returned shape {out.shape} for {len(x)} inputs; "
                             "allowed: (n, d)")
        return out
    return features


def resolve_features(name: str) -> FeatureFn:
    """The feature function ``f(model, x) -> (n, d)`` that ``objective.features`` names."""
    from ..imports import import_object, is_import_path

    if name == "raw":
        return _raw
    if name == "learner":
        return lambda model, x: penultimate(model, x)
    if is_import_path(name):
        function = import_object(name, "objective.features")
        if not callable(function):
            raise ValueError(f"objective.features: {name!r} is not callable; allowed: a function f(x) -> (n, d)")
        return _user(function, name)
    raise ValueError(f"objective.features: unknown features {name!r}; allowed: raw, learner or 'module:function'")
