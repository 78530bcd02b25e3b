"""Workload metrics over recorded activity, per layer and in total, NeuroBench definitions.

The counting metrics are views of the energy ledger (:mod:`spikeenergy.energy.ledger`), the one
place that counts operations: each accumulates an :class:`~spikeenergy.energy.EnergyLedger` in
``update`` and reads its per-inference counts in ``compute``. Membrane updates (NeuroBench's
``MembraneUpdates``, a change count that no target prices) are counted here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import ClassVar

import torch

from spikeenergy.energy.cost_models import DEFAULT_POLICY, check_policy
from spikeenergy.energy.ledger import EnergyLedger
from spikeenergy.metrics.base import (
    TOTAL,
    Column,
    LayerTable,
    Metric,
    NotApplicableError,
    require_updates,
)
from spikeenergy.record import ActivityRecord


class LedgerMetric(Metric):
    """A metric whose numbers are read off an energy ledger."""

    def __init__(self, policy: str = DEFAULT_POLICY) -> None:
        self.policy = check_policy(policy)
        super().__init__()

    def reset(self) -> None:
        self._ledger = EnergyLedger(self.policy)

    def update(self, record: ActivityRecord) -> None:
        """Add one batch of recorded activity to the ledger."""
        self._ledger.update(record)

    def compute(self) -> LayerTable:
        """Per-layer and total values of everything accumulated since :meth:`reset`."""
        require_updates(self, self._ledger.samples)
        return self.table(self._ledger)

    @classmethod
    def table(cls, ledger: EnergyLedger) -> LayerTable:
        """This metric's table read off ``ledger`` (shared by :class:`EnergyMeter`)."""
        raise NotImplementedError

    @classmethod
    def _layers(cls, ledger: EnergyLedger, keep: str) -> list[str]:
        def applies(name: str) -> bool:
            info = ledger.info(name)
            if keep == "connection":
                return info.connection
            if keep == "neuron":
                return info.kind in ("spiking", "dense")
            return info.kind == keep

        names = [n for n in ledger.layers if applies(n)]
        if not names:
            raise NotApplicableError(f"{cls.__name__}: the model has no {keep} layers")
        return names


class ActivationSparsity(LedgerMetric):
    """Fraction of zero outputs of neuron layers (spikes / activations), NeuroBench's definition.

    Total = 1 - (non-zero outputs of all layers) / (all outputs of all layers), pooled over
    layers, steps and samples, exactly NeuroBench's ``ActivationSparsity``.
    """

    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "activation_sparsity",
            "fraction",
            True,
            "zero outputs / all outputs of spiking and dense (nonlinearity) layers",
        ),
    )
    needs: ClassVar[frozenset[str]] = frozenset({"spikes", "activations"})

    @classmethod
    def table(cls, ledger: EnergyLedger) -> LayerTable:
        """Per-layer and pooled sparsity."""
        names = cls._layers(ledger, "neuron")
        c = ledger.counts()
        out: LayerTable = {
            n: {"activation_sparsity": 1.0 - c[n]["active_updates"] / c[n]["neuron_updates"]}
            for n in names
        }
        out[TOTAL] = {"activation_sparsity": ledger.rates()["activation_sparsity"]}
        return out


class SpikeRateMetric(LedgerMetric):
    """Spikes per neuron per step and spikes per sample of spiking layers (and pooled)."""

    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "spike_rate",
            "spikes/(neuron*step)",
            False,
            "spikes / neuron updates of spiking layers (pooled over neurons for the total); a "
            "proxy of activity, not energy",
        ),
        Column("spikes_per_sample", "spikes/sample", False, "spikes per sample, summed over time"),
    )
    needs: ClassVar[frozenset[str]] = frozenset({"spikes"})

    @classmethod
    def table(cls, ledger: EnergyLedger) -> LayerTable:
        """Per-layer and pooled rates; spikes per sample."""
        names = cls._layers(ledger, "spiking")
        c = ledger.counts()
        out: LayerTable = {
            n: {
                "spike_rate": c[n]["spikes"] / c[n]["neuron_updates"],
                "spikes_per_sample": c[n]["spikes"],
            }
            for n in names
        }
        spikes = sum(c[n]["spikes"] for n in names)
        updates = sum(c[n]["neuron_updates"] for n in names)
        out[TOTAL] = {"spike_rate": spikes / updates, "spikes_per_sample": spikes}
        return out


