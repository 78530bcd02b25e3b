"""Backend table for spiking neurons: build a snnTorch / Norse neuron from a NeuronSpec and step it.

All backend knowledge of the models package lives here. Neurons are the libraries' own modules
(``snntorch.Leaky`` / ``snntorch.Synaptic`` / ``norse.torch.LIFBoxCell`` / ``norse.torch.LIFCell``);
a small :class:`NeuronDriver` holds how to call each one with an explicit state, so the model
keeps no hidden state between forward calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from spikeenergy.models.families import BACKENDS, SURROGATES, Backend, surrogate
from spikeenergy.models.families import backend as backend_record
from spikeenergy.models.spec import NeuronSpec

# --------------------------------------------------------------------------- snnTorch


def _snntorch_surrogate(spec: NeuronSpec) -> Callable[[Tensor], Tensor]:
    """The snnTorch ``spike_grad`` callable for the spec's surrogate (Norse's for triangle/tanh)."""
    from snntorch import surrogate as snn_surrogate

    entry = surrogate(spec.surrogate)
    if entry.snntorch is not None:
        factory, slope_arg = entry.snntorch
        return getattr(snn_surrogate, factory)(**{slope_arg: spec.slope})  # type: ignore[no-any-return]
    # snnTorch has none of this form; reuse Norse's autograd function (not re-written)
    assert entry.norse is not None
    from spikeenergy.extras import require_extra

    require_extra("norse", f"surrogate={spec.surrogate!r} with backend='snntorch'")
    return _NorseThreshold(entry.norse, spec.slope)


@dataclass(frozen=True)
class _NorseThreshold:
    """Picklable callable applying Norse's ``threshold(x, method, alpha)`` (used as spike_grad)."""

    method: str
    alpha: float

    def __call__(self, x: Tensor) -> Tensor:
        from norse.torch.functional.threshold import threshold

        return threshold(x, self.method, self.alpha)


def _forget_snntorch_instance(neuron: nn.Module) -> None:
    """Drop ``neuron`` from snnTorch's global ``SpikingNeuron.instances`` list (it would leak)."""
    from snntorch import SpikingNeuron

    insts = SpikingNeuron.instances
    for i in range(len(insts) - 1, -1, -1):
        if insts[i] is neuron:
            del insts[i]


def _build_snntorch(spec: NeuronSpec) -> nn.Module:
    """snnTorch Leaky / Synaptic with the spec's parameters (reset delayed, detached: native)."""
    import snntorch as snn

    if spec.detach_reset is False:
        raise ValueError(
            "snnTorch always detaches the reset from the graph; use detach_reset=None or True "
            "with backend='snntorch' (or backend='norse' with model='leaky' for detach_reset=False)"
        )
    common = dict(
        threshold=spec.threshold,
        spike_grad=_snntorch_surrogate(spec),
        reset_mechanism=spec.reset,
    )
    neuron: nn.Module
    if spec.kind == "leaky":
        neuron = snn.Leaky(beta=spec.beta, **common)
    else:
        neuron = snn.Synaptic(alpha=spec.alpha, beta=spec.beta, **common)
    _forget_snntorch_instance(neuron)
    return neuron


def _step_snntorch_leaky(neuron: nn.Module, cur: Tensor, state: Any) -> tuple[Tensor, Any]:
    mem = torch.zeros_like(cur) if state is None else state
    spk, mem = neuron(cur, mem)
    return spk, mem


def _step_snntorch_synaptic(neuron: nn.Module, cur: Tensor, state: Any) -> tuple[Tensor, Any]:
    syn, mem = (torch.zeros_like(cur), torch.zeros_like(cur)) if state is None else state
    spk, syn, mem = neuron(cur, syn, mem)
    return spk, (syn, mem)


# --------------------------------------------------------------------------- Norse


def _reset_value_detached(z: Tensor, v: Tensor, reset: Tensor, th: Tensor) -> Tensor:
    """Norse ``reset_value`` with the spike detached from the graph (detach_reset=True)."""
    from norse.torch.functional.reset import reset_value

    return reset_value(z.detach(), v, reset, th)


def _reset_subtract_detached(z: Tensor, v: Tensor, reset: Tensor, th: Tensor) -> Tensor:
    """Norse ``reset_subtract`` with the spike detached from the graph (detach_reset=True)."""
    from norse.torch.functional.reset import reset_subtract

    return reset_subtract(z.detach(), v, reset, th)


