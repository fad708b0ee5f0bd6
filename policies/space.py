"""Normalized coordinates for a simulator's ``param_space``.

Policies work in [0, 1] per continuous dimension and with category indices for discrete ones;
``ParamCodec`` maps between those and the parameter dict a simulator understands.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


class ParamCodec:
    """Maps ``param_space`` (Dict of scalar Box / Discrete) to unit-cube and category coordinates."""

    def __init__(self, param_space: spaces.Dict) -> None:
        self.continuous: list[tuple[str, float, float]] = []  # name, low, high
        self.discrete: list[tuple[str, int, int]] = []  # name, start, n
        for name, space in param_space.spaces.items():
            if isinstance(space, spaces.Discrete):
                self.discrete.append((name, int(space.start), int(space.n)))
            elif isinstance(space, spaces.Box) and int(np.prod(space.shape)) == 1:
                self.continuous.append((name, float(space.low.reshape(-1)[0]), float(space.high.reshape(-1)[0])))
            else:
                raise TypeError(f"param_space entry {name!r}: only scalar Box and Discrete are supported")

    @property
    def n_continuous(self) -> int:
        return len(self.continuous)

    def decode(self, unit: np.ndarray, categories: list[int] | None = None) -> dict[str, Any]:
        """Parameters from unit-cube coordinates (clipped) and category indices."""
        unit = np.clip(np.asarray(unit, dtype=float), 0.0, 1.0)
        params: dict[str, Any] = {}
        for value, (name, low, high) in zip(unit, self.continuous):
            params[name] = float(low + value * (high - low))
        for index, (name, start, n) in zip(categories or [], self.discrete):
            params[name] = int(start + min(max(int(index), 0), n - 1))
        return params

    def encode(self, params: dict[str, Any]) -> tuple[np.ndarray, list[int]]:
        """Unit-cube coordinates and category indices of a parameter dict."""
        unit = np.array([(float(params[name]) - low) / (high - low) for name, low, high in self.continuous])
        categories = [int(params[name]) - start for name, start, _ in self.discrete]
        return unit, categories

    def full_ranges(self) -> dict[str, list[float]]:
        """Every parameter's whole range, as per-sample randomization ranges."""
        ranges = {name: [low, high] for name, low, high in self.continuous}
        ranges.update({name: [start, start + n - 1] for name, start, n in self.discrete})
        return ranges

    def sample_uniform(self, rng: np.random.Generator) -> dict[str, Any]:
        unit = rng.uniform(size=self.n_continuous)
        categories = [int(rng.integers(n)) for _, _, n in self.discrete]
        return self.decode(unit, categories)
