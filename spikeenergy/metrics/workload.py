"""Workload metrics over recorded activity, per layer and in total, NeuroBench definitions.

All accumulate Python-float sums per layer in ``update`` and divide once in ``compute``;
counts are reported per sample (divided by the number of samples seen).
"""

from __future__ import annotations

from collections import defaultdict
from typing import ClassVar

import torch

from spikeenergy.energy import kernels as K
from spikeenergy.metrics.base import (
    TOTAL,
    Column,
    LayerTable,
    Metric,
    NotApplicableError,
    batch_size,
    require_updates,
)
from spikeenergy.metrics.counting import check_policy, split_ops
from spikeenergy.record import ActivityRecord, LayerActivity


def _activity(a: LayerActivity) -> torch.Tensor | None:
    """Output activity of a neuron layer: spikes (spiking) or post-nonlinearity activations."""
    if a.kind == "spiking":
        return a.spikes
    if a.kind == "dense":
        return a.activations
    return None


class _SumMetric(Metric):
    """Per-layer dictionaries of running sums plus the number of samples seen."""

    def reset(self) -> None:
        self._sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self._samples = 0

    def __getstate__(self) -> dict[str, object]:
        # defaultdict with lambdas does not pickle: store plain dicts
        state = dict(self.__dict__)
        state["_sums"] = {k: dict(v) for k, v in self._sums.items()}
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        sums = state.pop("_sums")
        self.__dict__.update(state)
        self._sums = defaultdict(lambda: defaultdict(float))
        assert isinstance(sums, dict)
        for k, v in sums.items():
            self._sums[k].update(v)

    def _add(self, layer: str, key: str, value: float) -> None:
        self._sums[layer][key] += value


class ActivationSparsity(_SumMetric):
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

    def update(self, record: ActivityRecord) -> None:
        """Count zero and all outputs of every neuron layer of the batch."""
        self._samples += batch_size(record)
        for name, a in record.items():
            t = _activity(a)
            if t is None:
                continue
            self._add(name, "nonzero", float(torch.count_nonzero(t.detach())))
            self._add(name, "numel", float(t.numel()))

    def compute(self) -> LayerTable:
        """Per-layer and pooled sparsity."""
        require_updates(self, self._samples)
        out: LayerTable = {}
        nz = n = 0.0
        for name, s in self._sums.items():
            out[name] = {"activation_sparsity": 1.0 - s["nonzero"] / s["numel"]}
            nz, n = nz + s["nonzero"], n + s["numel"]
        if n == 0:
            raise NotApplicableError(
                "ActivationSparsity: the model has no spiking or dense neuron layers"
            )
        out[TOTAL] = {"activation_sparsity": 1.0 - nz / n}
        return out


class SpikeRate(_SumMetric):
    """Spikes per neuron per step and spikes per sample of spiking layers (and pooled)."""

    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "spike_rate",
            "spikes/(neuron*step)",
            False,
            "mean spike count per neuron per time step (pooled over layers for the total)",
        ),
        Column("spikes_per_sample", "spikes/sample", False, "spikes per sample, summed over time"),
    )
    needs: ClassVar[frozenset[str]] = frozenset({"spikes"})

    def update(self, record: ActivityRecord) -> None:
        """Add the spike count and the neuron-step count of every spiking layer."""
        b = batch_size(record)
        self._samples += b
        for name, a in record.items():
            if a.kind != "spiking" or a.spikes is None:
                continue
            s = a.spikes.detach().to(torch.float64)
            self._add(name, "spikes", float(K.spikes_per_sample([s])) * b)
            self._add(name, "numel", float(s.numel()))

    def compute(self) -> LayerTable:
        """Per-layer and pooled rates; spikes per sample."""
        require_updates(self, self._samples)
        if not self._sums:
            raise NotApplicableError(
                "SpikeRate: the model has no spiking layers (it is a dense model)"
            )
        out: LayerTable = {}
        spikes = numel = 0.0
        for name, s in self._sums.items():
            out[name] = {
                "spike_rate": s["spikes"] / s["numel"],
                "spikes_per_sample": s["spikes"] / self._samples,
            }
            spikes, numel = spikes + s["spikes"], numel + s["numel"]
        out[TOTAL] = {"spike_rate": spikes / numel, "spikes_per_sample": spikes / self._samples}
        return out


