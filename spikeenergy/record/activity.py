"""Recorded per-layer activity: what every energy term and metric consumes.

All tensors are time-major ``(T, B, ...)``: T is the number of times the layer ran during the
recorded forward pass (T steps for per-step layers, 1 for a layer run once on time-summed frames),
B the batch. A sequence module (``nn.GRU``) records its own time axis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from torch import Tensor, nn

KINDS = ("spiking", "dense", "connection")


@dataclass(frozen=True, eq=False)
class LayerActivity:
    """Activity of one layer during one recorded forward pass.

    kind "spiking": ``spikes`` (and ``membrane``) of a spiking neuron layer;
    kind "dense": ``activations`` (post-nonlinearity) of a dense layer;
    kind "connection": ``inputs`` of a weight layer (Linear / Conv) and ``count_ops``, a linear map
    from an input-shaped tensor ``a`` of shape (T, B, *in) to sum_i a_i * fan_out_i, the number of
    synaptic operations (accumulates / MACs) that activity ``a`` triggers, exact incl. conv borders.
    A layer that is both (``nn.GRU``: dense output, weighted input) has kind "dense" and also
    ``inputs`` / ``count_ops``; connection terms use :attr:`is_connection`, not the kind.
    """

    name: str
    kind: str
    spikes: Tensor | None = None
    membrane: Tensor | None = None
    activations: Tensor | None = None
    inputs: Tensor | None = None
    module: nn.Module | None = None
    count_ops: Callable[[Tensor], Tensor] | None = None
    fan_out: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"LayerActivity kind={self.kind!r}; use one of {', '.join(KINDS)}")

    @property
    def is_connection(self) -> bool:
        """True when this layer has recorded inputs and a synaptic-operation counter."""
        return self.inputs is not None and self.count_ops is not None

    @property
    def units(self) -> int:
        """Neurons/units per sample per step (spiking: spike tensor; dense: activation tensor)."""
        t = self.spikes if self.kind == "spiking" else self.activations
        if t is None:
            raise ValueError(f"layer {self.name!r} recorded no spikes/activations")
        return t[0, 0].numel()


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
        """Layers with recorded inputs and a synaptic-operation counter (Linear, Conv, GRU)."""
        return [a for a in self._layers.values() if a.is_connection]
