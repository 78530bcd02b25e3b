"""Accumulated, non-differentiable measurements (NeuroBench definitions) and energy reports.

Workload metrics (``update(record)`` per batch) and static metrics (``update(model)``) share
``compute()`` / ``reset()`` and return per-layer + total tables; :func:`measure` runs them over
a data loader and prices the counts on hardware cost models (``spikeenergy.energy.cost_models``);
:class:`Harness` does the same for any model (snnTorch, Norse, PyTorch) and adds accuracy.
"""

from spikeenergy.metrics.base import (
    TOTAL,
    Column,
    LayerTable,
    Metric,
    NotApplicableError,
    StaticMetric,
)
from spikeenergy.metrics.harness import MODES, Harness, HarnessResult, decode
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
    SpikeRateMetric,
    SynapticOperations,
)

__all__ = [
    "ENERGY_COLUMNS",
    "MODES",
    "TOTAL",
    "ActivationSparsity",
    "Column",
    "ConnectionSparsity",
    "EnergyMeter",
    "EnergyReport",
    "Footprint",
    "Harness",
    "HarnessResult",
    "LayerTable",
    "LedgerMetric",
    "MembraneUpdates",
    "Metric",
    "NeuronUpdates",
    "NotApplicableError",
    "ParameterCount",
    "SpikeRateMetric",
    "StaticMetric",
    "SynapticOperations",
    "decode",
    "default_static_metrics",
    "measure",
    "target_column",
]
