"""EnergyMeter: runs the metrics over a loader and prices the counts on hardware targets.

``measure(model, loader, targets=[...])`` returns an :class:`EnergyReport`: one row per layer
plus a ``"total"`` row, every count per sample, and for each target the joules per inference
beside the op counts that were charged (``energy_j[loihi]``, ``charged_acs[loihi]``, ...).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from spikeenergy.energy.cost_models import (
    DEFAULT_POLICY,
    PRICED_COLUMNS,
    CostModel,
    check_policy,
    in_joules,
)
from spikeenergy.energy.ledger import EnergyLedger
from spikeenergy.metrics.base import (
    TOTAL,
    Column,
    LayerTable,
    NotApplicableError,
    StaticMetric,
)
from spikeenergy.metrics.static import ConnectionSparsity, Footprint, ParameterCount
from spikeenergy.metrics.workload import (
    ActivationSparsity,
    LedgerMetric,
    MembraneUpdates,
    NeuronUpdates,
    SpikeRateMetric,
    SynapticOperations,
)
from spikeenergy.record import ActivityRecord

log = logging.getLogger(__name__)

SCHEMA = "spikeenergy.energy-report/2"

#: Columns added per target (name -> unit per inference, description).
ENERGY_COLUMNS: dict[str, tuple[str, str]] = PRICED_COLUMNS


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


#: Workload metrics read off the meter's one shared ledger (each counts nothing itself).
LEDGER_METRICS: tuple[type[LedgerMetric], ...] = (
    ActivationSparsity,
    SpikeRateMetric,
    SynapticOperations,
    NeuronUpdates,
)


def default_static_metrics() -> list[StaticMetric]:
    """NeuroBench's static metrics: parameter count, footprint, connection sparsity."""
    return [ParameterCount(), Footprint(), ConnectionSparsity()]


class EnergyMeter:
    """Collects the ledger and NeuroBench's metrics over batches; prices them on ``targets``.

    One :class:`~spikeenergy.energy.EnergyLedger` counts every operation; the NeuroBench-named
    workload metrics (:data:`LEDGER_METRICS`) are views of it, membrane updates and the static
    metrics are measured beside it. Metrics that do not apply to a model (spike rate of a dense
    model) are left out of the report with a log message; errors of applicable ones propagate.
    """

    def __init__(
        self,
        targets: Sequence[CostModel] = (),
        policy: str = DEFAULT_POLICY,
        static: Sequence[StaticMetric] | None = None,
        membrane: bool = True,
    ) -> None:
        self.policy = check_policy(policy)
        self.targets = tuple(targets)
        names = [t.name for t in self.targets]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate target names {names}")
        self.static = list(static) if static is not None else default_static_metrics()
        self.membrane = MembraneUpdates() if membrane else None
        self.ledger = EnergyLedger(policy)
        self._order: dict[str, int] = {}  # layer name -> forward / module order

    def _remember_order(self, names: Iterable[str]) -> None:
        for n in names:
            self._order.setdefault(n, len(self._order))

    @property
    def needs(self) -> frozenset[str]:
        """What the recorder must capture (``ActivityRecorder(needs=...)``)."""
        needs = {"inputs", "spikes", "activations"}
        if self.membrane is not None:
            needs.add("membrane")
        return frozenset(needs)

    def reset(self) -> None:
        """Forget everything measured."""
        self.ledger.reset()
        for m in self.static:
            m.reset()
        if self.membrane is not None:
            self.membrane.reset()
        self._order = {}

    def update(self, record: ActivityRecord) -> None:
        """Feed one batch of recorded activity to the ledger (and membrane updates)."""
        self.ledger.update(record)
        if self.membrane is not None:
            self.membrane.update(record)
        self._remember_order(record)

    def update_model(self, model: nn.Module) -> None:
        """Feed the model to every static metric."""
        for m in self.static:
            m.update(model)
        self._remember_order(n for n, _ in model.named_modules() if n)

    def _tables(self) -> list[tuple[tuple[Column, ...], Callable[[], LayerTable]]]:
        out: list[tuple[tuple[Column, ...], Callable[[], LayerTable]]] = [
            (cls.columns, functools.partial(cls.table, self.ledger)) for cls in LEDGER_METRICS
        ]
        if self.membrane is not None:
            out.append((self.membrane.columns, self.membrane.compute))
        out.extend((m.columns, m.compute) for m in self.static)
        return out

    def compute(self) -> EnergyReport:
        """Merge the metric tables and add the per-target energy columns."""
        if self.ledger.samples == 0:
            raise ValueError("EnergyMeter.compute() called before any update()")
        rows: LayerTable = {}
        columns: dict[str, dict[str, Any]] = {}
        for cols, compute in self._tables():
            try:
                table = compute()
            except NotApplicableError as exc:
                log.info("skipping: %s", exc)
                continue
            for c in cols:
                columns[c.name] = c.to_dict()
            for layer, row in table.items():
                rows.setdefault(layer, {}).update(row)
        total = rows.pop(TOTAL, {})
        big = len(self._order)
        rows = {n: rows[n] for n in sorted(rows, key=lambda n: self._order.get(n, big))}
        rows[TOTAL] = total  # layers in forward order, "total" last
        counts = self.ledger.counts()
        counts[TOTAL] = self.ledger.total()
        for t in self.targets:
            for col, (unit, desc) in ENERGY_COLUMNS.items():
                columns[target_column(col, t.name)] = {
                    "name": target_column(col, t.name),
                    "unit": f"{unit}/inference",
                    "higher_is_better": False,
                    "description": f"{desc} ({t.name}: charges {t.charges} ops, memory {t.memory})",
                }
            for layer, layer_counts in counts.items():
                for col, v in in_joules(t.price(layer_counts)).items():
                    rows.setdefault(layer, {})[target_column(col, t.name)] = v
        return EnergyReport(
            rows=rows,
            columns=columns,
            samples=self.ledger.samples,
            policy=self.policy,
            targets=tuple(t.to_dict() for t in self.targets),
        )


def measure(
    model: nn.Module,
    loader: Iterable[Any],
    targets: Sequence[CostModel] = (),
    *,
    device: str | torch.device | None = None,
    policy: str = DEFAULT_POLICY,
    max_batches: int | None = None,
    progress: bool = False,
    mode: str = "sequence",
    batch_first: bool = False,
    layer_time: str | Mapping[str, str] | None = None,
) -> EnergyReport:
    """Measure ``model`` on ``loader`` (batches ``(x (T, B, ...), y)``) and price it on ``targets``.

    The energy report of :class:`spikeenergy.metrics.harness.Harness` (which also gives the
    accuracy): ``mode`` says how the model is called (``"sequence"``, ``"step"``,
    ``"step-state"``), ``batch_first`` the layout of ``x``, ``layer_time`` declares layers whose
    time axis cannot be read from their calls. Runs in eval mode without gradients, resetting
    the model's state before every batch; the caller's model is left as it was (a copy is
    measured when ``device`` differs from the model's device; the train/eval flag is restored).
    """
    from spikeenergy.metrics.harness import Harness

    return (
        Harness(
            model,
            loader,
            targets=tuple(targets),
            mode=mode,
            batch_first=batch_first,
            layer_time=layer_time,
            policy=policy,
            accuracy=False,
            device=device,
            max_batches=max_batches,
            progress=progress,
        )
        .run()
        .report
    )
