"""NIR export of spiking models (spikeenergy's own and users'), exact or refused, with energy.

What is exported: the layers of ONE time step, as NIR nodes named like the model's modules
(``fc.0``, ``fc_spk.0``, ``readout``; ``0``, ``1``, ... for an ``nn.Sequential``), so a per-layer
energy row of the ledger lands on the node of its layer. Supported models:

- spikeenergy ``snn-mlp`` and ``snn-cnn`` (both backends, ``recurrent`` too);
- a user's ``nn.Sequential`` (or Norse ``SequentialState``) of ``nn.Linear``, ``nn.Conv2d``,
  ``nn.Flatten``, ``nn.MaxPool2d`` (after a spiking layer), ``nn.Identity`` / ``nn.Dropout``
  (identity at inference), snnTorch ``Leaky`` / ``Synaptic`` and Norse ``LIFBoxCell`` /
  ``LIFCell`` / ``LIF`` neurons, stepped per time step or (Norse ``LIF``, time-batched layers)
  run on the whole sequence.

Every written graph computes the model's function when read by snnTorch's
``import_from_nir`` and Norse's ``from_nir`` (checked by simulation, see
:mod:`spikeenergy.export.nir_check`). Where NIR, or those importers, cannot express a layer the
export raises :class:`NIRExportError` naming the option that makes it exact; it never writes a
different network. Why the nodes are written by hand rather than by the libraries' exporters
(their source, snnTorch 1.0 / Norse 1.1, was read for this):

- NIR neurons reset to ``v_reset`` at the spike step. snnTorch's ``export_to_nir`` and Norse's
  ``to_nir`` ignore the reset mechanism, so a subtract-reset neuron is written as a different
  (reset-to-zero) neuron; snnTorch's ``Synaptic`` (reset delayed one step) is not a NIR CubaLIF
  either. Both are refused here.
- Norse's ``from_nir`` ignores a LIF's ``r`` and snnTorch's importer rescales the threshold by it:
  a leaky layer is written as ``nir.LIF`` with ``r = 1`` and the input gain ``1 / (1 - beta)``
  folded into the weights (and biases) that feed it, which both importers read the same way.
- snnTorch's importer requires a CubaLIF's ``r = tau_mem / dt`` and Norse's reads ``r`` and
  ``w_in``: synaptic layers use ``r = 1 / (1 - beta)``, ``w_in = 1 / (1 - alpha)`` (Norse's own
  ``to_nir`` writes ``w_in = 1`` for ``LIFCell``, which Norse reads back with the input scaled by
  ``1 - alpha``).
- NIR has no max-pooling node; max-pooling of binary spikes is written exactly as ``SumPool2d``
  followed by a LIF with ``tau = dt`` (no memory) and threshold 0.5: a window spikes iff any
  input in it spiked. (Norse's importer has no ``AvgPool2d``; it would drop the node.)
- ``Flatten`` dims are written negative (``-3 .. -1``), so importers that pass them to
  ``torch.nn.Flatten`` flatten each sample, not the batch (``start_dim=0`` flattens the batch).
- A recurrent layer is a sub-graph ``input -> lif <-> w_rec -> output`` (snnTorch's own layout for
  ``RLeaky``); snnTorch's importer rewires a flat LIF <-> Linear cycle wrongly (it feeds the
  graph input into the recurrent weight).

Time constants use ``dt = 1e-4`` s (snnTorch's importer hard-codes it; Norse's ``from_nir``
defaults to 1e-3, so pass ``dt=1e-4``: the value is in the graph metadata as ``dt_s`` and
:func:`spikeenergy.export.nir_check.import_nir` passes it). The time loop and the readout
reduction (mean over time for ``readout="membrane"``, sum for ``"spike_count"``) are outside the
graph and named in its metadata (``readout``).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from spikeenergy.extras import require_extra
from spikeenergy.io import atomic_path
from spikeenergy.metrics.base import TOTAL
from spikeenergy.metrics.meter import EnergyReport
from spikeenergy.models.families import leak_input_gain

DT = 1e-4  # seconds per time step written into NIR time constants (snnTorch's importer's dt)

#: Per-layer energy metadata a caller may attach: node (module) name -> {column: value}.
EnergyMetadata = Mapping[str, Mapping[str, float]]

_RESERVED = ("input", "output")
_UNIT_FOLD_RTOL = 1e-6  # a fold within this of 1 is 1 (float32 reciprocals that cancel exactly)


class NIRExportError(ValueError):
    """The model (or one layer) cannot be written as a NIR graph that computes the same function."""


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class _Layer:
    """One per-step layer: module name (node name), the module, extra input gain, recurrence."""

    name: str
    module: nn.Module
    gain: float = 1.0  # spikeenergy's driver multiplies the neuron's input by this (Norse)
    recurrent: nn.Module | None = None  # nn.Linear fed with this layer's spikes of step t-1
    recurrent_name: str | None = None


@dataclass(frozen=True)
class NIRPlan:
    """The per-step layers of a model in order, and how its output is reduced over time.

    ``time_batched``: the model runs whole ``(T, B, ...)`` sequences per call (Norse ``LIF``);
    otherwise it is called once per time step. ``readout``: how the model turns the graph's
    per-step output into logits ("mean" or "sum" over time; "none" for a user's model, whose
    output per step is the graph output). ``neurons``: names of the spiking layers.
    """

    layers: tuple[_Layer, ...]
    input_shape: tuple[int, ...]
    backend: str
    readout: str
    time_batched: bool = False
    neurons: tuple[str, ...] = field(default=())


def _spikeenergy_plan(model: nn.Module) -> NIRPlan:
    """Per-step layers of a spikeenergy SpikingNet (see SpikingNet.forward)."""
    from spikeenergy.models.neurons import input_gain

    net: Any = model  # a SpikingNet: spec, input_shape, pool, named modules
    spec = net.spec
    family = spec.family_record
    if not family.nir_exportable:
        kind = "is dense" if not family.spiking else "has no NIR export (nir_exportable=False)"
        raise NIRExportError(
            f"NIR export needs a spiking model the exporter knows; {spec.family!r} {kind} "
            "(export its energy table as json/csv/hdf5 instead)"
        )
    gain = input_gain(spec.neuron, spec.backend)
    mods = dict(model.named_modules())
    layers: list[_Layer] = []
    for i in range(len(spec.conv_channels) if family.conv else 0):
        layers.append(_Layer(f"conv.{i}", mods[f"conv.{i}"]))
        layers.append(_Layer(f"conv_spk.{i}", mods[f"conv_spk.{i}"], gain))
        if not isinstance(net.pool, nn.Identity):
            layers.append(_Layer(f"pool.{i}", net.pool))
    shape = tuple(net.input_shape)
    if family.conv or len(shape) > 1:
        layers.append(_Layer("flatten", nn.Flatten()))  # SpikingNet: h.flatten(1)
    for i in range(len(spec.hidden)):
        layers.append(_Layer(f"fc.{i}", mods[f"fc.{i}"]))
        rec = mods.get(f"fc_rec.{i}") if spec.recurrent else None
        name = f"fc_rec.{i}" if rec is not None else None
        layers.append(_Layer(f"fc_spk.{i}", mods[f"fc_spk.{i}"], gain, rec, name))
    layers.append(_Layer("readout", mods["readout"]))
    if spec.readout == "spike_count":
        layers.append(_Layer("readout_spk", mods["readout_spk"], gain))
    neurons = tuple(x.name for x in layers if _is_neuron(x.module))
    readout = "mean" if spec.readout == "membrane" else "sum"
    return NIRPlan(tuple(layers), shape, spec.backend, readout, False, neurons)


def _flatten_sequential(seq: nn.Module, prefix: str = "") -> list[tuple[str, nn.Module]]:
    out: list[tuple[str, nn.Module]] = []
    for name, child in seq.named_children():
        full = f"{prefix}{name}"
        if isinstance(child, nn.Sequential):
            out += _flatten_sequential(child, f"{full}.")
        else:
            out.append((full, child))
    return out


def _is_neuron(m: nn.Module) -> bool:
    return _neuron_library(m) is not None


def _neuron_library(m: nn.Module) -> str | None:
    """The library (``"snntorch"`` / ``"norse"``) a module comes from, else None."""
    mod = type(m).__module__
    if mod.startswith("snntorch"):
        return "snntorch"
    if mod.startswith("norse"):
        return "norse"
    return None


def _norse_sequence_module(m: nn.Module) -> bool:
    from norse.torch import LIF

    return isinstance(m, LIF)


def _user_plan(model: nn.Module, input_shape: Sequence[int] | None) -> NIRPlan:
    """Per-step layers of a user's nn.Sequential / Norse SequentialState."""
    if not isinstance(model, nn.Sequential):
        raise NIRExportError(
            f"NIR export takes a spikeenergy model or an nn.Sequential (or Norse "
            f"SequentialState) of per-step layers, got {type(model).__name__}; wrap the layers "
            "of one time step in order, e.g. nn.Sequential(net.fc1, net.lif1, net.fc2, net.lif2)"
        )
    items = _flatten_sequential(model)
    if not items:
        raise NIRExportError("the nn.Sequential is empty; nothing to export")
    layers = [_Layer(n, m) for n, m in items]
    libs = {lib for _, m in items if (lib := _neuron_library(m)) is not None}
    backend = "+".join(sorted(libs)) if libs else "torch"
    seq_mods = [n for n, m in items if _norse_sequence_module(m)]
    cells = [n for n, m in items if _is_neuron(m) and not _norse_sequence_module(m)]
    if seq_mods and cells:
        raise NIRExportError(
            f"layers {seq_mods} run whole sequences (Norse LIF) and {cells} one step per call; "
            "use one idiom per model (Norse LIFCell for per-step models, LIF for time-batched)"
        )
    for name, m in items[:-1]:  # a neuron returning (spk, mem) must come last
        if _neuron_library(m) == "snntorch" and (
            not getattr(m, "init_hidden", False) or getattr(m, "output", False)
        ):
            raise NIRExportError(
                f"snnTorch neuron {name!r} returns (spk, mem) (init_hidden=False or "
                "output=True), which the next layer of an nn.Sequential cannot take; build "
                "neurons inside the Sequential with init_hidden=True (output=True only last)"
            )
    if input_shape is None:
        first = items[0][1]
        if isinstance(first, nn.Linear):
            input_shape = (first.in_features,)
        else:
            raise NIRExportError(
                f"cannot infer the per-step input shape of a model starting with "
                f"{type(first).__name__}; pass input_shape=(C, H, W) (one sample, one step)"
            )
    neurons = tuple(n for n, m in items if _is_neuron(m))
    shape = tuple(int(s) for s in input_shape)
    return NIRPlan(tuple(layers), shape, backend, "none", bool(seq_mods), neurons)


