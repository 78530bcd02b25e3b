"""Static metrics of the model alone: parameter count, footprint, connection sparsity.

Definitions follow NeuroBench: ``ParameterCount`` counts every parameter (trainable or not),
``Footprint`` the bytes of parameters and buffers at their real dtype (``element_size``; runtime
state held in non-persistent buffers, e.g. snnTorch's ``mem``/``syn``, is not counted: it is
empty at rest and batch-sized after a forward pass, so this equals NeuroBench's value on a
freshly built model and does not depend on what ran before),
``ConnectionSparsity`` the zero fraction of the weights of Linear/Conv layers (weights only) and
of recurrent layers (all weights and biases). Rows are the modules that own the tensors.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from spikeenergy.metrics.base import (
    TOTAL,
    Column,
    LayerTable,
    NotApplicableError,
    StaticMetric,
    require_updates,
)

_STATELESS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_RECURRENT = (nn.RNNBase, nn.RNNCellBase)


def _own_parameters(model: nn.Module) -> dict[str, list[torch.Tensor]]:
    """Module name -> parameters it owns directly."""
    out: dict[str, list[torch.Tensor]] = {}
    for name, m in model.named_modules():
        ts = list(m.parameters(recurse=False))
        if ts:
            out[name or type(m).__name__] = ts
    return out


class ParameterCount(StaticMetric):
    """Number of parameters per module and in total (NeuroBench ``ParameterCount``)."""

    columns: ClassVar[tuple[Column, ...]] = (
        Column("parameters", "parameters", False, "number of parameters (all, incl. frozen)"),
    )

    def reset(self) -> None:
        self._rows: dict[str, float] = {}
        self._done = 0

    def update(self, model: nn.Module) -> None:
        """Count the parameters of ``model``."""
        self._rows = {
            n: float(sum(t.numel() for t in ts)) for n, ts in _own_parameters(model).items()
        }
        self._done = 1

    def compute(self) -> LayerTable:
        """Per-module and total parameter counts."""
        require_updates(self, self._done)
        out: LayerTable = {n: {"parameters": v} for n, v in self._rows.items()}
        out[TOTAL] = {"parameters": sum(self._rows.values())}
        return out


class Footprint(StaticMetric):
    """Bytes of parameters and buffers at their real dtype (NeuroBench ``Footprint``)."""

    columns: ClassVar[tuple[Column, ...]] = (
        Column(
            "footprint_bytes",
            "bytes",
            False,
            "sum of numel x element_size over parameters and buffers",
        ),
    )

    def reset(self) -> None:
        self._rows: dict[str, float] = {}
        self._done = 0

    def update(self, model: nn.Module) -> None:
        """Measure the memory of ``model``'s parameters and buffers."""
        rows: dict[str, float] = {}
        for name, m in model.named_modules():
            state: set[str] = getattr(m, "_non_persistent_buffers_set", set())
            size = sum(p.numel() * p.element_size() for p in m.parameters(recurse=False))
            for bname, b in m.named_buffers(recurse=False):
                size += (0 if bname in state else b.numel()) * b.element_size()
            if size or list(m.parameters(recurse=False)) or list(m.buffers(recurse=False)):
                rows[name or type(m).__name__] = float(size)
        self._rows = rows
        self._done = 1

    def compute(self) -> LayerTable:
        """Per-module and total bytes."""
        require_updates(self, self._done)
        out: LayerTable = {n: {"footprint_bytes": v} for n, v in self._rows.items()}
        out[TOTAL] = {"footprint_bytes": sum(self._rows.values())}
        return out


class ConnectionSparsity(StaticMetric):
    """Fraction of zero weights of connection layers (NeuroBench ``ConnectionSparsity``)."""

    columns: ClassVar[tuple[Column, ...]] = (
        Column("connection_sparsity", "fraction", True, "zero weights / all weights"),
    )

    def reset(self) -> None:
        self._rows: dict[str, tuple[float, float]] = {}
        self._done = 0

    def update(self, model: nn.Module) -> None:
        """Count zero and all weights of every Linear / Conv / recurrent layer."""
        self._rows = {}
        for name, m in model.named_modules():
            if isinstance(m, _STATELESS):
                ts = [m.weight]
            elif isinstance(m, _RECURRENT):
                ts = [
                    p
                    for n, p in m.named_parameters(recurse=False)
                    if n.startswith(("weight_", "bias_"))
                ]
            else:
                continue
            zeros = float(sum(int((t == 0).sum()) for t in ts))
            self._rows[name or type(m).__name__] = (zeros, float(sum(t.numel() for t in ts)))
        self._done = 1

    def compute(self) -> LayerTable:
        """Per-layer and pooled zero fraction."""
        require_updates(self, self._done)
        if not self._rows:
            raise NotApplicableError(
                "ConnectionSparsity: the model has no Linear/Conv/recurrent layers"
            )
        out: LayerTable = {n: {"connection_sparsity": z / c} for n, (z, c) in self._rows.items()}
        zeros = sum(z for z, _ in self._rows.values())
        count = sum(c for _, c in self._rows.values())
        out[TOTAL] = {"connection_sparsity": zeros / count}
        return out
