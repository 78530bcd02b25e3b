"""Read NIR graphs back with snnTorch's and Norse's importers, run them, compare with the model.

:func:`import_nir` wraps the libraries' importers (``snntorch.import_nir.import_from_nir`` and
``norse.torch.from_nir``, given the graph's ``dt_s``, since Norse defaults to 1e-3);
:func:`run_nir` steps an imported module over a time-major input and records the spikes of
named layers; :func:`nir_round_trip` compares those with the source model's own spikes (its own
forward pass: the ActivityRecorder for spikeenergy models, hooks for users' models) and
:func:`verify_nir` raises :class:`NIRRoundTripError` on any difference.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from spikeenergy.export.nir_export import DT, NIRPlan, build_nir_graph, nir_plan
from spikeenergy.extras import require_extra

IMPORTERS = ("snntorch", "norse")

log = logging.getLogger(__name__)


class NIRRoundTripError(RuntimeError):
    """A NIR graph, read back by a library's importer, spikes differently from the model."""


def _node_key(name: str) -> str:
    """Module name of a node inside an imported module (both importers replace "." by "_")."""
    return name.replace(".", "_")


def import_nir(source: Any, backend: str) -> nn.Module:
    """A torch module running NIR graph ``source`` (graph or file path), by ``backend``'s importer.

    ``backend`` "snntorch": ``import_from_nir`` (its progress prints go to the debug log);
    "norse": ``from_nir(graph, dt=graph.metadata["dt_s"])`` (1e-4 s when absent). The module is
    called once per time step as ``out, state = module(x_t, state)`` (see :func:`run_nir`).
    """
    if backend not in IMPORTERS:
        raise ValueError(f"backend={backend!r} has no NIR importer here; use one of {IMPORTERS}")
    require_extra("nir", "reading NIR graphs")
    require_extra(backend, f"the {backend} NIR importer (checking an export)")
    import nir

    if isinstance(source, str | os.PathLike):
        graph = nir.read(source)
    else:
        graph = copy.deepcopy(source)  # snnTorch's importer rewrites the graph's edges
    buf = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(buf):
        warnings.simplefilter("ignore", DeprecationWarning)  # nirtorch.load (Norse)
        if backend == "snntorch":
            from snntorch.import_nir import import_from_nir

            module: nn.Module = import_from_nir(graph)
        else:
            from norse.torch import from_nir

            dt = graph.metadata.get("dt_s", DT)
            module = from_nir(graph, dt=float(dt))
    if buf.getvalue():
        log.debug("%s NIR importer printed: %s", backend, buf.getvalue().strip())
    return module


@dataclass(frozen=True)
class NIRRun:
    """Per-step graph output ``(T, B, ...)`` and spikes of recorded layers, name -> (T, B, ...)."""

    output: Tensor
    spikes: dict[str, Tensor]


def _first(out: Any) -> Tensor:
    """The spikes of a neuron module's output: ``spk`` or the first element of a tuple."""
    while isinstance(out, tuple | list):
        out = out[0]
    if not isinstance(out, Tensor):
        raise TypeError(f"expected a tensor (or a tuple starting with one), got {type(out)}")
    return out.to_dense() if out.is_sparse else out


def _reset_snntorch(module: nn.Module) -> None:
    """Zero the hidden state snnTorch neurons keep between calls (init_hidden / mem=None)."""
    for m in module.modules():
        reset = getattr(m, "reset_mem", None)
        if callable(reset) and type(m).__module__.startswith("snntorch"):
            reset()


def _hooks(module: nn.Module, names: dict[str, str], store: dict[str, list[Tensor]]) -> list[Any]:
    handles = []
    for key, label in names.items():
        try:
            sub = module.get_submodule(key)
        except AttributeError as exc:
            raise KeyError(f"layer {label!r} ({key!r}) not found in the module") from exc

        def hook(_m: nn.Module, _a: Any, out: Any, label: str = label) -> None:
            store.setdefault(label, []).append(_first(out).detach())

        handles.append(sub.register_forward_hook(hook))
    return handles


def _dense(x: Tensor) -> Tensor:
    return x.to_dense() if x.is_sparse else x