class SynapticOperations(_SumMetric):
    """Synaptic operations per sample of every weight layer, split as NeuroBench does.

    ``effective_acs`` / ``effective_macs`` (NeuroBench ``Effective_ACs`` / ``Effective_MACs``),
    ``dense_ops`` (NeuroBench ``Dense``) split into ``dense_acs`` / ``dense_macs`` by the same
    AC/MAC rule, and ``synops`` (|input| x fan-out, the training term's value). ``policy``
    chooses how event-count inputs (values > 1) are charged; see
    :data:`spikeenergy.metrics.counting.POLICIES`.
    """

    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "effective_acs",
            "ACs/sample",
            False,
            "accumulates with non-zero input and weight, in calls with inputs in {-1,0,1}",
        ),
        Column(
            "effective_macs",
            "MACs/sample",
            False,
            "multiply-accumulates with non-zero input and weight, in calls with graded input",
        ),
        Column("dense_acs", "ops/sample", False, "all synapses of AC calls (zeros included)"),
        Column("dense_macs", "ops/sample", False, "all synapses of MAC calls (zeros included)"),
        Column("dense_ops", "ops/sample", False, "all synapses of all calls (NeuroBench Dense)"),
        Column("synops", "ops/sample", False, "|input| x fan-out (the SynapticOps energy term)"),
    )
    needs: ClassVar[frozenset[str]] = frozenset({"inputs"})
    _KEYS = ("effective_acs", "effective_macs", "dense_acs", "dense_macs", "dense_ops", "synops")

    def __init__(self, policy: str = "neurobench") -> None:
        self.policy = check_policy(policy)
        super().__init__()

    def __repr__(self) -> str:
        return f"SynapticOperations(policy={self.policy!r})"

    def update(self, record: ActivityRecord) -> None:
        """Count the ops of every connection layer of the batch."""
        self._samples += batch_size(record)
        for a in record.connections():
            for k, v in split_ops(a, self.policy).items():
                self._add(a.name, k, v)

    def compute(self) -> LayerTable:
        """Per-layer and total ops per sample."""
        require_updates(self, self._samples)
        if not self._sums:
            raise NotApplicableError(
                "SynapticOperations: no connection layers (Linear/Conv/GRU) recorded"
            )
        out: LayerTable = {}
        total = dict.fromkeys(self._KEYS, 0.0)
        for name, s in self._sums.items():
            out[name] = {k: s[k] / self._samples for k in self._KEYS}
            for k in self._KEYS:
                total[k] += s[k]
        out[TOTAL] = {k: v / self._samples for k, v in total.items()}
        return out


class MembraneUpdates(_SumMetric):
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

    def update(self, record: ActivityRecord) -> None:
        """Count membrane changes of every spiking layer of the batch."""
        self._samples += batch_size(record)
        for name, a in record.items():
            if a.kind != "spiking" or a.membrane is None:
                continue
            v = a.membrane.detach()  # (T, B, ...)
            n = float(v[0].numel()) + float(torch.count_nonzero(v[1:] - v[:-1]))
            self._add(name, "updates", n)

    def compute(self) -> LayerTable:
        """Per-layer and total membrane updates per sample."""
        require_updates(self, self._samples)
        if not self._sums:
            raise NotApplicableError(
                "MembraneUpdates: the model has no spiking layers (dense model)"
            )
        out: LayerTable = {
            n: {"membrane_updates": s["updates"] / self._samples} for n, s in self._sums.items()
        }
        out[TOTAL] = {
            "membrane_updates": sum(s["updates"] for s in self._sums.values()) / self._samples
        }
        return out


class NeuronUpdates(_SumMetric):
    """Neurons per layer and neuron (unit) updates per sample: every unit on every step it ran.

    This is what clocked neuromorphic chips (Loihi, SpiNNaker) charge per time step, and what a
    CPU/GPU computes for dense units; it counts spiking neurons and dense nonlinearity units.
    """

    columns: ClassVar[tuple[Column, ...]] = (
        Column("neurons", "neurons", None, "neurons (units) per time step"),
        Column("neuron_updates", "updates/sample", False, "neurons x steps the layer ran"),
    )
    needs: ClassVar[frozenset[str]] = frozenset({"spikes", "activations"})

    def update(self, record: ActivityRecord) -> None:
        """Add the neuron-step count of every neuron layer of the batch."""
        self._samples += batch_size(record)
        for name, a in record.items():
            t = _activity(a)
            if t is None:
                continue
            self._sums[name]["neurons"] = float(t[0, 0].numel())
            self._add(name, "numel", float(t.numel()))

    def compute(self) -> LayerTable:
        """Per-layer and total neurons and updates per sample."""
        require_updates(self, self._samples)
        if not self._sums:
            raise NotApplicableError(
                "NeuronUpdates: the model has no spiking or dense neuron layers"
            )
        out: LayerTable = {
            n: {"neurons": s["neurons"], "neuron_updates": s["numel"] / self._samples}
            for n, s in self._sums.items()
        }
        out[TOTAL] = {
            "neurons": sum(s["neurons"] for s in self._sums.values()),
            "neuron_updates": sum(s["numel"] for s in self._sums.values()) / self._samples,
        }
        return out