def nir_plan(model: nn.Module, input_shape: Sequence[int] | None = None) -> NIRPlan:
    """The per-step layers :func:`build_nir_graph` writes for ``model`` (no checks of layers)."""
    from spikeenergy.models import SpikeEnergyModel

    if isinstance(model, SpikeEnergyModel):
        if input_shape is not None and tuple(input_shape) != model.input_shape:
            raise ValueError(
                f"input_shape={tuple(input_shape)} differs from the model's "
                f"{model.input_shape}; leave it out for spikeenergy models"
            )
        return _spikeenergy_plan(model)
    return _user_plan(model, input_shape)


# --------------------------------------------------------------------------- neurons


def _uniform(name: str, what: str, a: np.ndarray) -> float:
    """The single value of ``a``; NIRExportError when its entries differ."""
    if a.size == 0 or not np.all(a == a.reshape(-1)[0]):
        raise NIRExportError(
            f"layer {name!r}: per-neuron {what} values differ; snnTorch's NIR importer "
            f"reads one {what} per layer, so the graph would not run the same network there"
        )
    return float(a.reshape(-1)[0])


def _arr(v: Any) -> np.ndarray:
    if isinstance(v, torch.Tensor):
        return v.detach().cpu().double().numpy()
    return np.asarray(v, dtype=np.float64)


