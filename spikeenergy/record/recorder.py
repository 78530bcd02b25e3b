"""ActivityRecorder: a context manager that hooks a model's layers and records their activity.

How a layer's calls map to time (the part users' models make hard):

- ``time="step"``: the model is called once per time step on ``(B, ...)``; every layer call is
  one step and calls are stacked into ``(T, B, ...)``.
- ``time="sequence"`` (and the default ``None``): every call of the model gets a whole sequence,
  time-major ``(T, B, ...)`` (``(B, T, ...)`` with ``batch_first=True``). Inside, a layer may run
  once per step on ``(B, ...)`` (snnTorch neurons in a loop, ``norse.Lift``) or once on the whole
  sequence (a time-batched ``nn.Linear``). The recorder reads which from the layer's calls
  during each model call, knowing T and B from the model's input: calls on ``(B, ...)``, at most
  T of them, are steps; calls on ``(T_i, B, F...)`` with sum T_i = T are sequence chunks
  (``(B, T_i, F...)`` batch-first; a sequence has a per-step feature axis unless declared).
  When a layer's calls fit more than one reading (T == B and one call on ``(T, B, F...)``; one
  call on ``(B, T, F...)``, which is also one step of a tensor whose second axis has length T)
  it raises :class:`TimeAxisError` naming the layer and the
  declaration that settles it: ``layer_time={"name": "step" | "sequence"}`` or
  ``layer_time="step" | "sequence"`` for every layer. It never guesses.
- Modules that always take a sequence (``nn.GRU``, Norse ``LIF``: adapter rows with
  ``sequence=True``) and the fast engine's sequence listeners carry their own time axis.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from spikeenergy.models.fast.engine import SEQUENCE_AWARE
from spikeenergy.record.activity import ActivityRecord, LayerActivity, Synapses
from spikeenergy.record.adapters import Field, ModuleAdapter, adapter_for, uncounted_weights

NEEDS = frozenset({"spikes", "membrane", "inputs", "activations"})
#: How the model is called: once per time step, or once per (whole) sequence.
TIME_MODES = ("step", "sequence")
#: How a layer's calls are read: detected from the calls, one step each, or sequences.
LAYER_TIME = ("auto", "step", "sequence")

_REF_FIELDS = ("inputs", "spikes", "activations", "membrane")  # a call's shape is read from these
_STEP, _TIME_MAJOR, _BATCH_FIRST = "step", "time-major", "batch-first"


class TimeAxisError(ValueError):
    """The recorder cannot tell how a layer's calls map to time; the message names the fix."""


@dataclass
class _Call:
    """One hooked call: during which model call it ran (None: outside) and its leading shape."""

    model_call: int | None
    shape: tuple[int, ...]


@dataclass
class _Slot:
    """Per-module buffers: field -> list of per-call tensors."""

    name: str
    module: nn.Module
    adapter: ModuleAdapter
    fields: frozenset[str]
    calls: dict[str, list[Tensor]] = field(default_factory=dict)
    meta: list[_Call] = field(default_factory=list)
    sequence: bool = False  # True when the calls came as time-major sequences (fast engine)


def _first_tensor(obj: Any) -> Tensor | None:
    """The first tensor in a (nested) call argument structure."""
    if isinstance(obj, Tensor):
        return obj
    if isinstance(obj, list | tuple):
        for v in obj:
            t = _first_tensor(v)
            if t is not None:
                return t
    if isinstance(obj, Mapping):
        for v in obj.values():
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def _readings(shapes: list[tuple[int, ...]], steps: int, batch: int, min_rank: int = 3) -> set[str]:
    """Every way the calls of one layer during one model call of ``steps`` x ``batch`` fit.

    A sequence reading needs ``min_rank`` axes: time, batch and at least one per-step feature
    axis (3) unless a layer is declared a sequence of scalars per sample (2).
    """
    out = set()
    if len(shapes) <= steps and all(len(s) >= 1 and s[0] == batch for s in shapes):
        out.add(_STEP)
    ranked = all(len(s) >= min_rank for s in shapes)
    if ranked and all(s[1] == batch for s in shapes) and sum(s[0] for s in shapes) == steps:
        out.add(_TIME_MAJOR)
    if (
        ranked
        and all(s[0] == batch for s in shapes)
        and sum(s[1] for s in shapes) == steps
        and any(s[1] > 1 for s in shapes)  # (B, 1, ...) chunks are steps with a unit axis
    ):
        out.add(_BATCH_FIRST)
    if out == {_STEP, _TIME_MAJOR} and all(s[0] == 1 for s in shapes):
        out = {_STEP}  # B == 1, one step per call: (1, 1, ...) reads the same either way
    return out


