"""Energy terms: frozen dataclasses over pure kernels, ``term(record) -> scalar tensor``.

:class:`Joules` is THE energy term: the ledger's energy per inference on a target, in pJ. The
others are proxies or parts of it (spike rate, spike count, membrane, activity, synaptic events),
kept as options and named as what they are. Terms are differentiable (use a recorder with
``keep_graph=True``) and compose: ``0.5 * SpikeRate() + MembraneEnergy(p=2)`` is a
:class:`WeightedSum`. Formulas, units and the normalization are documented in docs/energy.md. A
term that finds none of the layers it needs in the record raises a ValueError naming the fix; it
never returns 0 for "nothing recorded".
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from spikeenergy.energy import kernels as K
from spikeenergy.energy import ledger
from spikeenergy.energy.cost_models import (
    DEFAULT_POLICY,
    DEFAULT_TARGET,
    CostModel,
    check_policy,
    get_cost_model,
)
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
    """A PROXY, not energy: mean |activity|^p per unit per step per sample over neuron layers.

    Activity is the spikes of spiking layers and the post-nonlinearity activations of dense
    layers, pooled over all such layers. For 0/1 spikes and p=1 this equals :class:`SpikeRate`;
    for dense layers it is unbounded and scale-dependent and tied to no operation, so values of
    spiking and dense nets are not comparable: use :class:`Joules` for energy.
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


_SYNAPTIC_NEEDS = frozenset({"inputs"})
_LEDGER_NEEDS = frozenset({"inputs", "spikes", "activations"})


def _ledger_counts(
    record: ActivityRecord,
    layers: tuple[str, ...] | None,
    policy: str,
    weight_grad: bool,
    term: str,
) -> dict[str, Tensor]:
    """Differentiable per-inference ledger counts of ``record`` (summed over layers)."""
    try:
        counts = ledger.count_record(
            record,
            policy,
            layers=layers,
            differentiable=True,
            weight_grad=weight_grad,
            dtype=None,
        )
    except ValueError as exc:
        raise ValueError(f"{term}: {exc}") from None
    return ledger.per_inference(counts, record.batch_size)


@dataclass(frozen=True)
class SynapticOps(EnergyTerm):
    """Effective synaptic events per inference: ledger ``acs + graded_events`` [events/sample].

    Spikes x existing fan-out, plus |graded input| x existing fan-out (an event count k is k
    events). An operation count, not energy: use :class:`Joules` for energy on a target.
    """

    layers: tuple[str, ...] | None = None
    policy: str = DEFAULT_POLICY
    weight_grad: bool = False

    def __post_init__(self) -> None:
        check_policy(self.policy)

    @property
    def needs(self) -> frozenset[str]:
        return _SYNAPTIC_NEEDS

    def __call__(self, record: ActivityRecord) -> Tensor:
        c = _ledger_counts(record, self.layers, self.policy, self.weight_grad, "SynapticOps")
        if "acs" not in c:
            raise ValueError(
                "SynapticOps: the record has no connection layers (Linear/Conv/GRU with inputs, "
                f"needs 'inputs'); recorded: {record!r}"
            )
        return c["acs"] + c["graded_events"]


@dataclass(frozen=True)
class Joules(EnergyTerm):
    """THE energy term: expected energy per inference on a target, in pJ [pJ/inference].

    Its value is exactly the ledger's ``energy_pj`` for the recorded batch on ``target``
    (:meth:`CostModel.price` of :func:`spikeenergy.energy.ledger.count_record`), so
    L = L_task + lam * Joules has lam in 1/pJ and the same lam means the same thing for spiking
    and dense nets. Differentiable through spikes and activations (straight-through for graded
    values) and, with ``weight_grad=True`` (default), through the existence of synapses: the
    handle that lets training remove input-layer synapses (make the zeros real with pruning:
    ``TrainConfig.prune_below``). On a dense (clocked) target the energy does not depend on
    activity and the term has no gradient: train on an event-driven target.
    ``target``: a :class:`CostModel` or a built-in name.
    """

    target: CostModel | str = DEFAULT_TARGET
    layers: tuple[str, ...] | None = None
    policy: str = DEFAULT_POLICY
    weight_grad: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.target, str):
            object.__setattr__(self, "target", get_cost_model(self.target))
        if not isinstance(self.target, CostModel):
            raise TypeError(
                f"Joules: target must be a CostModel or a built-in name, got "
                f"{type(self.target).__name__}"
            )
        check_policy(self.policy)

    def __repr__(self) -> str:
        return (
            f"Joules(target={self.cost_model.name!r}, layers={self.layers!r}, "
            f"policy={self.policy!r}, weight_grad={self.weight_grad!r})"
        )

    @property
    def cost_model(self) -> CostModel:
        """The resolved target."""
        assert isinstance(self.target, CostModel)
        return self.target

    @property
    def needs(self) -> frozenset[str]:
        return _LEDGER_NEEDS

    def __call__(self, record: ActivityRecord) -> Tensor:
        c = _ledger_counts(record, self.layers, self.policy, self.weight_grad, "Joules")
        pj = self.cost_model.price(c)["energy_pj"]
        if not isinstance(pj, Tensor):  # no count applies: a constant 0 cannot happen silently
            raise ValueError(f"Joules: nothing of the record is charged on {self.target}")
        return pj


#: name -> term class; ``ENERGY_TERMS.get("joules")(target="loihi")``.
ENERGY_TERMS: Registry[Callable[..., EnergyTerm]] = Registry("energy term")
ENERGY_TERMS.add("spike-rate", SpikeRate)
ENERGY_TERMS.add("spike-count", SpikeCount)
ENERGY_TERMS.add("membrane", MembraneEnergy)
ENERGY_TERMS.add("synops", SynapticOps)
ENERGY_TERMS.add("activation", ActivationEnergy)
ENERGY_TERMS.add("activity", ActivityEnergy)
ENERGY_TERMS.add("joules", Joules)