def _decay_fraction(name: str, what: str, k: float) -> float:
    """Check the per-step fraction ``dt / tau`` lies in (0, 1] and return it."""
    if not (0.0 < k <= 1.0):
        raise NIRExportError(
            f"layer {name!r}: {what} gives a decay fraction dt/tau = {k:g} per step; NIR "
            "importers need 0 < dt/tau <= 1 (decay 0 <= beta < 1; beta = 1, no leak, has "
            "tau = infinity)"
        )
    return k


def _snntorch_neuron(name: str, m: Any, shape: tuple[int, ...]) -> tuple[Any, float]:
    """snnTorch Leaky -> nir.LIF (r = 1, fold 1/(1-beta)); Synaptic -> nir.CubaLIF."""
    import nir
    import snntorch as snn

    kind = type(m).__name__
    if type(m) not in (snn.Leaky, snn.Synaptic):
        raise NIRExportError(
            f"layer {name!r}: snnTorch {kind} has no exact NIR export here; supported: Leaky "
            "and Synaptic (reset_mechanism='zero')"
        )
    reset = str(m.reset_mechanism)
    if reset != "zero":
        raise NIRExportError(
            f"layer {name!r}: snnTorch {kind} with reset_mechanism={reset!r} cannot be written "
            "in NIR, whose neurons reset to v_reset at the spike step; use reset='zero' "
            "(spikeenergy NeuronSpec(reset='zero'); snnTorch reset_mechanism='zero') for an "
            "exact export"
        )
    if float(m.graded_spikes_factor) != 1.0 or m.inhibition or m.state_quant:
        raise NIRExportError(
            f"layer {name!r}: snnTorch {kind} with graded spikes, inhibition or state "
            "quantization has no NIR equivalent"
        )
    th = _uniform(name, "threshold", _arr(m.threshold))
    beta = np.broadcast_to(_arr(m.beta).clip(0.0, 1.0), shape)
    k_mem = _decay_fraction(name, "beta", _uniform(name, "beta", 1.0 - beta))
    ones = np.ones(shape)
    if isinstance(m, snn.Leaky):
        node = nir.LIF(
            tau=ones * (DT / k_mem),
            r=ones,
            v_leak=0.0 * ones,
            v_threshold=th * ones,
            v_reset=0.0 * ones,
        )
        # mem = beta*mem + I  <=>  NIR r = 1 with input I / (1 - beta): the leak's input gain
        return node, leak_input_gain(k_mem)
    if m.reset_delay:
        raise NIRExportError(
            f"layer {name!r}: snnTorch Synaptic(reset_mechanism='zero') with reset_delay=True "
            "sets the membrane of the step AFTER a spike to 0 (discarding that step's input); "
            "NIR's CubaLIF resets at the spike step. Use reset_delay=False in snnTorch, or "
            "backend='norse' for spikeenergy's model='synaptic' (Norse LIFCell), for an exact "
            "export"
        )
    alpha = np.broadcast_to(_arr(m.alpha).clip(0.0, 1.0), shape)
    k_syn = _decay_fraction(name, "alpha", _uniform(name, "alpha", 1.0 - alpha))
    node = nir.CubaLIF(
        tau_syn=ones * (DT / k_syn),
        tau_mem=ones * (DT / k_mem),
        r=ones * leak_input_gain(k_mem),
        v_leak=0.0 * ones,
        v_threshold=th * ones,
        v_reset=0.0 * ones,
        w_in=ones / k_syn,
    )
    return node, 1.0