class SynapticOperations(LedgerMetric):
    """Synaptic operations per sample of every weight layer, as NeuroBench counts them.

    ``effective_acs`` / ``effective_macs`` (NeuroBench ``Effective_ACs`` / ``Effective_MACs``),
    ``dense_ops`` (NeuroBench ``Dense``) and ``graded_events`` (|graded input| x existing fan-out:
    what a binary-spike chip receives). ``policy`` decides how a call is split into binary and
    graded inputs: see :data:`spikeenergy.energy.cost_models.POLICIES` ("neurobench" for
    NeuroBench's exact per-call rule).
    """

    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "effective_acs",
            "ACs/sample",
            False,
            "accumulates: binary inputs with non-zero input and weight",
        ),
        Column(
            "effective_macs",
            "MACs/sample",
            False,
            "multiply-accumulates: graded inputs with non-zero input and weight",
        ),
        Column(
            "graded_events",
            "events/sample",
            False,
            "|graded input| x existing fan-out (binary spikes to deliver an event count)",
        ),
        Column("dense_ops", "ops/sample", False, "all synapses of all calls (NeuroBench Dense)"),
    )
    needs: ClassVar[frozenset[str]] = frozenset({"inputs"})
    _MAP = (
        ("effective_acs", "acs"),
        ("effective_macs", "macs"),
        ("graded_events", "graded_events"),
        ("dense_ops", "dense_ops"),
    )

    def __repr__(self) -> str:
        return f"SynapticOperations(policy={self.policy!r})"

    @classmethod
    def table(cls, ledger: EnergyLedger) -> LayerTable:
        """Per-layer and total ops per sample."""
        names = cls._layers(ledger, "connection")
        c = ledger.counts()
        out: LayerTable = {n: {col: c[n][k] for col, k in cls._MAP} for n in names}
        out[TOTAL] = {col: sum(c[n][k] for n in names) for col, k in cls._MAP}
        return out


class NeuronUpdates(LedgerMetric):
    """Neurons per layer and neuron (unit) updates per sample: every unit on every step it ran.

    This is what clocked neuromorphic chips (Loihi, SpiNNaker) charge per time step, and what a
    CPU/GPU computes for dense units; it counts spiking neurons and dense nonlinearity units.
    ``active_updates`` are the updates whose neuron fired (non-zero output).
    """

    columns: ClassVar[tuple[Column, ...]] = (
        Column("neuron_updates", "updates/sample", False, "neurons x steps the layer ran"),
        Column("active_updates", "updates/sample", False, "updates with a non-zero output"),
        Column("state_words", "words/sample", False, "updates x state words per neuron"),
    )
    needs: ClassVar[frozenset[str]] = frozenset({"spikes", "activations"})

    @classmethod
    def table(cls, ledger: EnergyLedger) -> LayerTable:
        """Per-layer and total updates per sample."""
        names = cls._layers(ledger, "neuron")
        c = ledger.counts()
        keys = ("neuron_updates", "active_updates", "state_words")
        out: LayerTable = {n: {k: c[n][k] for k in keys} for n in names}
        out[TOTAL] = {k: sum(c[n][k] for n in names) for k in keys}
        return out


class MembraneUpdates(Metric):
    """Membrane potential updates per sample of spiking layers, NeuroBench's definition.

    Per layer and sample: every neuron at the first step, then every neuron whose membrane
    differs from its value at the previous step. Norse cells report the post-reset membrane,
    snnTorch neurons the pre-reset one; the definition is applied to what the library reports.
    """

    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "membrane_updates",
            "updates/sample",
            False,
            "neurons at step 0 plus neurons whose membrane changed from the previous step",
        ),
    )
    needs: ClassVar[frozenset[str]] = frozenset({"membrane"})

    def reset(self) -> None:
        self._sums: dict[str, float] = defaultdict(float)
        self._samples = 0

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_sums"] = dict(self._sums)
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        sums = state.pop("_sums")
        self.__dict__.update(state)
        assert isinstance(sums, dict)
        self._sums = defaultdict(float, sums)

    def update(self, record: ActivityRecord) -> None:
        """Count membrane changes of every spiking layer of the batch."""
        self._samples += record.batch_size
        for name, a in record.items():
            if a.kind != "spiking" or a.membrane is None:
                continue
            v = a.membrane.detach()  # (T, B, ...)
            n = float(v[0].numel()) + float(torch.count_nonzero(v[1:] - v[:-1]))
            self._sums[name] += n

    def compute(self) -> LayerTable:
        """Per-layer and total membrane updates per sample."""
        require_updates(self, self._samples)
        if not self._sums:
            raise NotApplicableError(
                "MembraneUpdates: the model has no spiking layers (dense model)"
            )
        out: LayerTable = {
            n: {"membrane_updates": s / self._samples} for n, s in self._sums.items()
        }
        out[TOTAL] = {"membrane_updates": sum(self._sums.values()) / self._samples}
        return out
