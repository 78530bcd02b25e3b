"""Fixed, untrained feature encoders for one-pass classifiers: event counts, random LIF layer.

Both take time-major frames ``(T, B, *frame_shape)`` and return per-sample features ``(B, F)``
with the operation counts they spent, so the benchmark can charge their energy. Nothing here is
trained by gradient descent; the random spiking layer's only data-dependent quantity is one
input gain set from the unlabelled training frames (one pass, labels unused).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from spikeenergy.models import NeuronSpec, build_neuron


@dataclass(frozen=True)
class OpCounts:
    """Operations spent on a batch: accumulates, multiply-accumulates and neuron updates."""

    acs: float = 0.0
    macs: float = 0.0
    neuron_updates: float = 0.0

    def __add__(self, other: OpCounts) -> OpCounts:
        return OpCounts(
            self.acs + other.acs,
            self.macs + other.macs,
            self.neuron_updates + other.neuron_updates,
        )

    def scaled(self, factor: float) -> OpCounts:
        """All counts times ``factor`` (e.g. 1 / batch size for per-sample counts)."""
        return OpCounts(self.acs * factor, self.macs * factor, self.neuron_updates * factor)

    @classmethod
    def from_ledger(cls, total: dict[str, float]) -> OpCounts:
        """The executed operations of a ledger's per-inference totals (graded inputs as MACs)."""
        return cls(total["acs"], total["macs"], total["neuron_updates"])

    def as_counts(self) -> dict[str, float]:
        """Ledger count names, for :meth:`spikeenergy.energy.CostModel.price`.

        These operations are executed ones (no zero input or weight among them), so on a dense
        target they are also the dense operations.
        """
        return {
            "acs": self.acs,
            "macs": self.macs,
            "dense_ops": self.acs + self.macs,
            "neuron_updates": self.neuron_updates,
            "state_words": self.neuron_updates,
        }


def _check_frames(x: Tensor) -> None:
    if x.dim() < 3:
        raise ValueError(
            f"expected time-major frames (T, B, ...) with at least 3 dims, got {tuple(x.shape)}"
        )


class CountEncoder:
    """Event-count features: frames summed over time and flattened, (T, B, ...) -> (B, F).

    Cost: one accumulate per event (each event increments one counter).
    """

    def encode(self, x: Tensor) -> tuple[Tensor, OpCounts]:
        """Features (B, F) and the ops spent (total over the batch)."""
        _check_frames(x)
        feats = x.sum(0).flatten(1)  # (B, F)
        return feats, OpCounts(acs=float(x.abs().sum()))


class RandomSpikingEncoder(nn.Module):
    """A fixed random projection into snnTorch/Norse LIF neurons; features = spike counts.

    ``W`` ~ N(0, 1 / fan_in) drawn from ``seed``; :meth:`calibrate` sets one input gain from
    unlabelled frames so that the input current has standard deviation ``target_std`` x threshold
    (a scale choice, not learning). Costs: accumulates = input activity x ``hidden`` synapses,
    plus one neuron update per neuron per step.
    """

    weight: Tensor
    gain: Tensor

    def __init__(
        self,
        in_features: int,
        hidden: int = 512,
        neuron: NeuronSpec | None = None,
        backend: str = "snntorch",
        seed: int = 0,
        target_std: float = 1.0,
    ) -> None:
        super().__init__()
        if in_features < 1 or hidden < 1:
            raise ValueError(f"in_features={in_features} and hidden={hidden} must be >= 1")
        self.neuron_spec = neuron if neuron is not None else NeuronSpec(beta=0.9, threshold=1.0)
        gen = torch.Generator().manual_seed(seed)
        w = torch.randn(hidden, in_features, generator=gen) / math.sqrt(in_features)
        self.register_buffer("weight", w)  # (H, F): fixed, never trained
        self.register_buffer("gain", torch.tensor(1.0))
        self.neuron, self.driver = build_neuron(self.neuron_spec, backend)
        self.hidden = hidden
        self.in_features = in_features
        self.target_std = target_std

    @torch.no_grad()
    def calibrate(self, x: Tensor) -> RandomSpikingEncoder:
        """Set the input gain from unlabelled frames (T, B, ...): std of the current = target."""
        _check_frames(x)
        cur = x.flatten(2).to(self.weight) @ self.weight.T  # (T, B, H)
        std = float(cur.std())
        if not math.isfinite(std) or std == 0:
            raise ValueError("calibration frames are empty (all-zero input); pass real samples")
        self.gain.fill_(self.target_std * self.neuron_spec.threshold / std)
        return self

    @torch.no_grad()
    def spikes(self, x: Tensor) -> Tensor:
        """Spike trains (T, B, H) of the fixed layer driven by frames (T, B, ...)."""
        _check_frames(x)
        flat = x.flatten(2).to(self.weight)  # (T, B, F)
        if flat.shape[-1] != self.in_features:
            raise ValueError(
                f"frames have {flat.shape[-1]} features per step; encoder built for "
                f"{self.in_features}"
            )
        state = None
        out = []
        for x_t in flat.unbind(0):
            cur = self.gain * (x_t @ self.weight.T)  # (B, H)
            spk, state = self.driver.step(self.neuron, cur, state)
            out.append(spk)
        return torch.stack(out)  # (T, B, H)

    def ops(self, x: Tensor, spikes: Tensor | None = None) -> OpCounts:
        """Ops of one pass over frames x (T, B, ...): event-driven synapses + neuron updates."""
        del spikes
        t, b = x.shape[:2]
        return OpCounts(
            acs=float(x.abs().sum()) * self.hidden, neuron_updates=float(t * b * self.hidden)
        )

    def encode(self, x: Tensor) -> tuple[Tensor, OpCounts]:
        """Spike-count features (B, H) and the ops spent (total over the batch)."""
        spk = self.spikes(x)
        return spk.sum(0), self.ops(x, spk)


__all__ = ["CountEncoder", "OpCounts", "RandomSpikingEncoder"]
