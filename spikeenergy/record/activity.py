"""Recorded per-layer activity: what every energy term and metric consumes.

All tensors are time-major ``(T, B, ...)``: T is the number of time steps the layer ran during the
recorded forward pass (T for per-step layers and for layers run once on a whole (T, B, ...)
sequence, 1 for a layer run once on time-summed frames), B the batch. How each layer's calls map
to time is decided by the recorder (:mod:`spikeenergy.record.recorder`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from torch import Tensor, nn

KINDS = ("spiking", "dense", "connection")

#: ``count(a, mask) -> scalar``: sum over presynaptic units i (and all (T, B) entries of ``a``) of
#: ``a_i * sum_j mask[j <- i]``, where ``mask`` has the shape of the weight tensor. With
#: ``mask = ones`` it counts every synapse (dense fan-out); with ``mask = (weight != 0)`` only the
#: synapses that exist (effective fan-out). Linear in ``a`` and in ``mask`` (differentiable in
#: both), exact at convolution borders, strides and groups.
SynapseCounter = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True, eq=False)
class Synapses:
    """One weight tensor and the presynaptic activity that drove it during a recorded pass.

    A Linear / Conv layer has one group (its ``weight``); an ``nn.GRU`` has two: input-to-hidden
    (driven by the layer input) and hidden-to-hidden (``role="recurrent"``, driven by the hidden
    state of the previous step, zero at the first step).
    """

    role: str
    inputs: Tensor  # (T, B, *in) presynaptic activity
    weight: Tensor  # the weight tensor; exact zeros are absent (pruned) synapses
    count: SynapseCounter
    #: time steps each recorded call of the layer covered, in order (they sum to T); None: one
    #: step per call. A layer run once on a whole (T, B, ...) sequence has ``(T,)``. NeuroBench
    #: decides binary vs graded per call, so its policy reads this.
    call_steps: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.call_steps is not None and sum(self.call_steps) != self.inputs.shape[0]:
            raise ValueError(
                f"synapse group {self.role!r}: call_steps {self.call_steps} do not sum to the "
                f"{self.inputs.shape[0]} recorded time steps"
            )


@dataclass(frozen=True, eq=False)
class LayerActivity:
    """Activity of one layer during one recorded forward pass.

    kind "spiking": ``spikes`` (and ``membrane``) of a spiking neuron layer;
    kind "dense": ``activations`` (post-nonlinearity) of a dense layer;
    kind "connection": ``inputs`` of a weight layer (Linear / Conv) and its ``synapses``.
    A layer that is both (``nn.GRU``: dense output, weighted input) has kind "dense" and also
    ``inputs`` / ``synapses``; connection code uses :attr:`is_connection`, not the kind.
    ``state_size``: state words a neuron of this layer reads and writes per update (1 for a
    leaky neuron's membrane, 2 for a synaptic neuron's current and membrane, 1 for a dense unit's
    output), used for memory traffic.
    """

    name: str
    kind: str
    spikes: Tensor | None = None
    membrane: Tensor | None = None
    activations: Tensor | None = None
    inputs: Tensor | None = None
    module: nn.Module | None = None
    synapses: tuple[Synapses, ...] = ()
    state_size: int = 1

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"LayerActivity kind={self.kind!r}; use one of {', '.join(KINDS)}")
        if self.state_size < 0:
            raise ValueError(f"LayerActivity state_size={self.state_size} must be >= 0")

    @property
    def is_connection(self) -> bool:
        """True when this layer has recorded synapse groups (weights driven by inputs)."""
        return bool(self.synapses)

    @property
    def outputs(self) -> Tensor | None:
        """The layer's output activity: spikes of a spiking layer, activations of a dense one."""
        if self.kind == "spiking":
            return self.spikes
        if self.kind == "dense":
            return self.activations
        return None


class ActivityRecord(Mapping[str, LayerActivity]):
    """Read-only mapping layer name -> :class:`LayerActivity`, in forward (registration) order."""

    def __init__(self, layers: Mapping[str, LayerActivity]) -> None:
        self._layers = dict(layers)

    def __getitem__(self, name: str) -> LayerActivity:
        try:
            return self._layers[name]
        except KeyError:
            raise KeyError(f"no recorded layer {name!r}; recorded: {list(self._layers)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def __repr__(self) -> str:
        body = ", ".join(f"{k}: {v.kind}" for k, v in self._layers.items())
        return f"ActivityRecord({body})"

    @property
    def batch_size(self) -> int:
        """The batch size B (axis 1 of every recorded tensor); raises if layers disagree."""
        sizes = set()
        for a in self._layers.values():
            for t in (a.spikes, a.membrane, a.activations, a.inputs):
                if t is not None:
                    sizes.add(int(t.shape[1]))
        if not sizes:
            raise ValueError(f"the record holds no tensors to measure; recorded: {self!r}")
        if len(sizes) != 1:
            raise ValueError(
                f"layers of one record disagree on the batch size: {sorted(sizes)}; record "
                "time-major (T, B, ...) tensors (see spikeenergy.record's time-axis options)"
            )
        return sizes.pop()

    def of_kind(self, kind: str) -> list[LayerActivity]:
        """Layers of one kind ("spiking", "dense", "connection"), in order."""
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r}; use one of {', '.join(KINDS)}")
        return [a for a in self._layers.values() if a.kind == kind]

    def spiking(self) -> list[LayerActivity]:
        """Spiking neuron layers."""
        return self.of_kind("spiking")

    def dense(self) -> list[LayerActivity]:
        """Dense (nonlinearity / GRU) layers."""
        return self.of_kind("dense")

    def connections(self) -> list[LayerActivity]:
        """Layers with recorded synapse groups (Linear, Conv, GRU)."""
        return [a for a in self._layers.values() if a.is_connection]