def _norse_neuron(name: str, m: Any, shape: tuple[int, ...]) -> tuple[Any, float]:
    """Norse LIFBoxCell -> nir.LIF (r = 1: Norse's own form); LIFCell / LIF -> nir.CubaLIF."""
    import nir
    from norse.torch import LIF, LIFBoxCell, LIFCell

    from spikeenergy.models.neurons import norse_reset_kind

    kind = type(m).__name__
    if type(m) not in (LIFBoxCell, LIFCell, LIF):
        raise NIRExportError(
            f"layer {name!r}: Norse {kind} has no exact NIR export here; supported: "
            "LIFBoxCell (reset to zero), LIFCell and LIF"
        )
    p = m.p
    dt = float(m.dt)
    if isinstance(m, LIFBoxCell):
        reset = norse_reset_kind(p.reset_method)
        if reset != "zero":
            raise NIRExportError(
                f"layer {name!r}: Norse LIFBoxCell with a {reset} reset cannot be written in "
                "NIR, whose neurons reset to v_reset at the spike step; use reset='zero' "
                "(spikeenergy NeuronSpec(reset='zero'); Norse reset_method=reset_value) for an "
                "exact export"
            )
    if np.any(_arr(p.v_leak) != 0.0) or np.any(_arr(p.v_reset) != 0.0):
        raise NIRExportError(
            f"layer {name!r}: Norse {kind} with v_leak or v_reset != 0; snnTorch's NIR "
            "importer supports only v_leak = 0 and resets to 0, so use v_leak = v_reset = 0"
        )
    th = _uniform(name, "threshold", _arr(p.v_th))
    k_mem = _decay_fraction(
        name, "tau_mem_inv * dt", _uniform(name, "tau_mem_inv", _arr(p.tau_mem_inv) * dt)
    )
    ones = np.ones(shape)
    if isinstance(m, LIFBoxCell):
        node = nir.LIF(
            tau=ones * (DT / k_mem),
            r=ones,
            v_leak=0.0 * ones,
            v_threshold=th * ones,
            v_reset=0.0 * ones,
        )
        return node, 1.0  # v += dt*tau_mem_inv*(I - v) is NIR's LIF with r = 1
    k_syn = _decay_fraction(
        name, "tau_syn_inv * dt", _uniform(name, "tau_syn_inv", _arr(p.tau_syn_inv) * dt)
    )
    node = nir.CubaLIF(
        tau_syn=ones * (DT / k_syn),
        tau_mem=ones * (DT / k_mem),
        r=ones * leak_input_gain(k_mem),  # snnTorch's importer requires r = tau_mem / dt ...
        v_leak=0.0 * ones,
        v_threshold=th * ones,
        v_reset=0.0 * ones,
        w_in=ones / k_syn,  # Norse: i += I (a jump), NIR: tau_syn di/dt = -i + w_in I
    )
    return node, k_mem  # ... and Norse's membrane input is k_mem * i: fold k_mem into the weights