class ActivityRecorder:
    """Record per-layer activity of ``model`` while inside ``with``; hooks are always removed.

    ``needs`` selects what is stored ("spikes", "membrane", "inputs", "activations"; pass an
    energy term's ``.needs``); layers that can give none of them are not hooked at all.
    ``keep_graph=True`` keeps tensors attached to the autograd graph (training with an energy
    term); ``False`` detaches them (measurement). Call :meth:`clear` between forward passes and
    :meth:`record` after one to get an :class:`ActivityRecord` of time-major (T, B, ...) tensors.
    Models with a fast engine (``add_sequence_listener``, e.g. SpikingNet) hand over whole
    time-major sequences instead of per-step hook calls; the record is the same either way.

    Time (see the module docstring): ``time="step"`` when you call the model once per time step,
    ``"sequence"`` when each call gets a whole sequence (``None``, the default, is
    ``"sequence"`` that also refuses a model called several times with every layer once per
    call, the mark of a model stepped by the caller); ``batch_first=True`` when sequences are
    ``(B, T, ...)``; ``layer_time`` declares layers whose calls cannot be told apart ("auto",
    "step", "sequence", or ``{layer name: "step" | "sequence"}``). spikeenergy's own models
    declare every layer a step (the fast engine and ``nn.GRU`` announce their sequences).

    With ``"inputs"`` in ``needs``, a module with weight matrices that no adapter counts
    (``nn.LSTM``, ``nn.Embedding``, Norse recurrent cells, a hand-written layer) makes
    :meth:`record` raise when it ran, rather than leaving its operations out of the ledger.

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
        *,
        time: str | None = None,
        batch_first: bool = False,
        layer_time: str | Mapping[str, str] | None = None,
    ) -> None:
        needs = frozenset(needs)
        unknown = needs - NEEDS
        if unknown:
            raise ValueError(f"unknown needs {sorted(unknown)}; use a subset of {sorted(NEEDS)}")
        if not needs:
            raise ValueError(f"needs is empty; ask for at least one of {sorted(NEEDS)}")
        if time is not None and time not in TIME_MODES:
            raise ValueError(f"time={time!r}; use one of {TIME_MODES} (or None)")
        if layer_time is None:
            layer_time = _default_layer_time(model)
        if isinstance(layer_time, str):
            if layer_time not in LAYER_TIME:
                raise ValueError(f"layer_time={layer_time!r}; use one of {LAYER_TIME} or a dict")
        else:
            bad = {k: v for k, v in layer_time.items() if v not in LAYER_TIME}
            if bad:
                raise ValueError(f"layer_time values {bad}; use one of {LAYER_TIME}")
        if time == "step" and _declares(layer_time, "sequence"):
            raise ValueError(
                "time='step' (the model is called once per time step) contradicts "
                "layer_time='sequence': a layer cannot see a whole sequence inside one step"
            )
        self.model = model
        self.needs = needs
        self.keep_graph = keep_graph
        self.time = time
        self.batch_first = bool(batch_first)
        self.layer_time: str | dict[str, str] = (
            layer_time if isinstance(layer_time, str) else dict(layer_time)
        )
        self._slots: list[_Slot] = []
        self._by_module: dict[int, _Slot] = {}
        self._handles: list[RemovableHandle] = []
        self._model_calls: list[tuple[int, ...] | None] = []  # input shape of each model call
        self._current: int | None = None  # index of the model call now running
        self._uncounted: dict[str, list[str]] = {}  # layers that ran with uncounted weights

    # ------------------------------------------------------------------ context management
    def __enter__(self) -> ActivityRecorder:
        if self._handles:
            raise RuntimeError("ActivityRecorder is already active; do not nest the same recorder")
        self._slots = []
        self.clear()
        try:
            self._handles.append(
                self.model.register_forward_pre_hook(self._model_pre_hook(), with_kwargs=True)
            )
            for name, module in self.model.named_modules():
                adapter = adapter_for(module)
                if adapter is None:
                    weights = uncounted_weights(module) if "inputs" in self.needs else []
                    if weights:
                        self._handles.append(
                            module.register_forward_hook(self._refuse_hook(name, module, weights))
                        )
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
            if isinstance(self.layer_time, dict):
                names = {s.name for s in self._slots}
                missing = sorted(set(self.layer_time) - names)
                if missing:
                    raise ValueError(
                        f"layer_time names {missing} are no recorded layers; recorded: "
                        f"{sorted(names)}"
                    )
            for module in self.model.modules():
                add = getattr(module, "add_sequence_listener", None)
                if callable(add):
                    self._handles.append(add(self._on_sequence))
            self._handles.append(self.model.register_forward_hook(self._model_post_hook()))
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
        self._current = None

    @property
    def active(self) -> bool:
        """True while hooks are installed."""
        return bool(self._handles)

    # ------------------------------------------------------------------ recording
    def _model_pre_hook(self) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
            x = _first_tensor(args)
            if x is None:
                x = _first_tensor(kwargs)
            self._current = len(self._model_calls)
            self._model_calls.append(tuple(x.shape) if x is not None else None)

        setattr(hook, SEQUENCE_AWARE, True)
        return hook

    def _model_post_hook(self) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            self._current = None

        setattr(hook, SEQUENCE_AWARE, True)
        return hook

    def _refuse_hook(self, name: str, module: nn.Module, weights: list[str]) -> Any:
        def hook(m: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            self._uncounted[name or type(module).__name__] = weights

        return hook

    def _hook(self, slot: _Slot) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            captured = slot.adapter.capture(module, args, output)
            if slot.sequence and slot.calls:
                raise RuntimeError(
                    f"layer {slot.name!r} ran per step and as a sequence in one pass"
                )
            ref = next((captured[f] for f in _REF_FIELDS if f in captured), None)
            shape = tuple(ref.shape) if isinstance(ref, Tensor) else ()
            slot.meta.append(_Call(self._current, shape))
            for f in slot.fields:
                if f not in captured:
                    continue  # optional fields (a GRU's initial state) may be absent
                t = _resolve(captured[f])
                if not self.keep_graph:
                    t = t.detach()
                slot.calls.setdefault(f, []).append(t)

        setattr(hook, SEQUENCE_AWARE, True)  # the fast engine may bypass this hook (see below)
        return hook

    def _on_sequence(self, module: nn.Module, fields: Mapping[str, Field]) -> None:
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
            t = _resolve(fields[f])  # lazily built fields
            if t.is_sparse:
                t = t.to_dense()
            if not self.keep_graph:
                t = t.detach()
            slot.calls.setdefault(f, []).append(t)

    def clear(self) -> None:
        """Drop everything recorded so far (call before each forward pass)."""
        for slot in self._slots:
            slot.calls.clear()
            slot.meta.clear()
            slot.sequence = False
        self._model_calls = []
        self._uncounted = {}

    # ------------------------------------------------------------------ time axis
    def _declared(self, name: str) -> str:
        if isinstance(self.layer_time, str):
            return self.layer_time
        return self.layer_time.get(name, "auto")

    def _frame(self, index: int) -> tuple[int, int]:
        """(T, B) of model call ``index`` (a whole sequence), checked against stepwise layers."""
        shape = self._model_calls[index]
        layout = "(B, T, ...)" if self.batch_first else "(T, B, ...)"
        # a sequence of per-step features needs 3 axes; (T, B) scalars only when declared
        min_rank = 2 if self.time == "sequence" else 3
        if shape is None or len(shape) < min_rank:
            raise TimeAxisError(
                f"the model was called on {'no tensor' if shape is None else f'shape {shape}'}, "
                f"not a sequence {layout} of per-step features: pass time='step' if you call "
                "the model once per time step (time='sequence' if it really is a sequence of "
                "scalars)"
            )
        steps, batch = (shape[1], shape[0]) if self.batch_first else (shape[0], shape[1])
        for slot in self._slots:  # convolutions run one step per call: their batch is sure
            if not slot.adapter.stepwise or slot.sequence:
                continue
            seen = {c.shape[0] for c in slot.meta if c.model_call == index and c.shape}
            if seen and seen != {batch}:
                raise TimeAxisError(
                    f"the model input of shape {shape} read as a sequence {layout} has B={batch} "
                    f"samples, but layer {slot.name!r} (one time step per call) ran on batches "
                    f"of {sorted(seen)}: pass time='step' if you call the model once per time "
                    "step (Harness / measure: mode='step')"
                    + (", or batch_first=False" if self.batch_first else "")
                    + ("" if self.batch_first else ", or batch_first=True for (B, T, ...) input")
                )
        return steps, batch

    def _check_stepped_model(self) -> None:
        """time=None: refuse a model called several times with every layer once per call."""
        if self.time is not None or len(self._model_calls) < 2:
            return
        auto = [
            s
            for s in self._slots
            if s.meta and not (s.sequence or s.adapter.sequence or s.adapter.stepwise)
        ]
        if not auto or any(self._declared(s.name) != "auto" for s in auto):
            return
        n = len(self._model_calls)
        leads = {shape[0] if shape else None for shape in self._model_calls}
        for s in auto:
            per_call = [c.model_call for c in s.meta]
            if sorted(per_call, key=lambda v: -1 if v is None else v) != list(range(n)):
                return
            if any(not c.shape or c.shape[0] not in leads for c in s.meta):
                return
        raise TimeAxisError(
            f"the model was called {n} times since clear() and every layer ran once per call on "
            "a tensor led by the model input's first axis: this is a model called once per time "
            "step, or several whole-sequence passes of a time-batched model. Say which: "
            "ActivityRecorder(..., time='step') when you call it once per step (snnTorch "
            "init_hidden=True models), time='sequence' when each call is a whole sequence"
        )

    def _layout(self, slot: _Slot) -> str:
        """How ``slot``'s calls map to time: "step", "time-major" or "batch-first"."""
        declared = self._declared(slot.name)
        if self.time == "step":
            return _STEP
        want = _BATCH_FIRST if self.batch_first else _TIME_MAJOR
        groups: dict[int | None, list[tuple[int, ...]]] = {}
        for c in slot.meta:
            groups.setdefault(c.model_call, []).append(c.shape)
        chosen: set[str] = set()
        for index, shapes in groups.items():
            if index is None:  # ran outside a call of the model: no T and B to read against
                if declared == "step":
                    chosen.add(_STEP)
                    continue
                if declared == "sequence":
                    chosen.add(want)
                    continue
                raise TimeAxisError(
                    f"layer {slot.name!r} ran outside a call of the recorded model, so its time "
                    f"axis cannot be read from the model input; declare it: "
                    f"layer_time={{{slot.name!r}: 'step'}} (or 'sequence'), or time='step'"
                )
            steps, batch = self._frame(index)
            readings = _readings(shapes, steps, batch, 2 if declared == "sequence" else 3)
            if declared == "step":
                if _STEP not in readings:
                    raise TimeAxisError(self._mismatch(slot, shapes, steps, batch, "one step"))
                chosen.add(_STEP)
            elif declared == "sequence":
                seq = readings - {_STEP}
                if not seq:
                    raise TimeAxisError(self._mismatch(slot, shapes, steps, batch, "a sequence"))
                chosen.add(want if want in seq else seq.pop())
            elif len(readings) == 1:
                chosen.add(readings.pop())
            elif not readings:
                raise TimeAxisError(self._mismatch(slot, shapes, steps, batch, None))
            else:
                raise TimeAxisError(self._ambiguous(slot, shapes, steps, batch, readings))
        if len(chosen) != 1:
            raise TimeAxisError(
                f"layer {slot.name!r} ran per step in one model call and as a sequence in "
                f"another ({sorted(chosen)}); call recorder.clear() between forward passes"
            )
        return chosen.pop()

    def _mismatch(
        self,
        slot: _Slot,
        shapes: list[tuple[int, ...]],
        steps: int,
        batch: int,
        declared: str | None,
    ) -> str:
        seq = "(B, T, ...)" if self.batch_first else "(T, B, ...)"
        calls = f"{len(shapes)} call(s) on shape(s) {sorted(set(shapes))}"
        frame = f"the model input has T={steps} steps and B={batch} samples"
        if declared is not None:
            return (
                f"layer {slot.name!r} is declared to run {declared} per call, but made {calls} "
                f"while {frame}; fix layer_time for it"
            )
        return (
            f"layer {slot.name!r} made {calls} while {frame}: neither up to T calls on (B, ...) "
            f"(one step each) nor calls covering the sequence {seq}. If you call the model once "
            "per time step pass time='step' (Harness / measure: mode='step'); if the model's "
            "sequences are batch-first pass batch_first=True; otherwise declare the layer with "
            "layer_time"
        )

    def _ambiguous(
        self,
        slot: _Slot,
        shapes: list[tuple[int, ...]],
        steps: int,
        batch: int,
        readings: set[str],
    ) -> str:
        said = {
            _STEP: "one time step per call (an axis of the step's tensor happens to match)",
            _TIME_MAJOR: "whole sequences, time-major (T, B, ...)",
            _BATCH_FIRST: "whole sequences, batch-first (B, T, ...)",
        }
        options = "; ".join(said[r] for r in sorted(readings))
        hint = " (a batch size different from the number of time steps also settles it)"
        return (
            f"layer {slot.name!r} made {len(shapes)} call(s) on shape(s) {sorted(set(shapes))} "
            f"while the model input has T={steps} steps and B={batch} samples; that reads as "
            f"{options}. Declare it: layer_time={{{slot.name!r}: 'sequence'}} or "
            f"layer_time={{{slot.name!r}: 'step'}}, or layer_time='sequence' / 'step' for "
            f"every layer (ActivityRecorder, Harness and measure take layer_time)"
            + (hint if steps == batch else "")
        )

    # ------------------------------------------------------------------ the record
    def record(self) -> ActivityRecord:
        """The activity recorded since the last :meth:`clear`, stacked time-major (T, B, ...)."""
        if self._uncounted:
            listed = ", ".join(f"{n!r} ({', '.join(w)})" for n, w in self._uncounted.items())
            raise TypeError(
                f"layers {listed} ran with weight matrices that no adapter counts, so their "
                "synaptic operations would be missing from the ledger; use nn.Linear / nn.Conv1d "
                "/ nn.Conv2d / nn.GRU layers or add a row to spikeenergy.record.adapters.ADAPTERS "
                "(record without 'inputs' in needs if you only need spikes or activations)"
            )
        self._check_stepped_model()
        layers: dict[str, LayerActivity] = {}
        for slot in self._slots:
            if not slot.calls:
                continue  # module exists but did not run in this forward pass
            if slot.sequence:
                layout, call_steps = _TIME_MAJOR, None  # the fast engine stands for step calls
            elif slot.adapter.sequence:
                layout = _TIME_MAJOR
                call_steps = tuple(c.shape[0] for c in slot.meta)
            elif slot.adapter.stepwise:
                layout, call_steps = _STEP, None
            else:
                layout = self._layout(slot)
                axis = 1 if layout == _BATCH_FIRST else 0
                call_steps = None if layout == _STEP else tuple(c.shape[axis] for c in slot.meta)
            data: dict[str, Tensor] = {}
            for f, ts in slot.calls.items():
                if layout == _BATCH_FIRST:
                    ts = [t.transpose(0, 1) for t in ts]
                seq = layout != _STEP
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
                if call_steps is not None and len(call_steps) == len(slot.calls["inputs"]):
                    synapses = tuple(replace(g, call_steps=call_steps) for g in synapses)
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


