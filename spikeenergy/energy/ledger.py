"""THE energy ledger: the one place that counts operations and memory traffic of a recorded pass.

Everything in spikeenergy that says "energy" reads these counts: the training term
(:class:`~spikeenergy.energy.terms.Joules`), the training logs and benchmark records
(:class:`EnergyLedger`), the metrics and exports (:mod:`spikeenergy.metrics`), the architecture
search and the one-pass benchmark. Counts are priced on a target by
:meth:`spikeenergy.energy.cost_models.CostModel.price`, which is plain arithmetic and therefore
works on Python floats (reports) and on tensors (the differentiable training term) alike.

Counts per layer, summed over the (T, B) entries of one recorded pass (divide by B for per
inference); see :data:`COUNTS` for units and definitions:

- synaptic (connection layers, per synapse group): ``acs`` (binary inputs: non-zero input and
  non-zero weight, NeuroBench ``Effective_ACs``), ``macs`` (graded inputs: non-zero input and
  weight, NeuroBench ``Effective_MACs``), ``graded_events`` (sum of |input| x non-zero fan-out over
  graded inputs: the binary spikes a spike-only chip must receive to deliver an event count) and
  ``dense_ops`` (every synapse on every call, NeuroBench ``Dense``);
- neuron (spiking and dense neuron layers): ``neuron_updates`` (units x steps), ``active_updates``
  (updates with a non-zero output), ``spikes`` (output spikes of spiking layers) and
  ``state_words`` (updates x state words per neuron, for memory traffic).

Differentiable counts (``differentiable=True``): the value is always the exact count; the gradient
flows through spikes (0/1, so |s| is the count itself), through graded activity by a
straight-through |a| (the count [a != 0] is piecewise constant), and, with ``weight_grad=True``,
to the weights through a straight-through |w| / mean|w| (the count [w != 0] has no gradient):
the handle that lets training prune synapses, including those of the input layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from spikeenergy.energy.cost_models import DEFAULT_POLICY, PJ, CostModel, check_policy, in_joules
from spikeenergy.record.activity import ActivityRecord, LayerActivity, Synapses

#: count name -> (unit per inference, definition). Order is the column order of reports.
COUNTS: dict[str, tuple[str, str]] = {
    "acs": (
        "ACs",
        "accumulates: binary (0/+-1) inputs with non-zero input and weight (NeuroBench "
        "Effective_ACs)",
    ),
    "macs": (
        "MACs",
        "multiply-accumulates: graded inputs with non-zero input and weight (NeuroBench "
        "Effective_MACs)",
    ),
    "graded_events": (
        "events",
        "sum of |input| x non-zero fan-out over graded inputs: the binary spikes a spike-only "
        "chip receives to deliver an event count",
    ),
    "dense_ops": ("ops", "every synapse on every call, zeros included (NeuroBench Dense)"),
    "neuron_updates": ("updates", "neuron (unit) updates: units x steps the layer ran"),
    "active_updates": ("updates", "neuron updates with a non-zero output (spike or activation)"),
    "spikes": ("spikes", "output spikes of spiking layers"),
    "state_words": ("words", "neuron updates x state words per neuron (membrane, current)"),
}
SYNAPTIC_COUNTS = ("acs", "macs", "graded_events", "dense_ops")
NEURON_COUNTS = ("neuron_updates", "active_updates", "spikes", "state_words")


def ac_mask(inputs: Tensor, policy: str, call_steps: Sequence[int] | None = None) -> Tensor:
    """Boolean mask, broadcastable to ``inputs`` (T, B, ...), of the entries counted as ACs.

    ``call_steps``: time steps each recorded call covered (None: one per call); the
    "neurobench" policy decides per call, so a layer run once on a whole sequence is binary only
    if every step of it is.
    """
    check_policy(policy)
    ok = (inputs == 0) | (inputs == 1) | (inputs == -1)
    t, b = inputs.shape[0], inputs.shape[1]
    tail = (1,) * (inputs.dim() - 2)
    if policy == "neurobench":
        per_step = ok.reshape(t, -1).all(1)  # (T,)
        if call_steps is not None:
            per_call = torch.stack([c.all() for c in per_step.split(list(call_steps))])
            steps = torch.as_tensor(list(call_steps), device=per_step.device)
            per_step = per_call.repeat_interleave(steps)  # (T,): its call's verdict
        return per_step.reshape(t, 1, *tail)  # (T, 1, 1...)
    return ok.reshape(t, b, -1).all(2).reshape(t, b, *tail)  # (T, B, 1...)


def straight_through(value: Tensor, surrogate: Tensor) -> Tensor:
    """``value`` in the forward pass, the gradient of ``surrogate`` in the backward pass."""
    return surrogate + (value - surrogate).detach()


def weight_mask(weight: Tensor, weight_grad: bool, dtype: torch.dtype) -> Tensor:
    """1 where a synapse exists (weight != 0), 0 where it is pruned, in ``dtype``.

    With ``weight_grad`` (and a weight that requires grad) the mask carries the gradient of
    |w| / mean(|w| over existing synapses): removing a synapse of average magnitude is worth one
    synapse. The value is the exact 0/1 mask either way.
    """
    exists = (weight != 0).to(dtype)
    if not (weight_grad and weight.requires_grad and torch.is_grad_enabled()):
        return exists.detach()
    mag = weight.abs().to(dtype)
    nz = mag.detach()[exists.bool()]
    scale = nz.mean() if nz.numel() else torch.ones((), dtype=dtype, device=weight.device)
    return straight_through(exists, mag / scale)


def synapse_counts(
    group: Synapses,
    policy: str = DEFAULT_POLICY,
    *,
    weight_grad: bool = False,
    dtype: torch.dtype | None = torch.float64,
) -> dict[str, Tensor]:
    """``acs``, ``macs``, ``graded_events``, ``dense_ops`` of one synapse group (sums, not / B).

    ``dtype=None`` computes in the inputs' own floating dtype (the training term).
    """
    a = group.inputs
    a = a.to_dense() if a.is_sparse else a
    dtype = dtype if dtype is not None else _float_dtype(a)
    a = a.to(dtype)
    ac = ac_mask(a.detach(), policy, group.call_steps).to(
        dtype
    )  # 1: binary entry (AC), 0: graded entry (MAC)
    mask = weight_mask(group.weight, weight_grad, dtype)
    mag = a.abs()
    nonzero = straight_through((a.detach() != 0).to(dtype), mag)  # value [a != 0], grad of |a|
    return {
        "acs": group.count(mag * ac, mask),  # binary: |a| == [a != 0]
        "macs": group.count(nonzero * (1 - ac), mask),
        "graded_events": group.count(mag * (1 - ac), mask),
        "dense_ops": group.count(
            torch.ones_like(a.detach()), torch.ones_like(group.weight.detach(), dtype=dtype)
        ),
    }


def _float_dtype(t: Tensor) -> torch.dtype:
    return t.dtype if t.dtype.is_floating_point else torch.float32


def neuron_counts(
    layer: LayerActivity, dtype: torch.dtype | None = torch.float64
) -> dict[str, Tensor]:
    """``neuron_updates``, ``active_updates``, ``spikes`` and ``state_words`` of a neuron layer."""
    out = layer.outputs
    if out is None:
        raise ValueError(f"layer {layer.name!r} recorded no spikes/activations")
    out = out.to_dense() if out.is_sparse else out
    dtype = dtype if dtype is not None else _float_dtype(out)
    out = out.to(dtype)
    updates = torch.tensor(float(out.numel()), dtype=dtype, device=out.device)
    if layer.kind == "spiking":
        active = out.abs().sum()  # spikes are 0/1: the count, with the surrogate gradient
        spikes = active
    else:
        active = straight_through((out.detach() != 0).to(dtype), out.abs()).sum()
        spikes = torch.zeros((), dtype=dtype, device=out.device)
    return {
        "neuron_updates": updates,
        "active_updates": active,
        "spikes": spikes,
        "state_words": updates * layer.state_size,
    }


def count_record(
    record: ActivityRecord,
    policy: str = DEFAULT_POLICY,
    *,
    layers: Sequence[str] | None = None,
    differentiable: bool = False,
    weight_grad: bool = False,
    dtype: torch.dtype | None = torch.float64,
) -> dict[str, dict[str, Tensor]]:
    """Per-layer counts of one recorded pass (sums over (T, B); divide by B for per inference).

    A layer appears with the synaptic counts of its synapse groups (summed) and/or the neuron
    counts of its outputs. ``differentiable=False`` detaches everything (measurement);
    ``True`` keeps the graph (the training term), with ``weight_grad`` adding the weight handle.
    ``dtype``: float64 (exact integer counts up to 2**53) or None (each tensor's own dtype).
    """
    check_policy(policy)
    if layers is not None:
        missing = [n for n in layers if n not in record]
        if missing:
            raise ValueError(f"layers {missing} not in the record; recorded: {list(record)}")
    out: dict[str, dict[str, Tensor]] = {}
    grad = torch.enable_grad() if differentiable else torch.no_grad()
    with grad:
        for name, act in record.items():
            if layers is not None and name not in layers:
                continue
            row: dict[str, Tensor] = {}
            for group in act.synapses:
                g = group if differentiable else _detached(group)
                for k, v in synapse_counts(g, policy, weight_grad=weight_grad, dtype=dtype).items():
                    row[k] = row[k] + v if k in row else v
            if act.outputs is not None:
                layer = act if differentiable else _detached_layer(act)
                row.update(neuron_counts(layer, dtype))
            if row:
                out[name] = row
    if not out:
        raise ValueError(
            f"nothing to count in the record: no connection (Linear/Conv/GRU with inputs) or "
            f"neuron (spiking/dense) layers; recorded: {record!r}. Record with "
            "needs={'inputs', 'spikes', 'activations'}"
        )
    return out


def _detached(group: Synapses) -> Synapses:
    return replace(group, inputs=group.inputs.detach(), weight=group.weight.detach())


def _detached_layer(act: LayerActivity) -> LayerActivity:
    out = act.outputs
    assert out is not None
    if act.kind == "spiking":
        return LayerActivity(act.name, act.kind, spikes=out.detach(), state_size=act.state_size)
    return LayerActivity(act.name, act.kind, activations=out.detach(), state_size=act.state_size)


@dataclass(frozen=True)
class LayerInfo:
    """What a ledger remembers of a layer besides its counts."""

    kind: str
    connection: bool
    state_size: int


class EnergyLedger:
    """Accumulates exact counts over batches; prices them per layer and in total on targets.

    ``update(record)`` once per recorded batch (sums in float64 Python numbers, divided once at
    the end), :meth:`counts` per inference, :meth:`energy` per inference on a cost model,
    :meth:`summary` a flat dict for logs and result tables. Holds only Python numbers: pickles.
    """

    def __init__(self, policy: str = DEFAULT_POLICY) -> None:
        self.policy = check_policy(policy)
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated."""
        self._sums: dict[str, dict[str, float]] = {}
        self._info: dict[str, LayerInfo] = {}
        self.samples = 0

    def update(self, record: ActivityRecord) -> None:
        """Add the counts of one recorded batch."""
        counts = count_record(record, self.policy)
        self.samples += record.batch_size
        for name, row in counts.items():
            act = record[name]
            self._info.setdefault(name, LayerInfo(act.kind, act.is_connection, act.state_size))
            acc = self._sums.setdefault(name, {})
            for k, v in row.items():
                acc[k] = acc.get(k, 0.0) + float(v)

    def _require(self) -> None:
        if self.samples == 0:
            raise ValueError("EnergyLedger: no batch was recorded (call update(record) first)")

    @property
    def layers(self) -> list[str]:
        """Layer names in the order they were first recorded."""
        return list(self._sums)

    def info(self, layer: str) -> LayerInfo:
        """Kind, connection flag and state size of a recorded layer."""
        return self._info[layer]

    def counts(self) -> dict[str, dict[str, float]]:
        """Per-layer counts per inference (layers lack the counts that do not apply to them)."""
        self._require()
        return {n: {k: v / self.samples for k, v in s.items()} for n, s in self._sums.items()}

    def total(self) -> dict[str, float]:
        """Network-wide counts per inference (every count, 0 where no layer has it)."""
        total = dict.fromkeys(COUNTS, 0.0)
        for row in self.counts().values():
            for k, v in row.items():
                total[k] += v
        return total

    def energy(self, target: CostModel) -> dict[str, dict[str, float]]:
        """``target.price`` of every layer's counts per inference, plus ``"total"`` (pJ)."""
        rows = {n: target.price(c) for n, c in self.counts().items()}
        rows["total"] = target.price(self.total())
        return rows

    def rates(self) -> dict[str, float]:
        """Pooled rates: ``spike_rate`` (spiking layers) and ``activation_sparsity`` (all)."""
        out: dict[str, float] = {}
        sp = [s for n, s in self._sums.items() if self._info[n].kind == "spiking"]
        if sp:
            out["spike_rate"] = sum(s["spikes"] for s in sp) / sum(s["neuron_updates"] for s in sp)
        neu = [s for s in self._sums.values() if "neuron_updates" in s]
        if neu:
            active = sum(s["active_updates"] for s in neu)
            out["activation_sparsity"] = 1.0 - active / sum(s["neuron_updates"] for s in neu)
        return out

    def summary(self, targets: Iterable[CostModel] = ()) -> dict[str, float]:
        """Flat dict: total counts, rates and, per target, ``energy_j[name]`` and its parts (J)."""
        out = dict(self.total())
        out.update(self.rates())
        for t in targets:
            for k, v in in_joules(t.price(self.total())).items():
                out[f"{k}[{t.name}]"] = v
        return out

    def to_dict(self, targets: Iterable[CostModel] = ()) -> dict[str, object]:
        """JSON-friendly record: per-layer counts, totals, rates and joules per target."""
        counts = self.counts()
        total = self.total()
        targets = tuple(targets)
        return {
            "samples": self.samples,
            "policy": self.policy,
            "layers": {
                n: {"kind": self._info[n].kind, "connection": self._info[n].connection, **c}
                for n, c in counts.items()
            },
            "total": total,
            "rates": self.rates(),
            "energy": {t.name: in_joules(t.price(total)) for t in targets},
            "layer_energy_j": {
                t.name: {n: float(t.price(c)["energy_pj"]) * PJ for n, c in counts.items()}
                for t in targets
            },
            "targets": {t.name: {"kind": t.kind, "memory": t.memory} for t in targets},
        }


def per_inference(counts: Mapping[str, Mapping[str, Tensor]], batch: int) -> dict[str, Tensor]:
    """Sum per-layer counts over layers and divide by the batch size."""
    total: dict[str, Tensor] = {}
    for row in counts.values():
        for k, v in row.items():
            total[k] = total[k] + v if k in total else v
    return {k: v / batch for k, v in total.items()}