# --------------------------------------------------------------------------- graph builder


class _Builder:
    """Assembles nodes along the chain of layers, tracking shapes and foldable weight nodes."""

    def __init__(self, plan: NIRPlan) -> None:
        import nir

        self.plan = plan
        self.nodes: dict[str, Any] = {"input": nir.Input(input_type=np.array(plan.input_shape))}
        self.edges: list[tuple[str, str]] = []
        self.last = "input"
        self.shape = plan.input_shape
        self.last_is_spikes = False
        self.weight: str | None = None  # weight node whose output reaches `last` linearly
        self.where: dict[str, tuple[str, ...]] = {}  # module name -> node path
        self.leading = 2 if plan.time_batched else 1

    def _add(self, name: str, node: Any, out_shape: tuple[int, ...]) -> None:
        if name in self.nodes or name in _RESERVED:
            raise NIRExportError(f"layer name {name!r} is used twice or reserved (input/output)")
        node.input_type = {"input": np.array(self.shape)}
        node.output_type = {"output": np.array(out_shape)}
        self.nodes[name] = node
        self.edges.append((self.last, name))
        self.where.setdefault(name, (name,))
        self.last, self.shape = name, out_shape

    def add(self, layer: _Layer) -> None:
        import nir

        m, name = layer.module, layer.name
        if _is_neuron(m):
            self._neuron(layer)
            return
        if isinstance(m, nn.Identity | nn.Dropout):
            return  # identity at inference: no node
        spikes_in = self.last_is_spikes
        self.last_is_spikes = False
        if isinstance(m, nn.Linear):
            if self.shape != (m.in_features,):
                raise NIRExportError(
                    f"layer {name!r}: nn.Linear({m.in_features}, ...) gets per-step inputs of "
                    f"shape {self.shape}; put an nn.Flatten before it"
                )
            w = _arr(m.weight)
            node = nir.Affine(w, _arr(m.bias)) if m.bias is not None else nir.Linear(w)
            self._add(name, node, (m.out_features,))
            self.weight = name
        elif isinstance(m, nn.Conv2d):
            self._conv(name, m)
        elif isinstance(m, nn.Flatten):
            self._flatten(name, m)
        elif isinstance(m, nn.MaxPool2d):
            self._max_pool(name, m, spikes_in)
        else:
            raise NIRExportError(
                f"layer {name!r}: {type(m).__name__} has no exact NIR export; supported: "
                "nn.Linear, nn.Conv2d, nn.Flatten, nn.MaxPool2d (after a spiking layer), "
                "nn.Identity, nn.Dropout, snnTorch Leaky/Synaptic, Norse LIFBoxCell/LIFCell/LIF"
            )

    def _conv(self, name: str, m: nn.Conv2d) -> None:
        import nir

        if len(self.shape) != 3 or self.shape[0] != m.in_channels:
            raise NIRExportError(
                f"layer {name!r}: nn.Conv2d({m.in_channels}, ...) needs per-step inputs of "
                f"shape (C={m.in_channels}, H, W), got {self.shape}"
            )
        if m.padding_mode != "zeros":
            raise NIRExportError(
                f"layer {name!r}: padding_mode={m.padding_mode!r}; NIR convolutions pad with "
                "zeros (use padding_mode='zeros')"
            )
        with torch.no_grad():  # output shape; the caller's module stays where it is
            probe = torch.nn.functional.conv2d(
                torch.zeros(1, *self.shape),
                m.weight.detach().cpu(),
                None,
                m.stride,
                m.padding,  # type: ignore[arg-type]
                m.dilation,
                m.groups,
            )
        out = tuple(probe.shape[1:])
        padding: Any = m.padding if isinstance(m.padding, str) else tuple(m.padding)
        bias = _arr(m.bias) if m.bias is not None else np.zeros(m.out_channels)
        node = nir.Conv2d(
            input_shape=tuple(self.shape[1:]),
            weight=_arr(m.weight),
            stride=tuple(m.stride),
            padding=padding,
            dilation=tuple(m.dilation),
            groups=m.groups,
            bias=bias,
        )
        self._add(name, node, out)
        self.weight = name

    def _flatten(self, name: str, m: nn.Flatten) -> None:
        import nir

        rank = len(self.shape)

        def per_sample(d: int, what: str) -> int:
            if d < 0:
                return d
            if d - self.leading < 0:
                raise NIRExportError(
                    f"layer {name!r}: nn.Flatten({what}={d}) flattens the "
                    f"{'time/' if self.leading == 2 else ''}batch axis; use start_dim >= "
                    f"{self.leading}"
                )
            return d - self.leading - rank  # negative: right for batched and unbatched inputs

        start, end = per_sample(m.start_dim, "start_dim"), per_sample(m.end_dim, "end_dim")
        if not (-rank <= start <= end <= -1):
            raise NIRExportError(
                f"layer {name!r}: nn.Flatten(start_dim={m.start_dim}, end_dim={m.end_dim}) does "
                f"not fit per-step inputs of shape {self.shape}"
            )
        out = (
            *self.shape[: rank + start],
            math.prod(self.shape[rank + start : rank + end + 1]),
            *self.shape[rank + end + 1 :],
        )
        node = nir.Flatten(input_type={"input": np.array(self.shape)}, start_dim=start, end_dim=end)
        self._add(name, node, tuple(int(s) for s in out))

    def _max_pool(self, name: str, m: nn.MaxPool2d, spikes_in: bool) -> None:
        import nir

        if not spikes_in:
            raise NIRExportError(
                f"layer {name!r}: NIR has no max-pooling node; max-pooling is exported exactly "
                "only directly after a spiking layer (binary inputs: sum-pool + threshold 0.5)"
            )
        k = _pair(m.kernel_size)
        s = _pair(m.stride if m.stride is not None else m.kernel_size)
        if _pair(m.padding) != (0, 0) or _pair(m.dilation) != (1, 1) or m.ceil_mode:
            raise NIRExportError(
                f"layer {name!r}: nn.MaxPool2d with padding, dilation or ceil_mode has no exact "
                "NIR export; use padding=0, dilation=1, ceil_mode=False"
            )
        if len(self.shape) != 3:
            raise NIRExportError(f"layer {name!r}: nn.MaxPool2d needs (C, H, W) inputs")
        with torch.no_grad():
            out = tuple(m(torch.zeros(1, *self.shape)).shape[1:])
        pool = nir.SumPool2d(kernel_size=np.array(k), stride=np.array(s), padding=np.array([0, 0]))
        self._add(name, pool, out)
        ones = np.ones(out)
        # tau = dt: no memory (beta = 0); spikes iff the window's spike count > 0.5
        node = nir.LIF(tau=ones * DT, r=ones, v_leak=0 * ones, v_threshold=0.5 * ones)
        node.metadata = {"spikeenergy_role": f"max-pooling of binary spikes ({name})"}
        self._add(f"{name}.max", node, out)
        self.where.pop(f"{name}.max")
        self.last_is_spikes = True
        self.weight = None

    def _neuron(self, layer: _Layer) -> None:
        import nir

        name, m = layer.name, layer.module
        lib = _neuron_library(m)
        make = _snntorch_neuron if lib == "snntorch" else _norse_neuron
        node, fold = make(name, m, self.shape)
        fold *= layer.gain
        if math.isclose(fold, 1.0, rel_tol=_UNIT_FOLD_RTOL):
            fold = 1.0
        if fold != 1.0:
            self._fold(name, fold)
        if layer.recurrent is None:
            self._add(name, node, self.shape)
        else:
            rec = layer.recurrent
            if not isinstance(rec, nn.Linear) or rec.bias is not None:
                raise NIRExportError(
                    f"layer {name!r}: the recurrent weight must be a bias-free nn.Linear"
                )
            n = self.shape
            node.input_type = {"input": np.array(n)}
            node.output_type = {"output": np.array(n)}
            w_rec = nir.Linear(_arr(rec.weight) * fold)
            w_rec.input_type = {"input": np.array(n)}
            w_rec.output_type = {"output": np.array(n)}
            sub = nir.NIRGraph(
                nodes={
                    "input": nir.Input(input_type=np.array(n)),
                    "lif": node,
                    "w_rec": w_rec,
                    "output": nir.Output(output_type=np.array(n)),
                },
                edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
            )
            self._add(name, sub, self.shape)
            assert layer.recurrent_name is not None
            self.where[layer.recurrent_name] = (name, "w_rec")
        self.last_is_spikes = True
        self.weight = None

    def _fold(self, name: str, fold: float) -> None:
        """Multiply the weight node feeding neuron ``name`` (linearly) by ``fold``."""
        if self.weight is None:
            raise NIRExportError(
                f"layer {name!r}: its input gain {fold:g} must be folded into a weight layer "
                "before it (nn.Linear / nn.Conv2d), and there is none; put one before the neuron"
            )
        node = self.nodes[self.weight]
        node.weight = node.weight * fold
        if getattr(node, "bias", None) is not None:
            node.bias = node.bias * fold

    def graph(self) -> Any:
        import nir

        out = nir.Output(output_type=np.array(self.shape))
        out.input_type = {"input": np.array(self.shape)}
        self.nodes["output"] = out
        self.edges.append((self.last, "output"))
        return nir.NIRGraph(nodes=self.nodes, edges=self.edges, type_check=True)


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