def _norse_method(spec: NeuronSpec) -> str:
    entry = surrogate(spec.surrogate)
    if entry.norse is None:
        in_norse = [n for n in SURROGATES if SURROGATES.get(n).norse is not None]
        raise ValueError(
            f"surrogate {spec.surrogate!r} is not available in Norse; use one of "
            f"{', '.join(in_norse)} with backend='norse'"
        )
    if not entry.norse_slope and spec.slope != 1.0:
        tunable = [
            n for n in SURROGATES if SURROGATES.get(n).norse and SURROGATES.get(n).norse_slope
        ]
        raise ValueError(
            f"Norse's {entry.norse!r} surrogate ({spec.surrogate!r}) ignores its slope (e.g. "
            f"SuperSpike's gradient is 1/(1+|x|)^2, i.e. slope 1); use slope=1.0, or "
            f"surrogate={' / '.join(tunable)} for a tunable slope with backend='norse'"
        )
    return entry.norse


def _build_norse(spec: NeuronSpec) -> nn.Module:
    """Norse LIFBoxCell (leaky) / LIFCell (synaptic) with dt=1 and tau_inv = 1 - decay."""
    from norse.torch import LIFBoxCell, LIFBoxParameters, LIFCell, LIFParameters
    from norse.torch.functional.reset import reset_subtract, reset_value

    if spec.beta >= 1.0:
        raise ValueError("backend='norse' needs beta < 1 (tau_mem_inv = 1 - beta must be > 0)")
    method = _norse_method(spec)
    beta = torch.as_tensor(spec.beta)
    th = torch.as_tensor(spec.threshold)
    zero = torch.as_tensor(0.0)
    if spec.kind == "leaky":
        detach = bool(spec.detach_reset)
        if spec.reset == "zero":
            reset_fn = _reset_value_detached if detach else reset_value
        else:
            reset_fn = _reset_subtract_detached if detach else reset_subtract
        p = LIFBoxParameters(
            tau_mem_inv=1.0 - beta,
            v_leak=zero,
            v_th=th,
            v_reset=zero,
            method=method,
            alpha=torch.as_tensor(spec.slope),
            reset_method=reset_fn,
        )
        return LIFBoxCell(p, dt=1.0)
    if spec.reset != "zero":
        raise ValueError(
            "Norse's LIFCell (model='synaptic') only resets to zero; use reset='zero', or "
            "model='leaky' (LIFBoxCell) for reset='subtract' with backend='norse'"
        )
    if spec.detach_reset:
        raise ValueError(
            "Norse's LIFCell (model='synaptic') does not detach the reset; use detach_reset=None "
            "or False with backend='norse', model='synaptic'"
        )
    if spec.alpha >= 1.0:
        raise ValueError("backend='norse' needs alpha < 1 (tau_syn_inv = 1 - alpha must be > 0)")
    p = LIFParameters(
        tau_syn_inv=1.0 - torch.as_tensor(spec.alpha),
        tau_mem_inv=1.0 - beta,
        v_leak=zero,
        v_th=th,
        v_reset=zero,
        method=method,
        alpha=torch.as_tensor(spec.slope),
    )
    return LIFCell(p, dt=1.0)


def _step_norse_leaky(neuron: nn.Module, cur: Tensor, state: Any) -> tuple[Tensor, Any]:
    from norse.torch.functional.lif_box import LIFBoxFeedForwardState

    if state is None:
        state = LIFBoxFeedForwardState(v=torch.zeros_like(cur))
    return neuron(cur, state)


def _step_norse_synaptic(neuron: nn.Module, cur: Tensor, state: Any) -> tuple[Tensor, Any]:
    from norse.torch.functional.lif import LIFFeedForwardState

    if state is None:
        state = LIFFeedForwardState(v=torch.zeros_like(cur), i=torch.zeros_like(cur))
    return neuron(cur, state)


# --------------------------------------------------------------------------- table