def run_nir(module: nn.Module, x: Tensor, layers: Sequence[str] = ()) -> NIRRun:
    """Run an imported NIR module over time-major ``x`` (T, B, ...) from rest.

    ``layers``: graph node names whose spikes are recorded (e.g. ``"fc_spk.0"``).
    """
    x = _dense(x)
    _reset_snntorch(module)
    store: dict[str, list[Tensor]] = {}
    handles = _hooks(module, {_node_key(n): n for n in layers}, store)
    outs = []
    try:
        with torch.no_grad():
            state = None
            for x_t in x.unbind(0):
                out, state = module(x_t, state)
                outs.append(_first(out))
    finally:
        for h in handles:
            h.remove()
    return NIRRun(torch.stack(outs), {n: torch.stack(store[n]) for n in layers})


def _run_source(model: nn.Module, x: Tensor, plan: NIRPlan) -> NIRRun:
    """The model's own spikes per layer, and its output.

    spikeenergy models: logits ``(B, C)``; users' models: per-step output ``(T, B, ...)``.
    """
    x = _dense(x)
    if plan.readout != "none":  # spikeenergy model: its own engine, recorded by the recorder
        from spikeenergy.record import ActivityRecorder

        device = next(model.parameters()).device
        with torch.no_grad(), ActivityRecorder(model, needs={"spikes"}, keep_graph=False) as rec:
            logits = model(x.to(device)).cpu()
            record = rec.record()
        spikes = {n: _dense(record[n].spikes).cpu() for n in plan.neurons}  # type: ignore[arg-type]
        return NIRRun(logits, spikes)
    m = copy.deepcopy(model).cpu().eval()
    _reset_snntorch(m)
    store: dict[str, list[Tensor]] = {}
    handles = _hooks(m, {n: n for n in plan.neurons}, store)
    try:
        with torch.no_grad():
            if plan.time_batched:
                outs = [_first(m(x))]
                spikes = {n: store[n][0] for n in plan.neurons}
            else:
                state: Any = None
                outs = []
                stateful = _takes_state(m)
                for x_t in x.unbind(0):
                    if stateful:
                        out, state = m(x_t, state)
                    else:
                        out = m(x_t)
                    outs.append(_first(out))
                outs = [torch.stack(outs)]
                spikes = {n: torch.stack(store[n]) for n in plan.neurons}
    finally:
        for h in handles:
            h.remove()
    return NIRRun(outs[0], spikes)


def _takes_state(m: nn.Module) -> bool:
    from norse.torch import SequentialState

    return isinstance(m, SequentialState)


@dataclass(frozen=True)
class RoundTrip:
    """Result of one importer's run against the model on the same input.

    ``spike_mismatches``: layer -> number of (t, b, neuron) entries whose spike differs;
    ``spikes_compared``: entries compared in all layers; ``samples_differing``: batch samples
    with any differing spike; ``first_mismatch``: where the earliest one is (layer, step,
    sample, neuron), else None; ``output_max_abs_diff``: largest difference between the model's
    output and the graph's (reduced over time like the model's readout) over the samples whose
    spikes all agree. ``ok``: no spike differs and those outputs agree within float rounding.
    """

    backend: str
    spikes_compared: int
    spike_mismatches: dict[str, int]
    samples_differing: int
    first_mismatch: str | None
    output_max_abs_diff: float
    output_tolerance: float

    @property
    def outputs_ok(self) -> bool:
        """True when the outputs of the samples whose spikes agree are within float rounding."""
        return self.output_max_abs_diff <= self.output_tolerance

    @property
    def ok(self) -> bool:
        """True when every spike agrees and the output is within float rounding."""
        return self.samples_differing == 0 and self.outputs_ok


_REDUCE: dict[str, Callable[[Tensor], Tensor]] = {
    "mean": lambda o: o.mean(0),
    "sum": lambda o: o.sum(0),
    "none": lambda o: o,
}