# --------------------------------------------------------------------------- metadata


def _rows(energy: EnergyReport | EnergyMetadata) -> Mapping[str, Mapping[str, float]]:
    return energy.rows if isinstance(energy, EnergyReport) else energy


def _float_row(name: str, row: Mapping[str, float]) -> dict[str, float]:
    out = {}
    for k, v in row.items():
        try:
            out[str(k)] = float(v)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"energy metadata for {name!r}: {k}={v!r} is not a number (values are floats: "
                "joules per target, op counts)"
            ) from exc
    return out


def _attach_energy(graph: Any, where: Mapping[str, tuple[str, ...]], energy: Any) -> None:
    rows = _rows(energy)
    for name, row in rows.items():
        if name == TOTAL:
            graph.metadata.update({f"total.{k}": v for k, v in _float_row(name, row).items()})
            continue
        path = where.get(name)
        if path is None:
            raise ValueError(
                f"energy metadata for {name!r} names no layer of the graph; layers: "
                f"{', '.join(where)} (and {TOTAL!r} for graph totals)"
            )
        node = graph
        for part in path:
            node = node.nodes[part]
        node.metadata = {**node.metadata, **_float_row(name, row)}
    if isinstance(energy, EnergyReport):
        graph.metadata["samples"] = float(energy.samples)
        graph.metadata["policy"] = energy.policy
        graph.metadata["identity_json"] = json.dumps(energy.identity)
        graph.metadata["versions_json"] = json.dumps(energy.versions)
        graph.metadata["targets_json"] = json.dumps(list(energy.targets))


