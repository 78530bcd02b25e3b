"""Frozen training configuration (built from TOML/CLI at the edge, passed as an object)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from spikeenergy.energy.cost_models import DEFAULT_TARGET
from spikeenergy.registry import FrozenDict, reject_unknown_keys

if TYPE_CHECKING:
    import torch

OPTIMIZERS = ("adam", "adamw")
SCHEDULES = ("none", "cosine", "step")


def default_device() -> torch.device:
    """The device used when none is named, everywhere (training, benchmarks, export, the
    command line's ``--device``): CUDA when available, else CPU."""
    import torch  # here, not at the top: the command line's parsers read this module

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation budget and the energy penalty: L = L_CE + lam * E(energy term)."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adamw"
    weight_decay: float = 0.0
    schedule: str = "cosine"
    step_size: int = 10  # schedule="step": epochs between decays
    gamma: float = 0.5  # schedule="step": decay factor
    patience: int | None = None  # early stopping on validation accuracy (epochs without gain)
    grad_clip: float | None = 1.0  # max gradient norm; None disables clipping
    seed: int = 0
    lam: float = 0.0  # joules term: 1/pJ (L = CE + lam * pJ per inference)
    energy: str = "joules"  # name in spikeenergy.energy.ENERGY_TERMS
    energy_options: Mapping[str, Any] = field(default_factory=FrozenDict)
    target: str = DEFAULT_TARGET  # cost model of the joules term and of the training logs
    prune_below: float | None = None  # remove synapses below this x mean |w| after each epoch
    target_accuracy: float | None = None  # for time/steps-to-target (training efficiency)
    metric: str = "accuracy"  # task metric that selects the checkpoint on validation
    class_weights: str | None = None  # "balanced": cross-entropy weighted by 1 / class share
    device: str | None = None  # None: CUDA when available, else CPU

    def __post_init__(self) -> None:
        # a frozen config is hashable: options become an immutable mapping
        if not isinstance(self.energy_options, Mapping):
            raise ValueError(
                f"energy_options={self.energy_options!r} must be a table (a mapping of the "
                "energy term's keyword arguments)"
            )
        object.__setattr__(self, "energy_options", FrozenDict(self.energy_options))
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(
                f"epochs and batch_size must be >= 1 ({self.epochs}, {self.batch_size})"
            )
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr={self.lr} must be a positive number")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer={self.optimizer!r}; use one of {', '.join(OPTIMIZERS)}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule={self.schedule!r}; use one of {', '.join(SCHEDULES)}")
        if not (math.isfinite(self.lam) and self.lam >= 0):
            raise ValueError(f"lam={self.lam} must be a finite number >= 0")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip={self.grad_clip} must be positive or None")
        if self.target_accuracy is not None and not 0 < self.target_accuracy <= 1:
            raise ValueError(f"target_accuracy={self.target_accuracy} must be in (0, 1]")
        if self.class_weights not in (None, "balanced"):
            raise ValueError(
                f"class_weights={self.class_weights!r}; use None or 'balanced' (inverse class "
                "frequency of the training split)"
            )
        if self.energy == "joules" and "target" in self.energy_options:
            raise ValueError(
                "set the joules term's target with TrainConfig.target (train.target in a suite), "
                "not energy_options.target"
            )
        if self.prune_below is not None and not (
            math.isfinite(self.prune_below) and 0 < self.prune_below < 1
        ):
            raise ValueError(f"prune_below={self.prune_below} must lie in (0, 1) (or None)")

    def resolved_device(self) -> torch.device:
        """The device to train on: the configured one, else CUDA when available, else CPU."""
        if self.device is None:
            return default_device()
        import torch

        return torch.device(self.device)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON/TOML friendly)."""
        d = asdict(self)
        d["energy_options"] = FrozenDict(self.energy_options).to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise naming the known ones."""
        reject_unknown_keys(d, cls, "TrainConfig")
        return cls(**d)