@dataclass(frozen=True)
class NeuronDriver:
    """How to call one backend neuron: ``step(neuron, current, state) -> (spikes, state)``.

    ``input_gain`` multiplies the input current before the library call. Norse integrates
    ``v += dt * tau_mem_inv * (i - v)``, i.e. input gain (1 - beta); the driver divides that out
    (gain 1 / (1 - beta), :func:`input_gain`) so one NeuronSpec means ``mem = beta * mem + I``
    between resets on both backends (the resets differ: :func:`backend_difference`).
    ``state=None`` means rest (all zeros).
    """

    backend: str
    kind: str
    step_fn: Callable[[nn.Module, Tensor, Any], tuple[Tensor, Any]]
    input_gain: float = 1.0

    def step(self, neuron: nn.Module, current: Tensor, state: Any) -> tuple[Tensor, Any]:
        """Advance ``neuron`` one time step from ``state`` with input ``current``."""
        if self.input_gain != 1.0:
            current = current * self.input_gain
        return self.step_fn(neuron, current, state)


BACKENDS.add(
    "snntorch",
    Backend(
        _build_snntorch,
        {"leaky": _step_snntorch_leaky, "synaptic": _step_snntorch_synaptic},
        leaky_input=False,
    ),
)
BACKENDS.add(
    "norse",
    Backend(
        _build_norse,
        {"leaky": _step_norse_leaky, "synaptic": _step_norse_synaptic},
        leaky_input=True,
    ),
)


def input_gain(spec: NeuronSpec, backend: str) -> float:
    """The factor the driver multiplies the input current by before the ``backend`` neuron.

    snnTorch integrates ``mem = beta * mem + I``: gain 1. Norse (dt = 1) integrates
    ``v += tau_mem_inv * (I - v)``, an input gain of ``1 - beta``; the driver cancels it with
    ``1 / (1 - beta)``. The one definition used by the drivers, the fast engine and the NIR export.
    """
    return backend_record(backend).input_gain(spec.beta)


def build_neuron(spec: NeuronSpec, backend: str) -> tuple[nn.Module, NeuronDriver]:
    """Build the library neuron for ``spec`` on ``backend`` and the driver that steps it."""
    rec = backend_record(backend)
    from spikeenergy.extras import require_extra

    require_extra(backend, f"backend={backend!r}")  # one line naming the extra if missing
    neuron = rec.build(spec)
    gain = input_gain(spec, backend)
    return neuron, NeuronDriver(backend, spec.kind, rec.steps[spec.kind], gain)


def backend_difference(spec: NeuronSpec) -> str | None:
    """How the snnTorch and Norse neurons built from ``spec`` compute different spike trains.

    ``None`` when both backends compute the same function (spikes equal up to float rounding,
    tested on trained weights): ``model="leaky"`` with ``reset="zero"``. Otherwise a sentence
    naming the difference (see docs/models.md, "Backend equivalence"). Gradients may differ even
    then (Norse does not detach the reset by default; surrogates differ in name and shape).
    """
    if spec.kind == "leaky" and spec.reset == "zero":
        return None
    if spec.kind == "leaky":
        return (
            "reset='subtract': snnTorch subtracts the threshold after the decay "
            "(mem[t] = beta*mem[t-1] + I[t] - threshold*spk[t-1]), Norse before it "
            "(mem[t] = beta*(mem[t-1] - threshold*spk[t-1]) + I[t]), so a spike removes "
            "threshold on snnTorch and beta*threshold on Norse; use reset='zero' for the same "
            "function on both backends"
        )
    if spec.reset == "zero":
        return (
            "model='synaptic', reset='zero': snnTorch's Synaptic sets the membrane of the step "
            "after a spike to 0 (that step's synaptic current is discarded), Norse's LIFCell "
            "resets to 0 at the spike step and integrates the next step's current; use "
            "model='leaky', reset='zero' for the same function on both backends"
        )
    return (
        "model='synaptic', reset='subtract' exists only on snnTorch (Norse's LIFCell resets to "
        "zero); use model='leaky', reset='zero' for the same function on both backends"
    )


def norse_reset_kind(reset_method: Callable[..., Tensor]) -> str:
    """The reset a Norse ``reset_method`` performs: ``"zero"``, ``"subtract"`` or ``"unknown"``.

    Knows Norse's ``reset_value`` / ``reset_subtract`` and this module's detached wrappers.
    """
    from norse.torch.functional.reset import reset_subtract, reset_value

    if reset_method in (reset_value, _reset_value_detached):
        return "zero"
    if reset_method in (reset_subtract, _reset_subtract_detached):
        return "subtract"
    return "unknown"
