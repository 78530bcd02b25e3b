"""Training-time augmentation of cached frames (applied after the cache, as Tonic recommends).

Frames are binned once and cached; augmentations that must change every epoch run on the
cached frames, on the training split only. :class:`RandomShift` translates 2-D event frames by
a random whole-pixel offset (the same for every time step of a sample), filling with zeros:
small saccade-like shifts are the classic augmentation for N-MNIST-style recordings.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset


def shift_frames(frames: Tensor, dy: int, dx: int) -> Tensor:
    """Frames ``(T, P, H, W)`` moved by ``dy`` rows and ``dx`` columns, zero-filled (dense/COO)."""
    if frames.dim() != 4:
        raise ValueError(
            f"shift_frames needs 2-D frames (T, P, H, W); got shape {tuple(frames.shape)} "
            "(1-D sensors such as EMG channels have no spatial neighbourhood to shift)"
        )
    h, w = frames.shape[-2:]
    if frames.is_sparse:
        x = frames.coalesce()
        idx = x.indices().clone()
        idx[2] += dy
        idx[3] += dx
        keep = (idx[2] >= 0) & (idx[2] < h) & (idx[3] >= 0) & (idx[3] < w)
        # a constant offset keeps the lexicographic order: still coalesced
        return torch.sparse_coo_tensor(
            idx[:, keep],
            x.values()[keep],
            tuple(frames.shape),
            is_coalesced=True,
            check_invariants=False,  # in bounds and sorted by construction (see above)
        )
    out = torch.zeros_like(frames)
    src_y, dst_y = slice(max(0, -dy), min(h, h - dy)), slice(max(0, dy), min(h, h + dy))
    src_x, dst_x = slice(max(0, -dx), min(w, w - dx)), slice(max(0, dx), min(w, w + dx))
    out[..., dst_y, dst_x] = frames[..., src_y, src_x]
    return out


class RandomShift:
    """Shift each sample's frames by (dy, dx) drawn uniformly from [-max_shift, max_shift]^2.

    ``seed`` fixes the sequence of offsets: with the seeded training loader the run is
    reproducible. ``max_shift=0`` is the identity.
    """

    def __init__(self, max_shift: int, seed: int = 0) -> None:
        if max_shift < 0:
            raise ValueError(f"max_shift={max_shift} must be >= 0 pixels")
        self.max_shift = int(max_shift)
        self.rng = np.random.default_rng(seed)

    def __call__(self, frames: Tensor) -> Tensor:
        """``frames`` shifted by one random (dy, dx) drawn from this transform's generator."""
        if self.max_shift == 0:
            return frames
        dy, dx = self.rng.integers(-self.max_shift, self.max_shift + 1, size=2)
        return shift_frames(frames, int(dy), int(dx))


class AugmentedDataset(Dataset):
    """``dataset`` with ``transform`` applied to every sample's frames on access."""

    def __init__(self, dataset: Any, transform: Any) -> None:
        self.dataset = dataset
        self.transform = transform
        for attr in ("targets", "classes", "frame_shape", "sensor_size"):
            if hasattr(dataset, attr):
                setattr(self, attr, getattr(dataset, attr))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        frames, label = self.dataset[index]
        return self.transform(frames), label


__all__ = ["AugmentedDataset", "RandomShift", "shift_frames"]
