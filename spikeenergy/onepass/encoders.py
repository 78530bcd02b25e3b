"""Fixed, untrained feature encoders for one-pass classifiers: event counts, random LIF layer.

Both take time-major frames ``(T, B, *frame_shape)`` and return per-sample features ``(B, F)``
with the operation counts they spent, so the benchmark can charge their energy. Nothing here is
trained by gradient descent; the random spiking layer's only data-dependent quantity is one
input gain set from the unlabelled training frames (one pass, labels unused).

Counting: the random spiking layer is a network (an ``nn.Linear`` with frozen weights followed by
the library neuron), so its counts come from the energy ledger
(:class:`spikeenergy.energy.EnergyLedger` over an :class:`spikeenergy.record.ActivityRecorder`
record), exactly as for every other model of the package. Algorithms that are not networks (the
event counter, the dense-associative-memory similarities, SVM / k-NN) state their arithmetic as
:class:`OpCounts` in the ledger's count names; all of them are priced only by
:meth:`spikeenergy.energy.CostModel.price`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from spikeenergy.energy import EnergyLedger
from spikeenergy.models import NeuronSpec, build_neuron
from spikeenergy.record import ActivityRecorder

#: what the ledger needs recorded: layer inputs (synapses) and neuron outputs
LEDGER_NEEDS = frozenset({"inputs", "spikes", "activations"})


@dataclass(frozen=True)
class OpCounts:
    """Counts in the ledger's names (:data:`spikeenergy.energy.ledger.COUNTS`), a total or a mean.

    ``acs``/``macs``: executed (effective) accumulates / multiply-accumulates; ``graded_events``:
    spikes a spike-only chip must receive to deliver graded inputs; ``dense_ops``: every synapse
    on every call (what a dense target executes); ``neuron_updates``, ``active_updates``,
    ``spikes``, ``state_words``: neuron-side counts. Price with
    ``cost_model.price(ops.as_counts())``; nothing else multiplies these by energies.
    """

    acs: float = 0.0
    macs: float = 0.0
    graded_events: float = 0.0
    dense_ops: float = 0.0
    neuron_updates: float = 0.0
    active_updates: float = 0.0
    spikes: float = 0.0
    state_words: float = 0.0

    def __add__(self, other: OpCounts) -> OpCounts:
        return OpCounts(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in _F})

    def scaled(self, factor: float) -> OpCounts:
        """All counts times ``factor`` (e.g. 1 / batch size for per-sample counts)."""
        return OpCounts(**{f.name: getattr(self, f.name) * factor for f in _F})

    @classmethod
    def from_ledger(cls, total: Mapping[str, float]) -> OpCounts:
        """A ledger's network-wide counts (``EnergyLedger.total()``, per inference)."""
        missing = [f.name for f in _F if f.name not in total]
        if missing:
            raise ValueError(
                f"ledger totals lack {missing}; pass EnergyLedger.total() (every count name)"
            )
        return cls(**{f.name: float(total[f.name]) for f in _F})

    @classmethod
    def executed(cls, acs: float = 0.0, macs: float = 0.0) -> OpCounts:
        """Arithmetic of an algorithm that is not a network (similarities, counters).

        Every operation is executed whatever the data, so the dense count equals the executed
        one; no neuron state is involved.
        """
        return cls(acs=acs, macs=macs, dense_ops=acs + macs)

    def as_counts(self) -> dict[str, float]:
        """Ledger count names -> values, for :meth:`spikeenergy.energy.CostModel.price`."""
        return {f.name: float(getattr(self, f.name)) for f in _F}


_F = fields(OpCounts)


def ledger_pass(
    model: nn.Module,
    x: Tensor,
    forward: Callable[[Tensor], Any] | None = None,
    batch: int = 256,
) -> tuple[list[Any], EnergyLedger]:
    """Run ``forward`` (default ``model``) over time-major ``x`` (T, N, ...) in batches of
    ``batch`` samples while the recorder watches ``model``; returns the outputs per batch and
    the energy ledger of the whole pass (``ledger.total()`` is per sample)."""
    if batch < 1:
        raise ValueError(f"batch={batch} must be >= 1")
    fn = forward if forward is not None else model
    ledger = EnergyLedger()
    outs: list[Any] = []
    with torch.no_grad(), ActivityRecorder(model, needs=LEDGER_NEEDS, keep_graph=False) as rec:
        for start in range(0, x.shape[1], batch):
            rec.clear()
            outs.append(fn(x[:, start : start + batch]))
            ledger.update(rec.record())
    if ledger.samples == 0:
        raise ValueError("no samples: x has an empty batch axis (T, 0, ...)")
    return outs, ledger


