"""Pure, differentiable energy kernels on tensors; shared by energy terms (training) and metrics.

Conventions: activity tensors are time-major ``(T, B, *units)``; "per unit per step per sample"
means divided by ``T * B * units`` (pooled over the given layers); "per sample" means summed over
time and layers and divided by B. Operation counts live in :mod:`spikeenergy.energy.ledger`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor


def _require(tensors: Sequence[Tensor], what: str) -> None:
    if len(tensors) == 0:
        raise ValueError(f"no {what} to compute on (empty list)")


def mean_abs_power(tensors: Sequence[Tensor], p: float = 1.0) -> Tensor:
    """sum_l sum |x_l|^p / sum_l numel(x_l): mean of |x|^p per unit per step per sample, pooled."""
    _require(tensors, "tensors")
    if p not in (1, 2, 1.0, 2.0):
        raise ValueError(f"p={p} is not supported; use p=1 (absolute) or p=2 (squared)")
    count = sum(t.numel() for t in tensors)
    if count == 0:
        raise ValueError("activity tensors are empty (T, B or units is 0)")
    total = torch.stack([(t.abs() if p == 1 else t.square()).sum() for t in tensors]).sum()
    return total / count


def spike_rate(spikes: Sequence[Tensor]) -> Tensor:
    """Spikes per neuron per time step per sample, pooled over layers (in [0, 1] for 0/1 spikes)."""
    return mean_abs_power(spikes, 1)


def spikes_per_sample(spikes: Sequence[Tensor]) -> Tensor:
    """Total spikes per sample: sum over time, neurons and layers, divided by the batch size B."""
    _require(spikes, "spike tensors")
    return torch.stack([s.sum() / s.shape[1] for s in spikes]).sum()