# --------------------------------------------------------------------------- public API


def build_nir_graph(
    model: nn.Module,
    energy: EnergyReport | EnergyMetadata | None = None,
    *,
    input_shape: Sequence[int] | None = None,
) -> Any:
    """The NIR graph of one time step of ``model``, exact or refused (:class:`NIRExportError`).

    ``energy``: an :class:`EnergyReport` or a plain mapping ``{layer name: {column: value}}``
    (joules per target, op counts; layer names are the model's module names, ``"total"`` for
    graph totals); each row becomes the ``metadata`` of its node, an unknown name raises.
    ``input_shape``: per-step shape of one sample, for users' models that do not start with an
    ``nn.Linear``. The model is not changed (its weights are copied).
    """
    require_extra("nir", "NIR export")
    plan = nir_plan(model, input_shape)
    b = _Builder(plan)
    with torch.no_grad():
        for layer in plan.layers:
            b.add(layer)
    graph = b.graph()
    graph.metadata = {
        "spikeenergy_backend": plan.backend,
        "dt_s": DT,
        "readout": plan.readout,
        "neuron_layers": ",".join(plan.neurons),
    }
    if energy is not None:
        _attach_energy(graph, b.where, energy)
    return graph


def check_nir_exportable(model: nn.Module, input_shape: Sequence[int] | None = None) -> None:
    """Raise :class:`NIRExportError` now if ``model`` cannot be exported (before slow work)."""
    build_nir_graph(model, input_shape=input_shape)


