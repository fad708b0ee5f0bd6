"""SimGAN's history of refined samples (Shrivastava et al. 2017, section 2.3)."""

from __future__ import annotations

import torch


class HistoryBuffer:
    """Earlier refined samples (paper §2.3): half of every discriminator batch comes from here.

    ``mix(fresh)`` returns the discriminator's refined half-and-half batch, then replaces random
    entries with half of the fresh samples (appending until the buffer is full).
    """

    def __init__(self, capacity: int, generator: torch.Generator) -> None:
        self.capacity = int(capacity)
        self.generator = generator
        self.data: torch.Tensor | None = None
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def push(self, images: torch.Tensor) -> None:
        images = images.detach()[: self.capacity]
        if self.data is None:
            self.data = torch.empty((self.capacity, *images.shape[1:]), dtype=images.dtype, device=images.device)
        free = min(self.capacity - self.size, len(images))
        if free:
            self.data[self.size:self.size + free] = images[:free]
            self.size += free
        rest = images[free:]
        if len(rest):  # full: overwrite random old entries
            slots = torch.randperm(self.capacity, generator=self.generator)[: len(rest)].to(self.data.device)
            self.data[slots] = rest

    def sample(self, n: int) -> torch.Tensor:
        if self.size == 0:
            raise ValueError("the history buffer is empty")
        idx = torch.randint(self.size, (n,), generator=self.generator).to(self.data.device)
        return self.data[idx]

    def mix(self, fresh: torch.Tensor) -> torch.Tensor:
        half = len(fresh) // 2
        if half and self.size >= half:
            batch = torch.cat([fresh[: len(fresh) - half], self.sample(half)])
        else:  # too few old samples yet: all fresh
            batch = fresh
        self.push(fresh[:half] if half else fresh)
        return batch
