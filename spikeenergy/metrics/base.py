"""The metric protocol: accumulate sums in ``update``, divide once in ``compute``, ``reset``.

Every metric returns a :data:`LayerTable`: ``{layer name: {column: value}, "total": {...}}``,
values per sample (counts) or ratios (rates, sparsities). Column metadata (unit, whether higher
is better) lives in :class:`Column`. Workload metrics consume an
:class:`~spikeenergy.record.ActivityRecord` per batch; static metrics consume the model.
Metrics hold only Python numbers, so they pickle and merge across processes.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from torch import nn

from spikeenergy.record import ActivityRecord

#: Row name of the network-wide totals in every table.
TOTAL = "total"

LayerTable = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Column:
    """One output quantity: its unit and whether higher values are better (None: neither)."""

    name: str
    unit: str
    higher_is_better: bool | None
    description: str

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for export."""
        return asdict(self)


class _MetricBase(abc.ABC):
    """Shared metadata and the reset-in-constructor convention."""

    columns: ClassVar[tuple[Column, ...]]

    def __init__(self) -> None:
        self.reset()

    @property
    def unit(self) -> str:
        """Unit of the primary (first) column."""
        return self.columns[0].unit

    @property
    def higher_is_better(self) -> bool | None:
        """Direction of the primary (first) column."""
        return self.columns[0].higher_is_better

    @abc.abstractmethod
    def reset(self) -> None:
        """Forget everything accumulated."""

    @abc.abstractmethod
    def compute(self) -> LayerTable:
        """Per-layer and total values of everything accumulated since :meth:`reset`."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Metric(_MetricBase):
    """A workload metric: ``update(record)`` once per batch, ``compute()`` at the end."""

    #: recorder fields this metric reads (pass the union to ``ActivityRecorder(needs=...)``)
    needs: ClassVar[frozenset[str]]

    @abc.abstractmethod
    def update(self, record: ActivityRecord) -> None:
        """Add one batch of recorded activity to the running sums."""


class StaticMetric(_MetricBase):
    """A metric of the model alone (parameters, footprint): ``update(model)`` then ``compute``."""

    @abc.abstractmethod
    def update(self, model: nn.Module) -> None:
        """Measure ``model`` (replaces any earlier measurement)."""


class NotApplicableError(ValueError):
    """The model has none of the layers a metric measures (spike rate of a dense model)."""


def require_updates(metric: _MetricBase, n: int) -> None:
    """Raise a clear error when ``compute`` is called before any ``update``."""
    if n == 0:
        raise ValueError(f"{type(metric).__name__}.compute() called before any update()")