def export_nir(
    model: nn.Module,
    path: str | os.PathLike[str],
    energy: EnergyReport | EnergyMetadata | None = None,
    *,
    input_shape: Sequence[int] | None = None,
    check_input: torch.Tensor | None = None,
) -> Any:
    """Write ``model`` as a NIR file (see :func:`build_nir_graph`); returns the graph.

    ``check_input`` (time-major ``(T, B, ...)``): before writing, the graph is read back with
    snnTorch's and Norse's importers and run on it; any spike that differs from the model's
    raises :class:`~spikeenergy.export.nir_check.NIRRoundTripError` and nothing is written.
    The file is written atomically and reads back with ``nir.read(path)``.
    """
    require_extra("nir", "NIR export")
    import nir

    graph = build_nir_graph(model, energy, input_shape=input_shape)
    if check_input is not None:
        from spikeenergy.export.nir_check import verify_nir

        verify_nir(model, check_input, graph, input_shape=input_shape)
    with atomic_path(path) as tmp, _hdf5_creation_order():
        nir.write(tmp, graph)
    return graph


@contextlib.contextmanager
def _hdf5_creation_order() -> Iterator[None]:
    """Make HDF5 groups created inside remember their creation order (restored on exit).

    ``nir.read`` lists nodes in the file's group order, alphabetical by default; nirtorch (used
    by snnTorch's importer) then defers nodes whose inputs come later and fails on a deferred
    sub-graph (a recurrent layer). Files written in creation order read back in graph order.
    ``nir.write`` offers no option for this, so h5py's default is switched for the write only.
    """
    import h5py

    cfg = h5py.get_config()
    old = cfg.track_order
    cfg.track_order = True
    try:
        yield
    finally:
        cfg.track_order = old


def read_nir_metadata(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """``(graph, graph metadata)`` of a NIR file written by :func:`export_nir`, JSON decoded."""
    require_extra("nir", "reading NIR files")
    import nir

    graph = nir.read(path)
    meta = {k: v.decode() if isinstance(v, bytes) else v for k, v in graph.metadata.items()}
    for k in ("identity_json", "versions_json", "targets_json"):
        if k in meta:
            meta[k.removesuffix("_json")] = json.loads(meta.pop(k))
    return graph, meta
