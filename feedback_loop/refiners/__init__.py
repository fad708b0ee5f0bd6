"""Refiners: make synthetic batches look like unlabeled real data before the learners see them.

``make_refiner("simgan", {"channels": 32, ...})`` builds one by name; ``RefinerActor`` (in
``feedback_loop.refiners.actor``, imported lazily because it needs Ray) runs one between the
generator and learner actors; a run keeps its weights in ``refiner_weights.npz`` in the run directory
(``save_state``/``load_state``, rewritten after every fit; ``generate`` reads it), and
``save_weights``/``load_weights`` do the same for a refiner object; ``refinement_grid`` (``feedback_loop.refiners.grid``) draws synthetic vs refined vs real.
"""

from __future__ import annotations

from typing import Any

import torch

from .base import IdentityRefiner, Refiner, load_state, load_weights, save_state, save_weights
from .history import HistoryBuffer
from .simgan import SimGANConfig, SimGANRefiner

REFINERS: dict[str, type[Refiner]] = {"none": IdentityRefiner, "simgan": SimGANRefiner}


def make_refiner(name: str, options: dict[str, Any] | None = None, device: str | torch.device = "cpu") -> Refiner:
    """A refiner by name (``none`` | ``simgan``) with its options; unknown names and options are named."""
    if name not in REFINERS:
        raise ValueError(f"refiner: unknown refiner {name!r}; use one of {sorted(REFINERS)}")
    if name == "none":
        if options:
            raise ValueError(f"refiner 'none' takes no options; got {sorted(options)}")
        return IdentityRefiner()
    return SimGANRefiner(SimGANConfig.from_dict(options), device=device)


__all__ = [
    "Refiner", "IdentityRefiner", "SimGANRefiner", "SimGANConfig", "HistoryBuffer", "REFINERS", "make_refiner",
    "save_weights", "load_weights", "save_state", "load_state",
]
