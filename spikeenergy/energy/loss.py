"""Energy-regularized loss: L = L_task(logits, targets) + lam * E(record)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor

from spikeenergy.energy.terms import EnergyTerm
from spikeenergy.record.activity import ActivityRecord


class LossParts(NamedTuple):
    """The three numbers of one loss evaluation, so logging never recomputes anything."""

    total: Tensor
    task: Tensor
    energy: Tensor


@dataclass(frozen=True)
class EnergyRegularizedLoss:
    """``(logits, targets, record) -> LossParts(total, task, energy)`` with total = task + lam*E.

    With ``lam == 0`` the energy is still evaluated (for logging) but without autograd, and
    ``total`` is the task loss itself, so the training step is exactly the plain task-loss step.
    """

    task_loss: Callable[[Tensor, Tensor], Tensor]
    energy: EnergyTerm
    lam: float

    def __post_init__(self) -> None:
        if not isinstance(self.energy, EnergyTerm):
            raise TypeError(f"energy must be an EnergyTerm, got {type(self.energy).__name__}")
        if isinstance(self.lam, bool) or not math.isfinite(float(self.lam)) or self.lam < 0:
            raise ValueError(f"lam={self.lam} must be a finite number >= 0")

    @property
    def needs(self) -> frozenset[str]:
        """What the recorder must capture for the energy term."""
        return self.energy.needs

    def __call__(self, logits: Tensor, targets: Tensor, record: ActivityRecord) -> LossParts:
        """(total, task, energy) of one batch; the energy is computed without a graph at lam 0."""
        task = self.task_loss(logits, targets)
        if self.lam == 0:
            with torch.no_grad():
                energy = self.energy(record)
            return LossParts(task, task, energy)
        energy = self.energy(record)
        return LossParts(task + self.lam * energy, task, energy)
