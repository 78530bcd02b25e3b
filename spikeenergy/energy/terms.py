"""Energy terms: frozen dataclasses over the pure kernels, ``term(record) -> scalar tensor``.

Terms are differentiable (use a recorder with ``keep_graph=True``) and compose:
``0.5 * SpikeRate() + MembraneEnergy(p=2)`` is a :class:`WeightedSum`. Formulas, units and the
normalization are documented in docs/energy.md. A term that finds none of the layers it needs in
the record raises a ValueError naming the fix; it never returns 0 for "nothing recorded".
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from spikeenergy.energy import kernels as K
from spikeenergy.record.activity import ActivityRecord, LayerActivity
from spikeenergy.registry import Registry


def _select(
    record: ActivityRecord,
    layers: tuple[str, ...] | None,
    keep: Callable[[LayerActivity], bool],
    term: str,
    hint: str,
) -> list[LayerActivity]:
    """Layers of ``record`` passing ``keep`` (and named in ``layers`` if given); raise if none."""
    if layers is not None:
        missing = [n for n in layers if n not in record]
        if missing:
            raise ValueError(
                f"{term}: layers {missing} not in the record; recorded: {list(record)}"
            )
    chosen = [a for a in record.values() if keep(a) and (layers is None or a.name in layers)]
    if not chosen:
        raise ValueError(f"{term}: the record has no {hint}; recorded: {record!r}")
    return chosen


def _field(
    record: ActivityRecord, layers: tuple[str, ...] | None, field: str, term: str
) -> list[Tensor]:
    """The ``field`` tensors (spikes, membrane, ...) of the selected layers that recorded it."""
    kind = "dense" if field == "activations" else "spiking"
    hint = f"{kind} layers with {field} ({kind} model, needs {field!r})"
    sel = _select(record, layers, lambda a: getattr(a, field) is not None, term, hint)
    return [getattr(a, field) for a in sel]


def _check_p(p: float, term: str) -> None:
    if p not in (1, 2):
        raise ValueError(f"{term}: p={p} is not supported; use p=1 (absolute) or p=2 (squared)")


def _check_pj(pj: float | None, term: str) -> None:
    if pj is not None and not (math.isfinite(pj) and pj > 0):
        raise ValueError(f"{term}: energy per op {pj} must be a positive number of pJ (or None)")


class EnergyTerm(abc.ABC):
    """A differentiable scalar energy of recorded activity; terms add and scale."""

    @property
    @abc.abstractmethod
    def needs(self) -> frozenset[str]:
        """Recorder fields this term reads (pass to ``ActivityRecorder(needs=...)``)."""

    @abc.abstractmethod
    def __call__(self, record: ActivityRecord) -> Tensor:
        """Scalar energy of ``record``."""

    def __add__(self, other: EnergyTerm) -> WeightedSum:
        if not isinstance(other, EnergyTerm):
            return NotImplemented
        return WeightedSum(_parts(self) + _parts(other))

    def __mul__(self, weight: float) -> WeightedSum:
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            return NotImplemented
        if not math.isfinite(weight):
            raise ValueError(f"energy term weight {weight} must be finite")
        return WeightedSum(tuple((w * float(weight), t) for w, t in _parts(self)))

    __rmul__ = __mul__


def _parts(term: EnergyTerm) -> tuple[tuple[float, EnergyTerm], ...]:
    return term.terms if isinstance(term, WeightedSum) else ((1.0, term),)


@dataclass(frozen=True)
class WeightedSum(EnergyTerm):
    """sum_k w_k * term_k(record) (build with ``+`` and scalar ``*``)."""

    terms: tuple[tuple[float, EnergyTerm], ...]

    def __post_init__(self) -> None:
        if not self.terms:
            raise ValueError("WeightedSum needs at least one (weight, term) pair")

    @property
    def needs(self) -> frozenset[str]:
        return frozenset().union(*(t.needs for _, t in self.terms))

    def __call__(self, record: ActivityRecord) -> Tensor:
        out = [w * t(record) for w, t in self.terms]
        total = out[0]
        for v in out[1:]:
            total = total + v
        return total


@dataclass(frozen=True)
class SpikeRate(EnergyTerm):
    """Spikes per neuron per time step per sample over spiking layers [spikes/(neuron*step)]."""

    layers: tuple[str, ...] | None = None

    @property
    def needs(self) -> frozenset[str]:
        return frozenset({"spikes"})

    def __call__(self, record: ActivityRecord) -> Tensor:
        tensors = _field(record, self.layers, "spikes", "SpikeRate")
        return K.spike_rate(tensors)


@dataclass(frozen=True)
class SpikeCount(EnergyTerm):
    """Total spikes per sample over spiking layers and time [spikes/sample] (not normalized)."""

    layers: tuple[str, ...] | None = None

    @property
    def needs(self) -> frozenset[str]:
        return frozenset({"spikes"})

    def __call__(self, record: ActivityRecord) -> Tensor:
        tensors = _field(record, self.layers, "spikes", "SpikeCount")
        return K.spikes_per_sample(tensors)


@dataclass(frozen=True)
class MembraneEnergy(EnergyTerm):
    """Mean |membrane|^p per neuron per step per sample over spiking layers [threshold units^p]."""

    p: int = 2
    layers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_p(self.p, "MembraneEnergy")

    @property
    def needs(self) -> frozenset[str]:
        return frozenset({"membrane"})

    def __call__(self, record: ActivityRecord) -> Tensor:
        tensors = _field(record, self.layers, "membrane", "MembraneEnergy")
        return K.mean_abs_power(tensors, self.p)


@dataclass(frozen=True)
class ActivationEnergy(EnergyTerm):
    """Mean |activation|^p per unit per step per sample over dense layers (post-nonlinearity)."""

    p: int = 1
    layers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_p(self.p, "ActivationEnergy")

    @property
    def needs(self) -> frozenset[str]:
        return frozenset({"activations"})

    def __call__(self, record: ActivityRecord) -> Tensor:
        tensors = _field(record, self.layers, "activations", "ActivationEnergy")
        return K.mean_abs_power(tensors, self.p)


@dataclass(frozen=True)
class ActivityEnergy(EnergyTerm):
    """THE fair default: mean |activity|^p per unit per step per sample, spiking and dense alike.

    Activity is the spikes of spiking layers and the post-nonlinearity activations of dense
    layers, pooled over all such layers, so one lambda puts the same pressure on both model kinds.
    For 0/1 spikes and p=1 this equals :class:`SpikeRate`.
    """

    p: int = 1
    layers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_p(self.p, "ActivityEnergy")

    @property
    def needs(self) -> frozenset[str]:
        return frozenset({"spikes", "activations"})

    def __call__(self, record: ActivityRecord) -> Tensor:
        def act(a: LayerActivity) -> Tensor | None:
            return a.spikes if a.kind == "spiking" else a.activations

        sel = _select(
            record,
            self.layers,
            lambda a: act(a) is not None,
            "ActivityEnergy",
            "spiking or dense layers (needs 'spikes' and 'activations')",
        )
        return K.mean_abs_power([t for a in sel if (t := act(a)) is not None], self.p)


@dataclass(frozen=True)
class _OpsTerm(EnergyTerm):
    pj_per_op: float | None = None
    normalize: bool = False
    layers: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        _check_pj(self.pj_per_op, type(self).__name__)
        if self.normalize and self.pj_per_op is not None:
            raise ValueError(
                f"{type(self).__name__}: normalize=True gives a dimensionless fraction of the "
                "dense op count; do not combine it with pj_per_op (choose one)"
            )

    @property
    def needs(self) -> frozenset[str]:
        return frozenset({"inputs"})

    def _ops(self, inputs: Tensor, count: K.OpCounter) -> Tensor:
        raise NotImplementedError

    def __call__(self, record: ActivityRecord) -> Tensor:
        sel = _select(
            record,
            self.layers,
            lambda a: a.is_connection,
            type(self).__name__,
            "connection layers (Linear/Conv/GRU with inputs, needs 'inputs')",
        )
        ops, cap = [], []
        for a in sel:
            assert a.inputs is not None and a.count_ops is not None
            ops.append(self._ops(a.inputs, a.count_ops) / a.inputs.shape[1])  # per sample
            if self.normalize:
                cap.append(K.dense_ops(a.inputs, a.count_ops) / a.inputs.shape[1])
        total = ops[0]
        for v in ops[1:]:
            total = total + v
        if self.normalize:
            return total / torch.stack(cap).sum()
        return total * self.pj_per_op if self.pj_per_op is not None else total


@dataclass(frozen=True)
class SynapticOps(_OpsTerm):
    """Synaptic operations per sample: sum over connections and time of |presynaptic| x fan-out.

    [ops/sample]; x ``pj_per_op`` -> [pJ/sample]; ``normalize=True`` -> fraction of the dense op
    count (ops / ops-if-every-input-were-1), dimensionless in [0, 1] for 0/1 spikes.
    """

    def _ops(self, inputs: Tensor, count: K.OpCounter) -> Tensor:
        return K.synaptic_ops(inputs, count)


@dataclass(frozen=True)
class MACEnergy(_OpsTerm):
    """Multiply-accumulates of non-zero inputs per sample: sum [a != 0] x fan-out [MACs/sample].

    The value is the exact count; the gradient is that of |a| x fan-out (straight-through).
    ``pj_per_op`` (pJ per MAC) and ``normalize`` as in :class:`SynapticOps`.
    """

    def _ops(self, inputs: Tensor, count: K.OpCounter) -> Tensor:
        return K.nonzero_ops(inputs, count)


#: name -> term class; ``ENERGY_TERMS.get("synops")(pj_per_op=0.9)``.
ENERGY_TERMS: Registry[Callable[..., EnergyTerm]] = Registry("energy term")
ENERGY_TERMS.add("spike-rate", SpikeRate)
ENERGY_TERMS.add("spike-count", SpikeCount)
ENERGY_TERMS.add("membrane", MembraneEnergy)
ENERGY_TERMS.add("synops", SynapticOps)
ENERGY_TERMS.add("activation", ActivationEnergy)
ENERGY_TERMS.add("mac", MACEnergy)
ENERGY_TERMS.add("activity", ActivityEnergy)