def nir_round_trip(
    model: nn.Module,
    x: Tensor,
    graph: Any = None,
    backends: Sequence[str] = IMPORTERS,
    *,
    input_shape: Sequence[int] | None = None,
) -> list[RoundTrip]:
    """Run ``model`` and ``graph`` read back by each importer on ``x``; compare spikes, outputs.

    ``graph`` defaults to ``build_nir_graph(model)``; ``x`` is time-major ``(T, B, ...)``. The
    spikes of every neuron layer and the output (reduced over time like the model's readout)
    are compared; returns one :class:`RoundTrip` per backend.
    """
    plan = nir_plan(model, input_shape)
    if graph is None:
        graph = build_nir_graph(model, input_shape=input_shape)
    ref = _run_source(model, x, plan)
    want = ref.output.float()
    tol = 1e-5 * max(1.0, float(want.abs().max())) if want.numel() else 0.0
    results = []
    for backend in backends:
        got = run_nir(import_nir(graph, backend), x, plan.neurons)
        out = _REDUCE[plan.readout](got.output).float()
        if out.shape != want.shape:
            raise NIRRoundTripError(
                f"{backend}: graph output shape {tuple(out.shape)} != model output "
                f"{tuple(want.shape)}"
            )
        mism: dict[str, int] = {}
        total = 0
        bad = torch.zeros(x.shape[1], dtype=torch.bool)  # samples with a differing spike
        first: tuple[int, int, str, tuple[int, ...]] | None = None  # (t, layer order, ...)
        for order, n in enumerate(plan.neurons):
            a, b = ref.spikes[n], got.spikes[n]
            if a.shape != b.shape:
                raise NIRRoundTripError(
                    f"{backend}: layer {n!r} spikes have shape {tuple(b.shape)}, the model's "
                    f"{tuple(a.shape)}"
                )
            differ = a != b  # (T, B, ...)
            mism[n] = int(differ.sum())
            total += a.numel()
            if mism[n]:
                bad |= differ.flatten(2).any(2).any(0)
                idx = tuple(int(i) for i in differ.nonzero()[0])  # earliest step of this layer
                if first is None or (idx[0], order) < first[:2]:
                    first = (idx[0], order, n, idx)
        good = ~bad
        if plan.readout == "none":  # users' models: (T, B, ...) outputs per step
            o, w = out[:, good], want[:, good]
        else:
            o, w = out[good], want[good]
        diff = float((o - w).abs().max()) if w.numel() else 0.0
        where = None
        if first is not None:
            t, _, n, idx = first
            where = f"layer {n!r}, step {t}, sample {idx[1]}, neuron {idx[2:]}"
        results.append(RoundTrip(backend, total, mism, int(bad.sum()), where, diff, tol))
    return results


def verify_nir(
    model: nn.Module,
    x: Tensor,
    graph: Any = None,
    backends: Sequence[str] = IMPORTERS,
    *,
    input_shape: Sequence[int] | None = None,
    max_samples_differing: int = 0,
) -> list[RoundTrip]:
    """:func:`nir_round_trip`, raising :class:`NIRRoundTripError` unless every backend agrees.

    ``max_samples_differing`` (default 0: every spike must agree) lets that many samples of
    ``x`` differ; the others must still agree exactly. A membrane equal to the threshold to the
    last bit can spike in one float evaluation order and not in another (measured on a trained
    N-MNIST CNN: 1 sample in 100 when comparing the snnTorch and Norse backends); from there on
    that sample's spikes differ.
    """
    results = nir_round_trip(model, x, graph, backends, input_shape=input_shape)
    bad = [r for r in results if r.samples_differing > max_samples_differing or not r.outputs_ok]
    if bad:
        lines = [
            f"{r.backend}: spikes differ {r.spike_mismatches} of {r.spikes_compared} in "
            f"{r.samples_differing} of {x.shape[1]} samples (first: {r.first_mismatch}), "
            f"output max |diff| {r.output_max_abs_diff:.3g} (tolerance {r.output_tolerance:.3g})"
            for r in bad
        ]
        raise NIRRoundTripError(
            "the NIR graph read back does not run the same network: "
            + "; ".join(lines)
            + ". If only a sample or two differ, check whether their first differing spike is a "
            "float-rounding tie (membrane == threshold); verify_nir(max_samples_differing=...) "
            "accepts that many"
        )
    return results
