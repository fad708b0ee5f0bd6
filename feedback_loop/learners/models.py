"""Built-in task models (``mlp``, ``cnn``, ``fcn``) and user models named as ``module:function``.

A builder takes ``(input_shape, outputs)``: ``outputs`` is the task's (``Task.outputs()``): the number
of classes of a classification, the number of targets of a regression, the classes per pixel of a
segmentation. ``mlp``, ``cnn`` and ``convnet`` output ``(N, outputs)``; ``fcn`` outputs ``(N, outputs, H, W)``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..imports import import_object, is_import_path

ModelBuilder = Callable[[tuple[int, ...], int], nn.Module]


def build_mlp(input_shape: tuple[int, ...], outputs: int, hidden: int = 64) -> nn.Module:
    """Two hidden ReLU layers over the flattened input."""
    width = int(torch.tensor(input_shape).prod())
    return nn.Sequential(
        nn.Flatten(), nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, outputs),
    )


def build_cnn(input_shape: tuple[int, ...], outputs: int, hidden: int = 128) -> nn.Module:
    """A small CNN for small images (e.g. 8×8 digits): two 3×3 convs, one 2×2 pool, two dense layers."""
    if len(input_shape) != 3:
        raise ValueError(f"learner.model='cnn' needs image inputs of shape (C, H, W); got {input_shape}")
    channels, height, width = input_shape
    return nn.Sequential(
        nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64 * (height // 2) * (width // 2), hidden), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(hidden, outputs),
    )


def build_convnet(input_shape: tuple[int, ...], outputs: int, hidden: int = 128) -> nn.Module:
    """A small CNN for larger images (e.g. 36×60 eye patches): three 3×3 conv + 2×2 pool stages (16, 32,
    64 channels), then two dense layers; cheap enough to train on a CPU in minutes."""
    if len(input_shape) != 3:
        raise ValueError(f"learner.model='convnet' needs image inputs of shape (C, H, W); got {input_shape}")
    channels, height, width = input_shape
    if height < 8 or width < 8:
        raise ValueError(f"learner.model='convnet' needs images of at least 8×8 pixels; got {input_shape}")
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(64 * (height // 8) * (width // 8), hidden), nn.ReLU(),
        nn.Linear(hidden, outputs),
    )


def build_fcn(input_shape: tuple[int, ...], outputs: int, hidden: int = 32) -> nn.Module:
    """A small fully convolutional net for dense prediction: 3×3 convs dilated 1, 2 and 4 (a 15-pixel
    receptive field at full resolution), each with batch norm (without it, a thin class such as the
    Shapes-v0 ellipses was never learned), then a 1×1 conv to ``outputs`` channels per pixel."""
    if len(input_shape) != 3:
        raise ValueError(f"learner.model='fcn' needs image inputs of shape (C, H, W); got {input_shape}")
    channels = input_shape[0]
    return nn.Sequential(
        nn.Conv2d(channels, hidden, 3, padding=1), nn.BatchNorm2d(hidden), nn.ReLU(),
        nn.Conv2d(hidden, hidden, 3, padding=2, dilation=2), nn.BatchNorm2d(hidden), nn.ReLU(),
        nn.Conv2d(hidden, hidden, 3, padding=4, dilation=4), nn.BatchNorm2d(hidden), nn.ReLU(),
        nn.Conv2d(hidden, outputs, 1),
    )


BUILTIN_MODELS: dict[str, Callable[..., nn.Module]] = {"mlp": build_mlp, "cnn": build_cnn, "convnet": build_convnet,
                                                       "fcn": build_fcn}


def resolve_model_builder(name: str) -> ModelBuilder:
    """A builder ``(input_shape, outputs) -> nn.Module`` for a built-in name or import path."""
    if name in BUILTIN_MODELS:
        return BUILTIN_MODELS[name]
    if is_import_path(name):
        builder = import_object(name, "learner.model")
        if not callable(builder):
            raise ValueError(f"learner.model: {name!r} is not callable; give a function (input_shape, outputs) -> nn.Module")
        return builder
    raise ValueError(
        f"learner.model: unknown model {name!r}; use one of {sorted(BUILTIN_MODELS)} "
        "or an import path 'package.module:function'"
    )


def build_model(name: str, input_shape: tuple[int, ...], outputs: int, hidden: int | None = None) -> nn.Module:
    """The model ``name`` for inputs of ``input_shape`` and the task's ``outputs``."""
    builder = resolve_model_builder(name)
    if name in BUILTIN_MODELS and hidden is not None:
        return builder(input_shape, outputs, hidden=hidden)
    model = builder(input_shape, outputs)
    if not isinstance(model, nn.Module):
        raise ValueError(f"learner.model: {name!r} returned {type(model).__name__}, not a torch.nn.Module")
    return model
