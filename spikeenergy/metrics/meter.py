"""EnergyMeter: runs the metrics over a loader and prices the counts on hardware targets.

``measure(model, loader, targets=[...])`` returns an :class:`EnergyReport`: one row per layer
plus a ``"total"`` row, every count per sample, and for each target the joules per inference
beside the op counts that were charged (``energy_j[loihi]``, ``charged_acs[loihi]``, ...).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from spikeenergy.energy.cost_models import CostModel
from spikeenergy.metrics.base import (
    TOTAL,
    Column,
    LayerTable,
    Metric,
    NotApplicableError,
    StaticMetric,
    batch_size,
)
from spikeenergy.metrics.counting import check_policy
from spikeenergy.metrics.static import ConnectionSparsity, Footprint, ParameterCount
from spikeenergy.metrics.workload import (
    ActivationSparsity,
    MembraneUpdates,
    NeuronUpdates,
    SpikeRate,
    SynapticOperations,
)
from spikeenergy.record import ActivityRecord, ActivityRecorder

log = logging.getLogger(__name__)

SCHEMA = "spikeenergy.energy-report/1"

#: Columns added per target by :meth:`CostModel.energy` (name -> unit, description).
ENERGY_COLUMNS: dict[str, tuple[str, str]] = {
    "charged_acs": ("ACs/sample", "accumulates charged on the target"),
    "charged_macs": ("MACs/sample", "multiply-accumulates charged on the target"),
    "charged_neuron_updates": ("updates/sample", "neuron updates charged on the target"),
    "synaptic_energy_j": ("J/inference", "energy of the charged synaptic ops"),
    "neuron_energy_j": ("J/inference", "energy of the charged neuron updates"),
    "memory_energy_j": ("J/inference", "energy of weight reads (targets with a memory figure)"),
    "energy_j": ("J/inference", "synaptic + neuron + memory energy"),
}


def target_column(column: str, target: str) -> str:
    """Name of a per-target column, e.g. ``energy_j[loihi]``."""
    return f"{column}[{target}]"


@dataclass(frozen=True)
class EnergyReport:
    """Per-layer table of metrics and energies; ``rows["total"]`` holds the network totals.

    ``rows``: layer -> column -> value (a layer lacks the columns that do not apply to it).
    ``columns``: column -> {"unit", "higher_is_better", "description"}. ``targets``: the cost
    models used (as dicts). ``identity`` / ``versions``: model, dataset and package information
    filled in by the exporter.
    """

    rows: dict[str, dict[str, float]]
    columns: dict[str, dict[str, Any]]
    samples: int
    policy: str
    targets: tuple[dict[str, Any], ...] = ()
    identity: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    schema: str = SCHEMA

    @property
    def total(self) -> dict[str, float]:
        """The network-wide totals row."""
        return self.rows[TOTAL]

    @property
    def layers(self) -> list[str]:
        """Layer names in row order (without ``"total"``)."""
        return [n for n in self.rows if n != TOTAL]

    def energy_j(self, target: str, layer: str = TOTAL) -> float:
        """Joules per inference of ``layer`` (default: total) on ``target``."""
        key = target_column("energy_j", target)
        if key not in self.columns:
            known = [t["name"] for t in self.targets]
            raise KeyError(f"no energy for target {target!r} in this report; targets: {known}")
        return self.rows[layer].get(key, 0.0)

    def flat(self) -> dict[str, float]:
        """One flat dict ``{"column/layer": value}`` (e.g. for a results store)."""
        return {f"{c}/{layer}": v for layer, row in self.rows.items() for c, v in row.items()}

    def with_info(self, identity: Mapping[str, Any], versions: Mapping[str, str]) -> EnergyReport:
        """A copy carrying model/dataset ``identity`` and package ``versions``."""
        return replace(self, identity=dict(identity), versions=dict(versions))

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict; :meth:`from_dict` is the inverse."""
        return {
            "schema": self.schema,
            "identity": self.identity,
            "versions": self.versions,
            "samples": self.samples,
            "policy": self.policy,
            "targets": list(self.targets),
            "columns": self.columns,
            "rows": [{"layer": n, **r} for n, r in self.rows.items()],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EnergyReport:
        """Rebuild a report from :meth:`to_dict` output."""
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not an energy report (schema {d.get('schema')!r}, want {SCHEMA})")
        rows = {}
        for r in d["rows"]:
            r = dict(r)
            name = str(r.pop("layer"))
            rows[name] = {k: float(v) for k, v in r.items()}
        return cls(
            rows=rows,
            columns={k: dict(v) for k, v in d["columns"].items()},
            samples=int(d["samples"]),
            policy=str(d["policy"]),
            targets=tuple(dict(t) for t in d["targets"]),
            identity=dict(d.get("identity", {})),
            versions=dict(d.get("versions", {})),
        )


def default_metrics(policy: str = "neurobench") -> list[Metric | StaticMetric]:
    """The full metric set: NeuroBench's workload and static metrics plus spike rate."""
    return [
        ActivationSparsity(),
        SpikeRate(),
        SynapticOperations(policy),
        MembraneUpdates(),
        NeuronUpdates(),
        ParameterCount(),
        Footprint(),
        ConnectionSparsity(),
    ]


class EnergyMeter:
    """Collects metrics over batches and prices the counts on ``targets``.

    Metrics that do not apply to a model (spike rate of a dense model) are left out of the
    report, with a log message; errors of applicable metrics propagate.
    """

    def __init__(
        self,
        targets: Sequence[CostModel] = (),
        metrics: Sequence[Metric | StaticMetric] | None = None,
        policy: str = "neurobench",
    ) -> None:
        self.policy = check_policy(policy)
        self.metrics = list(metrics) if metrics is not None else default_metrics(policy)
        self.targets = tuple(targets)
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate target names {names}")
        self._samples = 0
        self._order: dict[str, int] = {}  # layer name -> forward / module order

    def _remember_order(self, names: Iterable[str]) -> None:
        for n in names:
            self._order.setdefault(n, len(self._order))

    @property
    def needs(self) -> frozenset[str]:
        """Union of what the workload metrics read (for ``ActivityRecorder(needs=...)``)."""
        return frozenset().union(*(m.needs for m in self.metrics if isinstance(m, Metric)))

    def reset(self) -> None:
        """Reset every metric."""
        for m in self.metrics:
            m.reset()
        self._samples = 0
        self._order = {}

    def update(self, record: ActivityRecord) -> None:
        """Feed one batch of recorded activity to every workload metric."""
        for m in self.metrics:
            if isinstance(m, Metric):
                m.update(record)
        self._samples += _record_batch(record)
        self._remember_order(record)

    def update_model(self, model: nn.Module) -> None:
        """Feed the model to every static metric."""
        for m in self.metrics:
            if isinstance(m, StaticMetric):
                m.update(model)
        self._remember_order(n for n, _ in model.named_modules() if n)

    def compute(self) -> EnergyReport:
        """Merge every metric's table and add the per-target energy columns."""
        rows: LayerTable = {}
        columns: dict[str, dict[str, Any]] = {}
        for m in self.metrics:
            try:
                table = m.compute()
            except NotApplicableError as exc:
                log.info("skipping %s: %s", type(m).__name__, exc)
                continue
            for c in m.columns:
                columns[c.name] = _column_dict(c)
            for layer, row in table.items():
                if layer != TOTAL:
                    rows.setdefault(layer, {}).update(row)
            rows.setdefault(TOTAL, {})
            rows[TOTAL].update(table[TOTAL])
        total = rows.pop(TOTAL, {})
        big = len(self._order)
        rows = {n: rows[n] for n in sorted(rows, key=lambda n: self._order.get(n, big))}
        rows[TOTAL] = total  # layers in forward order, "total" last
        for t in self.targets:
            for col, (unit, desc) in ENERGY_COLUMNS.items():
                columns[target_column(col, t.name)] = {
                    "name": target_column(col, t.name),
                    "unit": unit,
                    "higher_is_better": False,
                    "description": f"{desc} ({t.name}, charges {t.charges} ops)",
                }
            for row in rows.values():
                if not _has_work(row):
                    continue
                for col, v in t.energy(row).items():
                    row[target_column(col, t.name)] = v
        return EnergyReport(
            rows=rows,
            columns=columns,
            samples=self._samples,
            policy=self.policy,
            targets=tuple(t.to_dict() for t in self.targets),
        )


def _column_dict(c: Column) -> dict[str, Any]:
    return c.to_dict()


def _has_work(row: Mapping[str, float]) -> bool:
    return any(k in row for k in ("effective_acs", "dense_ops", "neuron_updates"))


def _record_batch(record: ActivityRecord) -> int:
    return batch_size(record)


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def measure(
    model: nn.Module,
    loader: Iterable[Any],
    targets: Sequence[CostModel] = (),
    *,
    device: str | torch.device | None = None,
    policy: str = "neurobench",
    metrics: Sequence[Metric | StaticMetric] | None = None,
    max_batches: int | None = None,
    progress: bool = False,
) -> EnergyReport:
    """Measure ``model`` on ``loader`` (batches ``(x (T, B, ...), y)``) and price it on ``targets``.

    Runs in eval mode without gradients; the caller's model is left as it was (a copy is
    measured when ``device`` differs from the model's device; the train/eval flag is restored).
    """
    if max_batches is not None and max_batches < 1:
        raise ValueError(f"max_batches={max_batches} must be >= 1 (or None for all)")
    dev = torch.device(device) if device is not None else _model_device(model)
    net = model if dev == _model_device(model) else copy.deepcopy(model).to(dev)
    meter = EnergyMeter(targets, metrics, policy)
    meter.update_model(net)
    was_training = net.training
    net.eval()
    n = 0
    try:
        with torch.no_grad(), ActivityRecorder(net, needs=meter.needs, keep_graph=False) as rec:
            for batch in tqdm(loader, desc="measure", disable=not progress, leave=False):
                x = batch[0] if isinstance(batch, list | tuple) else batch
                rec.clear()
                net(x.to(dev))
                meter.update(rec.record())
                n += 1
                if max_batches is not None and n >= max_batches:
                    break
    finally:
        net.train(was_training)
        reset_state = getattr(net, "reset_state", None)
        if callable(reset_state):
            reset_state()
    if n == 0:
        raise ValueError("the loader yielded no batches; nothing to measure")
    report = meter.compute()
    for t in report.targets:
        e = report.rows[TOTAL].get(target_column("energy_j", t["name"]))
        if e is not None and not math.isfinite(e):
            raise FloatingPointError(f"non-finite energy on target {t['name']!r}: {e}")
    return report
