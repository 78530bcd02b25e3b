"""Accumulated, non-differentiable measurements (NeuroBench definitions) and energy reports.

Workload metrics (``update(record)`` per batch) and static metrics (``update(model)``) share
``compute()`` / ``reset()`` and return per-layer + total tables; :func:`measure` runs them over
a data loader and prices the counts on hardware cost models (``spikeenergy.energy.cost_models``).
"""

from spikeenergy.metrics.base import (
    TOTAL,
    Column,
    LayerTable,
    Metric,
    NotApplicableError,
    StaticMetric,
)
from spikeenergy.metrics.meter import (
    ENERGY_COLUMNS,
    EnergyMeter,
    EnergyReport,
    default_static_metrics,
    measure,
    target_column,
)
from spikeenergy.metrics.static import ConnectionSparsity, Footprint, ParameterCount
from spikeenergy.metrics.workload import (
    ActivationSparsity,
    LedgerMetric,
    MembraneUpdates,
    NeuronUpdates,
    SpikeRate,
    SynapticOperations,
)

__all__ = [
    "ENERGY_COLUMNS",
    "TOTAL",
    "ActivationSparsity",
    "Column",
    "ConnectionSparsity",
    "EnergyMeter",
    "EnergyReport",
    "Footprint",
    "LayerTable",
    "LedgerMetric",
    "MembraneUpdates",
    "Metric",
    "NeuronUpdates",
    "NotApplicableError",
    "ParameterCount",
    "SpikeRate",
    "StaticMetric",
    "SynapticOperations",
    "default_static_metrics",
    "measure",
    "target_column",
]
