"""NIR export through the libraries' own exporters, with per-layer activity/energy as metadata.

snnTorch models go through ``snntorch.export_nir.export_to_nir``, Norse models through
``norse.torch.to_nir``; both run on a deep copy of the model (the caller's model is never
touched). Nodes are named like the model's modules (``fc.0``, ``fc_spk.0``, ``readout``), so
their metadata is the matching row of the :class:`~spikeenergy.metrics.EnergyReport`; the graph
metadata holds the totals and (as JSON strings) the identity, versions and cost models.

NIR describes one time step: the time loop, the readout averaging over time and the reset
mechanism (NIR neurons reset to ``v_reset``) are not part of the graph. Both exporters use
dt = 1e-4 s and tau = dt / (1 - decay); input gains are set so that one NeuronSpec gives the
same NIR parameters on both backends (``r = 1 / (1 - beta)``, see docs/metrics.md).
"""

from __future__ import annotations

import copy
import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from spikeenergy.metrics.base import TOTAL
from spikeenergy.metrics.meter import EnergyReport

DT = 1e-4  # seconds per step written into NIR time constants (snnTorch's exporter's choice)


def _check_exportable(model: nn.Module) -> Any:
    spec = getattr(model, "spec", None)
    if spec is None:
        raise TypeError("export_nir needs a spikeenergy model (built by build_model) with .spec")
    if not spec.is_spiking:
        raise ValueError(
            f"NIR export needs a spiking model; {spec.family!r} is dense (export its table as "
            "json/csv/hdf5 instead)"
        )
    if spec.family != "snn-mlp":
        raise ValueError(
            f"NIR export supports family 'snn-mlp'; {spec.family!r} uses max-pooling, for which "
            "NIR has no node (use avg-pooling-free 'snn-mlp' or export json/csv/hdf5)"
        )
    if spec.recurrent:
        raise ValueError(
            "NIR export of recurrent=True models is not supported: the libraries' exporters "
            "trace one step and would drop the recurrent weights silently"
        )
    return spec


def _widths(model: nn.Module, spec: Any) -> dict[str, int]:
    """Neuron layer name -> number of neurons (snn-mlp)."""
    w = {f"fc_spk.{i}": int(h) for i, h in enumerate(spec.hidden)}
    w["readout_spk"] = int(model.num_classes)  # type: ignore[arg-type]
    return w


def _step_layers(spec: Any) -> list[str]:
    """Module names of one time step of an snn-mlp, in order."""
    names = []
    for i in range(len(spec.hidden)):
        names += [f"fc.{i}", f"fc_spk.{i}"]
    names.append("readout")
    if spec.readout == "spike_count":
        names.append("readout_spk")
    return names


def _snntorch_graph(model: nn.Module, spec: Any) -> Any:
    from snntorch.export_nir import export_to_nir

    names = _step_layers(spec)
    widths = _widths(model, spec)
    mods = dict(model.named_modules())
    layers = []
    for name in names:
        mod = copy.deepcopy(mods[name]).cpu()
        if name in widths:
            mod.init_hidden = True  # the copy returns spikes only, so nn.Sequential can chain it
            for attr in ("beta", "alpha", "threshold"):  # per-neuron: NIR infers sizes from them
                v = getattr(mod, attr, None)
                if isinstance(v, torch.Tensor):
                    setattr(mod, attr, torch.full((widths[name],), float(v.reshape(-1)[0])))
        layers.append(mod)
    seq = nn.Sequential(*layers).eval()
    sample = torch.zeros(1, math.prod(model.input_shape))  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        graph = export_to_nir(seq, sample, ignore_dims=[0])
    rename = {str(i): n for i, n in enumerate(names)}
    return graph, {k: rename.get(k, k) for k in graph.nodes}


def _norse_graph(model: nn.Module, spec: Any) -> Any:
    import norse.torch as norse

    names = _step_layers(spec)
    mods = dict(model.named_modules())
    seq = norse.SequentialState(*(copy.deepcopy(mods[n]).cpu() for n in names))
    sample = torch.zeros(1, math.prod(model.input_shape))  # type: ignore[arg-type]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        graph = norse.to_nir(seq, sample, dt=DT)
    rename = {str(i): n for i, n in enumerate(names)}
    return graph, {k: rename.get(k, k) for k in graph.nodes}