def _resolve(value: Field) -> Tensor:
    return value if isinstance(value, Tensor) else value()


def _declares(layer_time: str | Mapping[str, str], mode: str) -> bool:
    if isinstance(layer_time, str):
        return layer_time == mode
    return mode in layer_time.values()


def _default_layer_time(model: nn.Module) -> str:
    """spikeenergy's own models call every layer once per step (or announce sequences)."""
    from spikeenergy.models.networks import SpikeEnergyModel

    return "step" if isinstance(model, SpikeEnergyModel) else "auto"


def stack_steps(outputs: list[Any]) -> Any:
    """Per-step model outputs stacked time-major: tensors to (T, ...), tuples element-wise."""
    if not outputs:
        raise ValueError("no step outputs to stack (T = 0)")
    first = outputs[0]
    if isinstance(first, Tensor):
        return torch.stack(outputs, 0)
    if isinstance(first, tuple) and not hasattr(first, "_fields"):
        return tuple(stack_steps(list(parts)) for parts in zip(*outputs, strict=True))
    return list(outputs)  # states and other objects: one per step


def run_steps(
    model: nn.Module | Callable[..., Any],
    x: Tensor,
    *,
    batch_first: bool = False,
    state: bool = False,
) -> Any:
    """Call ``model`` once per time step of ``x`` and stack the outputs time-major (T, B, ...).

    ``x`` is ``(T, B, ...)`` (``(B, T, ...)`` with ``batch_first``). ``state=False``: the model
    keeps its own state between calls (snnTorch ``init_hidden=True``), ``out = model(x_t)``;
    ``state=True``: Norse's convention ``out, s = model(x_t, s)`` starting from ``s = None``,
    and the stacked outputs are returned (the last state is dropped). Record it with
    ``ActivityRecorder(model, time="step")``.
    """
    steps = x.unbind(1) if batch_first else x.unbind(0)
    outs: list[Any] = []
    s: Any = None
    for x_t in steps:  # x_t: (B, ...)
        if state:
            out, s = model(x_t, s)
        else:
            out = model(x_t)
        outs.append(out)
    return stack_steps(outs)
