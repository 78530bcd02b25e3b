"""ActivityRecorder: a context manager that hooks a model's layers and records their activity."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from spikeenergy.models.fast.engine import SEQUENCE_AWARE
from spikeenergy.record.activity import ActivityRecord, LayerActivity, Synapses
from spikeenergy.record.adapters import ModuleAdapter, adapter_for

NEEDS = frozenset({"spikes", "membrane", "inputs", "activations"})


@dataclass
class _Slot:
    """Per-module buffers: field -> list of per-call tensors."""

    name: str
    module: nn.Module
    adapter: ModuleAdapter
    fields: frozenset[str]
    calls: dict[str, list[Tensor]] = field(default_factory=dict)
    sequence: bool = False  # True when the calls came as time-major sequences (fast engine)


class ActivityRecorder:
    """Record per-layer activity of ``model`` while inside ``with``; hooks are always removed.

    ``needs`` selects what is stored ("spikes", "membrane", "inputs", "activations"; pass an
    energy term's ``.needs``); layers that can give none of them are not hooked at all.
    ``keep_graph=True`` keeps tensors attached to the autograd graph (training with an energy
    term); ``False`` detaches them (measurement). Call :meth:`clear` between forward passes and
    :meth:`record` after one to get an :class:`ActivityRecord` of time-major (T, B, ...) tensors.
    Models with a fast engine (``add_sequence_listener``, e.g. SpikingNet) hand over whole
    time-major sequences instead of per-step hook calls; the record is the same either way.

    Example::

        with ActivityRecorder(model, needs=loss.needs) as rec:
            for x, y in loader:
                rec.clear()
                parts = loss(model(x), y, rec.record())
    """

    def __init__(
        self,
        model: nn.Module,
        needs: Iterable[str] = NEEDS,
        keep_graph: bool = True,
    ) -> None:
        needs = frozenset(needs)
        unknown = needs - NEEDS
        if unknown:
            raise ValueError(f"unknown needs {sorted(unknown)}; use a subset of {sorted(NEEDS)}")
        if not needs:
            raise ValueError(f"needs is empty; ask for at least one of {sorted(NEEDS)}")
        self.model = model
        self.needs = needs
        self.keep_graph = keep_graph
        self._slots: list[_Slot] = []
        self._by_module: dict[int, _Slot] = {}
        self._handles: list[RemovableHandle] = []

    # ------------------------------------------------------------------ context management
    def __enter__(self) -> ActivityRecorder:
        if self._handles:
            raise RuntimeError("ActivityRecorder is already active; do not nest the same recorder")
        self._slots = []
        try:
            for name, module in self.model.named_modules():
                adapter = adapter_for(module)
                if adapter is None:
                    continue
                fields = adapter.fields & self.needs
                if not fields:
                    continue
                if "inputs" in fields and adapter.synapses is not None:
                    fields = fields | adapter.synapse_fields  # what its synapse groups read
                slot = _Slot(name or type(module).__name__, module, adapter, fields)
                self._slots.append(slot)
                self._by_module[id(module)] = slot
                self._handles.append(module.register_forward_hook(self._hook(slot)))
            for module in self.model.modules():
                add = getattr(module, "add_sequence_listener", None)
                if callable(add):
                    self._handles.append(add(self._on_sequence))
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._remove()

    def _remove(self) -> None:
        """Remove every installed hook (idempotent)."""
        handles, self._handles = self._handles, []
        for h in handles:
            h.remove()
        self._by_module = {}

    @property
    def active(self) -> bool:
        """True while hooks are installed."""
        return bool(self._handles)

    # ------------------------------------------------------------------ recording
    def _hook(self, slot: _Slot) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            captured = slot.adapter.capture(module, args, output)
            if slot.sequence and slot.calls:
                raise RuntimeError(
                    f"layer {slot.name!r} ran per step and as a sequence in one pass"
                )
            for f in slot.fields:
                if f not in captured:
                    continue  # optional fields (a GRU's initial state) may be absent
                t = captured[f]
                if not self.keep_graph:
                    t = t.detach()
                slot.calls.setdefault(f, []).append(t)

        setattr(hook, SEQUENCE_AWARE, True)  # the fast engine may bypass this hook (see below)
        return hook

    def _on_sequence(
        self, module: nn.Module, fields: Mapping[str, Tensor | Callable[[], Tensor]]
    ) -> None:
        """Sequence listener: one layer's time-major activity from a fast engine."""
        slot = self._by_module.get(id(module))
        if slot is None:
            return
        if slot.calls and not slot.sequence:
            raise RuntimeError(f"layer {slot.name!r} ran per step and as a sequence in one pass")
        slot.sequence = True
        for f in slot.fields:
            if f not in fields:
                continue
            value = fields[f]
            t = value if isinstance(value, Tensor) else value()  # lazily built fields
            if t.is_sparse:
                t = t.to_dense()
            if not self.keep_graph:
                t = t.detach()
            slot.calls.setdefault(f, []).append(t)

    def clear(self) -> None:
        """Drop everything recorded so far (call before each forward pass)."""
        for slot in self._slots:
            slot.calls.clear()
            slot.sequence = False

    def record(self) -> ActivityRecord:
        """The activity recorded since the last :meth:`clear`, stacked time-major (T, B, ...)."""
        layers: dict[str, LayerActivity] = {}
        for slot in self._slots:
            if not slot.calls:
                continue  # module exists but did not run in this forward pass
            data: dict[str, Tensor] = {}
            for f, ts in slot.calls.items():
                seq = slot.adapter.sequence or slot.sequence
                shapes = {tuple(t.shape[1:] if seq else t.shape) for t in ts}
                if len(shapes) != 1:
                    raise ValueError(
                        f"layer {slot.name!r} recorded {f} of different shapes {sorted(shapes)}; "
                        "call recorder.clear() between forward passes and do not reuse one "
                        "module instance for several layers"
                    )
                if seq:  # each call already time-major: concatenate along time
                    data[f] = ts[0] if len(ts) == 1 else torch.cat(ts, 0)
                else:
                    data[f] = torch.stack(ts, 0)  # (T, B, ...)
            synapses: tuple[Synapses, ...] = ()
            if "inputs" in data and slot.adapter.synapses is not None:
                synapses = slot.adapter.synapses(slot.module, data)
            data.pop("initial_state", None)
            layers[slot.name] = LayerActivity(
                name=slot.name,
                kind=slot.adapter.kind,
                module=slot.module,
                synapses=synapses,
                state_size=slot.adapter.state_size(slot.module),
                **data,
            )
        return ActivityRecord(layers)
