"""Shared tiny frame dataset for training tests (imported by test modules; not a test)."""

from __future__ import annotations

import torch


class ToyFrames(torch.utils.data.Dataset):
    """Two classes of (T=4, 6) frames: class 1 fires on the first 3 inputs, class 0 on the last.

    ``noise`` is the firing probability of every input on top of the class pattern (0.7).
    """

    def __init__(self, n: int = 32, seed: int = 0, noise: float = 0.2) -> None:
        g = torch.Generator().manual_seed(seed)
        self.targets = [i % 2 for i in range(n)]
        self.x = (torch.rand(n, 4, 6, generator=g) < noise).float()
        for i, y in enumerate(self.targets):
            cols = slice(0, 3) if y else slice(3, 6)
            self.x[i, :, cols] += (torch.rand(4, 3, generator=g) < 0.7).float()

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.x[i], self.targets[i]
