"""An optimizer's per-parameter state (Adam: moments and step) as plain numpy arrays, or as JSON.

Policies keep their Adam state in their JSON ``state_dict``; the persistent learner keeps its
optimizer's in an ``.npz`` file. Both go through the arrays here, so there is one way to save and
restore an optimizer. Hyperparameters are not stored: the code that builds the optimizer sets them.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import torch


def optimizer_state_arrays(optimizer: torch.optim.Optimizer) -> dict[str, np.ndarray]:
    """``{"<parameter index>/<name>": array}`` for every per-parameter entry (exp_avg, step, ...)."""
    return {f"{index}/{name}": torch.as_tensor(value).detach().cpu().numpy()
            for index, slot in optimizer.state_dict()["state"].items() for name, value in slot.items()}


def load_optimizer_state_arrays(optimizer: torch.optim.Optimizer, arrays: Mapping[str, np.ndarray]) -> None:
    """Restore what ``optimizer_state_arrays`` gave into a freshly built optimizer (its
    ``load_state_dict`` moves every entry to its parameter's device)."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in arrays.items():
        index, name = key.split("/", 1)
        state.setdefault(int(index), {})[name] = torch.as_tensor(np.array(value))  # a copy: arrays from Ray are read-only
    optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})


def adam_state_to_json(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's state as JSON-safe lists: ``{index: {name: {"data": ..., "dtype": ...}}}``."""
    nested: dict[str, dict[str, Any]] = {}
    for key, array in optimizer_state_arrays(optimizer).items():
        index, name = key.split("/", 1)
        nested.setdefault(index, {})[name] = {"data": array.tolist(), "dtype": str(array.dtype)}
    return nested


def adam_state_from_json(optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Restore what ``adam_state_to_json`` saved into a freshly built optimizer."""
    load_optimizer_state_arrays(optimizer, {
        f"{index}/{name}": np.asarray(value["data"], dtype=value["dtype"])
        for index, slot in state.items() for name, value in slot.items()
    })
