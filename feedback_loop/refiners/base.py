"""The Refiner contract, ``IdentityRefiner`` ("none"), and weight files for checkpoints.

A refiner sits between the generators and the learners: it is fitted on synthetic samples and on
*unlabeled* real samples, then maps synthetic batches to more realistic ones *without changing their
labels*. Batches are numpy arrays ``(N, C, H, W)`` in the simulator's own units (optdigits: counts
0..16); ``refine`` returns the same shape, dtype float32 and range.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ..checkpoint import atomic_write


class Refiner(ABC):
    """Maps synthetic batches towards the real data's look, keeping labels valid.

    Persistence is part of the contract: ``state_dict`` returns the *weights only* as numpy arrays
    (saved without pickling by ``save_weights``/``save_state``), ``load_state_dict`` restores them so that
    ``refine`` and ``realism`` give the same results as before. Optimizer state and the history
    buffer are not saved: a reloaded refiner refines identically, and ``fit`` continues from the
    weights with fresh optimizers.
    """

    name: str = "refiner"
    has_discriminator: bool = False
    """True when ``realism`` comes from a trained discriminator (False: a constant 0.5)."""

    @abstractmethod
    def fit(self, synthetic: np.ndarray, real_unlabeled: np.ndarray, *, steps: int | None = None) -> list[dict[str, float]]:
        """Train on synthetic samples and unlabeled real samples (both ``(N, C, H, W)``, same C, H, W).

        ``steps`` overrides the configured number of adversarial steps. Calling ``fit`` again
        continues training. Returns the per-step loss records of this call (also in ``losses``).
        """

    @abstractmethod
    def refine(self, batch: np.ndarray) -> np.ndarray:
        """The refined batch: same shape, float32, inside the input's valid range."""

    @abstractmethod
    def realism(self, batch: np.ndarray) -> np.ndarray:
        """Per-sample realism in [0, 1]: the discriminator's mean probability that a sample is real."""

    @abstractmethod
    def state_dict(self) -> dict[str, np.ndarray]:
        """The weights as numpy arrays (nothing else: no optimizer state, no history buffer)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore weights from ``state_dict``; ``ValueError`` naming the key when they do not fit."""

    @property
    def losses(self) -> list[dict[str, float]]:
        """Every per-step loss record since construction (for MLflow: one metric per key and step)."""
        return []


def _check_batch(batch: np.ndarray) -> np.ndarray:
    x = np.asarray(batch)
    if x.ndim != 4:
        raise ValueError(f"a refiner takes image batches of shape (N, C, H, W); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("the batch contains NaN or infinite values")
    return x


class IdentityRefiner(Refiner):
    """``refiner: none``: passes batches through unchanged; nothing to fit, no weights."""

    name = "none"
    has_discriminator = False

    def __init__(self, **_: Any) -> None:
        pass

    def fit(self, synthetic, real_unlabeled, *, steps=None):
        _check_batch(synthetic)
        _check_batch(real_unlabeled)
        return []

    def refine(self, batch):
        return _check_batch(batch).astype(np.float32, copy=True)

    def realism(self, batch):
        # No discriminator: 0.5 is what a discriminator that cannot tell real from refined says.
        return np.full(len(_check_batch(batch)), 0.5, dtype=np.float32)

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        if state:
            raise ValueError(f"IdentityRefiner has no weights; got keys {sorted(state)[:5]}")


# -- weight files -------------------------------------------------------------------------------------
_NAME_KEY = "__refiner__"


def save_state(state: dict[str, np.ndarray], name: str, path: str | Path) -> Path:
    """Write weights (e.g. ``RefinerActor.get_weights()``) of refiner ``name`` to ``path`` (``.npz``,
    atomically); nothing is pickled."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {k: np.ascontiguousarray(v) for k, v in state.items()}
    if _NAME_KEY in arrays:
        raise ValueError(f"weight name {_NAME_KEY!r} is reserved")
    arrays[_NAME_KEY] = np.array(name)  # a unicode array: no pickle needed
    # A handle, so numpy does not append ".npz" to the temp file's name.
    atomic_write(path, lambda handle: np.savez(handle, **arrays))
    return path


def load_state(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """``(refiner name, weights)`` from a file written by ``save_state``/``save_weights`` (no pickle)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:  # missing, truncated, or an object array that needs pickle
        raise ValueError(f"cannot read refiner weights from {str(path)!r}: {err}") from err
    return str(arrays.pop(_NAME_KEY, "")), arrays


def save_weights(refiner: Refiner, path: str | Path) -> Path:
    """Write the refiner's weights to ``path`` (``.npz``, atomically); nothing is pickled."""
    return save_state(refiner.state_dict(), refiner.name, path)


def load_weights(refiner: Refiner, path: str | Path) -> None:
    """Load weights written by ``save_weights`` into ``refiner`` (``allow_pickle=False``).

    ``ValueError`` if the file is not a weight file, was written by another kind of refiner or
    does not fit this refiner's networks.
    """
    saved, arrays = load_state(path)
    if saved != refiner.name:
        raise ValueError(f"{str(path)!r} holds weights of refiner {saved or '?'!r}, not {refiner.name!r}")
    refiner.load_state_dict(arrays)