def _check_frames(x: Tensor) -> None:
    if x.dim() < 3:
        raise ValueError(
            f"expected time-major frames (T, B, ...) with at least 3 dims, got {tuple(x.shape)}"
        )


class CountEncoder:
    """Event-count features: frames summed over time and flattened, (T, B, ...) -> (B, F).

    Not a network: cost one accumulate per event (each event increments one counter).
    """

    def encode(self, x: Tensor) -> tuple[Tensor, OpCounts]:
        """Features (B, F) and the ops spent (total over the batch)."""
        _check_frames(x)
        feats = x.sum(0).flatten(1)  # (B, F)
        return feats, OpCounts.executed(acs=float(x.abs().sum()))


class RandomSpikingEncoder(nn.Module):
    """A fixed random projection into snnTorch/Norse LIF neurons; features = spike counts.

    The network: ``fc`` (``nn.Linear(in_features, hidden, bias=False)``, frozen) followed by the
    library neuron (:func:`spikeenergy.models.build_neuron`), run step by step. The random
    weights ``W0 ~ N(0, 1 / fan_in)`` are drawn from ``seed``; :meth:`calibrate` sets one input
    gain from unlabelled frames so that the input current has standard deviation ``target_std``
    x threshold (a scale choice, not learning) and folds it into the frozen weights
    (``fc.weight = gain * W0``: no extra multiply per synapse). Operation counts come from the
    energy ledger of a recorded pass (:meth:`encode`).
    """

    base_weight: Tensor
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
        if not (math.isfinite(target_std) and target_std > 0):
            raise ValueError(f"target_std={target_std} must be a positive number")
        self.neuron_spec = neuron if neuron is not None else NeuronSpec(beta=0.9, threshold=1.0)
        gen = torch.Generator().manual_seed(seed)
        w = torch.randn(hidden, in_features, generator=gen) / math.sqrt(in_features)
        self.register_buffer("base_weight", w)  # (H, F) W0: fixed, never trained
        self.register_buffer("gain", torch.tensor(1.0))
        self.fc = nn.Linear(in_features, hidden, bias=False)
        self.fc.weight.requires_grad_(False)
        with torch.no_grad():
            self.fc.weight.copy_(w)
        self.neuron, self.driver = build_neuron(self.neuron_spec, backend)
        self.hidden = hidden
        self.in_features = in_features
        self.target_std = target_std

    def _flat(self, x: Tensor) -> Tensor:
        _check_frames(x)
        flat = x.flatten(2).to(self.fc.weight)  # (T, B, F)
        if flat.shape[-1] != self.in_features:
            raise ValueError(
                f"frames have {flat.shape[-1]} features per step; encoder built for "
                f"{self.in_features}"
            )
        return flat

    @torch.no_grad()
    def calibrate(self, x: Tensor) -> RandomSpikingEncoder:
        """Set the input gain from unlabelled frames (T, B, ...): std of the current = target."""
        cur = self._flat(x) @ self.base_weight.T  # (T, B, H)
        std = float(cur.std()) if cur.numel() > 1 else 0.0
        if not math.isfinite(std) or std == 0:
            raise ValueError("calibration frames are empty (all-zero input); pass real samples")
        self.gain.fill_(self.target_std * self.neuron_spec.threshold / std)
        self.fc.weight.copy_(self.gain * self.base_weight)
        return self

    def forward(self, x: Tensor) -> Tensor:
        """Spike trains (T, B, H) of the fixed layer driven by frames (T, B, ...)."""
        state = None
        out = []
        for x_t in self._flat(x).unbind(0):
            spk, state = self.driver.step(self.neuron, self.fc(x_t), state)  # (B, H)
            out.append(spk)
        return torch.stack(out)  # (T, B, H)

    @torch.no_grad()
    def spikes(self, x: Tensor) -> Tensor:
        """Spike trains (T, B, H) without recording (no counts)."""
        return self(x)

    def encode(self, x: Tensor) -> tuple[Tensor, OpCounts]:
        """Spike-count features (B, H) and the ledger's counts of the pass (total over B)."""
        outs, ledger = ledger_pass(self, x)
        feats = torch.cat([o.sum(0) for o in outs], 0)
        return feats, OpCounts.from_ledger(ledger.total()).scaled(ledger.samples)


__all__ = ["LEDGER_NEEDS", "CountEncoder", "OpCounts", "RandomSpikingEncoder", "ledger_pass"]