def _as_array(v: Any, n: int) -> np.ndarray:
    a = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
    a = a.astype(np.float64)
    return np.full(n, float(a.reshape(-1)[0])) if a.size == 1 else a.reshape(n)


def _fix_neurons(node: Any, n: int, gain: float, w_in: float | None) -> None:
    """Per-neuron float arrays for every parameter; input gain folded into ``r`` (and w_in)."""
    import nir

    if not isinstance(node, nir.LIF | nir.CubaLIF):
        return
    params = ("tau", "tau_mem", "tau_syn", "r", "v_leak", "v_threshold", "v_reset", "w_in")
    for p in params:
        if hasattr(node, p) and getattr(node, p) is not None:
            setattr(node, p, _as_array(getattr(node, p), n))
    if gain != 1.0:
        node.r = node.r * gain
    if w_in is not None and isinstance(node, nir.CubaLIF):
        node.w_in = np.full(n, w_in)
    node.input_type = {"input": np.array([n])}
    node.output_type = {"output": np.array([n])}


def _float_metadata(row: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in row.items()}


def build_nir_graph(model: nn.Module, report: EnergyReport | None = None) -> Any:
    """The NIR graph of ``model`` (a copy is exported) with ``report`` rows as node metadata."""
    import nir

    spec = _check_exportable(model)
    if spec.backend == "snntorch":
        graph, rename = _snntorch_graph(model, spec)
        gain, w_in = 1.0, None  # snnTorch's exporter writes r = 1/(1-beta), w_in = 1/(1-alpha)
    else:
        graph, rename = _norse_graph(model, spec)
        gain = 1.0 / (1.0 - spec.neuron.beta)  # the driver's input gain (Norse LIF: r = 1)
        w_in = 1.0 / (1.0 - spec.neuron.alpha)  # synaptic current: i = alpha * i + input
    widths = _widths(model, spec)
    nodes = {}
    input_name = "input"
    for old, node in graph.nodes.items():
        name = rename[old]
        if isinstance(node, nir.Input):  # per-step shape, without batch/time axes
            node = nir.Input(input_type=np.array(model.input_shape))  # type: ignore[arg-type]
            input_name = name
        elif isinstance(node, nir.Output):
            node = nir.Output(output_type=np.array([model.num_classes]))
        if name in widths:
            _fix_neurons(node, widths[name], gain, w_in)
        if report is not None and name in report.rows:
            node.metadata = _float_metadata(report.rows[name])
        nodes[name] = node
    edges = [(rename[a], rename[b]) for a, b in graph.edges]
    shape = tuple(model.input_shape)  # type: ignore[arg-type]
    if len(shape) > 1:  # frames: the model flattens them before fc.0; make that explicit
        nodes["flatten"] = nir.Flatten(
            input_type={"input": np.array(shape)}, start_dim=0, end_dim=-1
        )
        edges = [("flatten", b) if a == input_name else (a, b) for a, b in edges]
        edges.append((input_name, "flatten"))
    meta: dict[str, Any] = {"spikeenergy_backend": spec.backend, "dt_s": DT}
    if report is not None:
        meta.update({f"total.{k}": float(v) for k, v in report.rows[TOTAL].items()})
        meta["samples"] = float(report.samples)
        meta["policy"] = report.policy
        meta["identity_json"] = json.dumps(report.identity)
        meta["versions_json"] = json.dumps(report.versions)
        meta["targets_json"] = json.dumps(list(report.targets))
    out = nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)
    out.infer_types()
    return out


def export_nir(
    model: nn.Module, path: str | os.PathLike[str], report: EnergyReport | None = None
) -> Any:
    """Write ``model`` as a NIR file with ``report``'s per-layer rows as node metadata.

    Returns the graph; the file reads back with ``nir.read(path)``.
    """
    import nir

    graph = build_nir_graph(model, report)
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    nir.write(p, graph)
    return graph


def read_nir_metadata(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """``(graph, graph metadata)`` of a NIR file written by :func:`export_nir`, JSON decoded."""
    import nir

    graph = nir.read(path)
    meta = dict(graph.metadata)
    for k in ("identity_json", "versions_json", "targets_json"):
        if k in meta:
            v = meta.pop(k)
            meta[k.removesuffix("_json")] = json.loads(v.decode() if isinstance(v, bytes) else v)
    return graph, meta
