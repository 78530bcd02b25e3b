"""THE adapter table: the only place that knows which framework modules produce which activity.

One row per module family (snnTorch neuron, Norse cell, Norse sequence module, Norse leaky
integrator, nn.Linear, nn.Conv*, nn.GRU, dense nonlinearities): how to recognise it, its kind,
what to capture from a forward call ``(module, args, output)``, whether the module always takes a
whole time-major sequence (Norse ``LIF``, ``nn.GRU``), for weight layers its synapse groups
(weights and the activity that drives them, see :class:`~spikeenergy.record.activity.Synapses`),
for neuron layers how many state words a neuron reads and writes per update, and how to reset the
state a module keeps between calls (snnTorch neurons). To support a new module, add one row to
:data:`ADAPTERS`. Framework checks never import a framework: a module can only be an snnTorch or
Norse module if that library was imported already.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikeenergy.models.glia import GlialGate
from spikeenergy.record.activity import Synapses

#: A captured field: a tensor, or a zero-argument callable that makes it (built only if needed).
Field = Tensor | Callable[[], Tensor]
Capture = Callable[[nn.Module, tuple[Any, ...], Any], dict[str, Field]]
SynapseFactory = Callable[[nn.Module, dict[str, Tensor]], tuple[Synapses, ...]]


def _one(m: nn.Module) -> int:
    return 1


@dataclass(frozen=True)
class ModuleAdapter:
    """How the recorder treats one kind of module.

    ``fields`` are the activity fields ``capture`` can return ("spikes", "membrane",
    "activations", "inputs"); a field may be a callable that builds it, evaluated only when it is
    recorded. ``sequence=True``: every call of the module carries its own leading time axis and
    ``capture`` returns time-major tensors (nn.GRU, Norse ``LIF``); ``stepwise=True``: every call
    is one time step (snnTorch neurons and Norse cells compute one step per call whatever the
    tensor's shape; PyTorch convolutions take no extra time axis); otherwise the recorder
    decides per layer whether a call was one time step or a whole sequence
    (:class:`~spikeenergy.record.recorder.ActivityRecorder`). ``synapses(module, fields)``
    returns a weight layer's synapse groups; ``state_size(module)`` the state words per neuron
    update (memory traffic); ``reset(module)`` clears state the module keeps between calls.
    """

    name: str
    matches: Callable[[nn.Module], bool]
    kind: str
    fields: frozenset[str]
    capture: Capture
    sequence: bool = False
    stepwise: bool = False
    synapses: SynapseFactory | None = None
    #: what ``synapses`` reads from the captured fields (recorded whenever "inputs" is needed)
    synapse_fields: frozenset[str] = frozenset({"inputs"})
    state_size: Callable[[nn.Module], int] = _one
    reset: Callable[[nn.Module], None] | None = None


# --------------------------------------------------------------------------- matchers


def _is_snntorch_neuron(m: nn.Module) -> bool:
    if "snntorch" not in sys.modules:
        return False
    from snntorch import SpikingNeuron

    return isinstance(m, SpikingNeuron)


def _norse_leaky_integrator(m: nn.Module) -> bool:
    # Norse's leaky integrators (LI, LICell, LIBoxCell) output their membrane, not spikes
    from norse.torch.module.leaky_integrator import LI, LICell
    from norse.torch.module.leaky_integrator_box import LIBoxCell

    return isinstance(m, LI | LICell | LIBoxCell)


def _is_norse_cell(m: nn.Module) -> bool:
    if "norse" not in sys.modules:
        return False
    from norse.torch.module.snn import SNNCell

    return isinstance(m, SNNCell) and not _norse_leaky_integrator(m)


def _is_norse_sequence(m: nn.Module) -> bool:
    # Norse's SNN base class: LIF, LIFAdEx, LIFEx, IAF, Izhikevich, LSNN on (T, B, ...) input
    if "norse" not in sys.modules:
        return False
    from norse.torch.module.snn import SNN

    return isinstance(m, SNN) and not _norse_leaky_integrator(m)


def _is_norse_li_cell(m: nn.Module) -> bool:
    if "norse" not in sys.modules:
        return False
    from norse.torch.module.snn import SNNCell

    return isinstance(m, SNNCell) and _norse_leaky_integrator(m)


def _is_norse_li(m: nn.Module) -> bool:
    if "norse" not in sys.modules:
        return False
    from norse.torch.module.snn import SNN

    return isinstance(m, SNN) and _norse_leaky_integrator(m)


def _snntorch_state_size(m: nn.Module) -> int:
    # state variables per neuron: Leaky/RLeaky mem; Synaptic/RSynaptic syn + mem;
    # Alpha syn_exc + syn_inh + mem
    return {"Synaptic": 2, "RSynaptic": 2, "Alpha": 3}.get(type(m).__name__, 1)


def _tensor_leaves(state: Any) -> int:
    if isinstance(state, Tensor):
        return 1
    if isinstance(state, tuple):  # Norse states are (nested) NamedTuples of tensors
        return sum(_tensor_leaves(v) for v in state)
    return 0


def _norse_state_size(m: nn.Module) -> int:
    """State words per neuron: the tensors of the module's own initial state (LIFBoxCell: v;
    LIFCell / LIF: v, i; LIFRefracCell: v, i, rho; ...)."""
    probe = torch.zeros(1, 1) if _is_norse_sequence(m) or _is_norse_li(m) else torch.zeros(1)
    n = _tensor_leaves(m.state_fallback(probe))  # type: ignore[operator]
    if n < 1:
        raise TypeError(f"cannot read the state of {type(m).__name__}: no tensors in its state")
    return n


def _snntorch_reset(m: nn.Module) -> None:
    # snnTorch neurons keep their last state on the module (always with init_hidden=True, and
    # when forward is called without mem); reset_mem() zeroes it for this instance only
    reset_mem = getattr(m, "reset_mem", None)
    if callable(reset_mem):
        reset_mem()


def _isa(*types: type) -> Callable[[nn.Module], bool]:
    return lambda m: isinstance(m, types)


_DENSE_NONLINEARITIES: tuple[type, ...] = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.SiLU,
    nn.Tanh,
    nn.Sigmoid,
    nn.Softplus,
)

# --------------------------------------------------------------------------- captures


def _cap_snntorch(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Field]:
    # snnTorch: (spk, mem) for Leaky, (spk, syn, mem) for Synaptic, membrane always last; with
    # init_hidden=True (and output=False) only spk, the state living on the module (m.mem).
    if isinstance(out, tuple):
        return {"spikes": out[0], "membrane": out[-1]}
    mem = getattr(m, "mem", None)
    if not isinstance(out, Tensor) or not isinstance(mem, Tensor):
        raise TypeError(
            f"{type(m).__name__} returned {type(out).__name__} and holds no membrane tensor "
            "`mem`; the recorder reads (spk, ..., mem) or, with init_hidden=True, spk and m.mem"
        )
    return {"spikes": out, "membrane": mem}


def _state_v(state: Any) -> Tensor:
    """The membrane ``v`` of a Norse state (nested one level in refractory states)."""
    v = getattr(state, "v", None)
    if isinstance(v, Tensor):
        return v
    for part in state if isinstance(state, tuple) else ():
        v = getattr(part, "v", None)
        if isinstance(v, Tensor):
            return v
    raise TypeError(f"Norse state {type(state).__name__} has no membrane field v")


def _cap_norse(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Field]:
    z, state = out  # Norse cells: (spikes, state NamedTuple with membrane v)
    return {"spikes": z, "membrane": _state_v(state)}


def _norse_membrane(m: Any, x: Tensor, state: Any, z: Tensor) -> Tensor:
    """(T, B, ...) membrane of a Norse sequence module, by re-running its own step function.

    Norse's ``SNN.forward`` returns only the last state unless built with
    ``record_states=True``; the membrane trajectory is rebuilt from the recorded input and the
    module's own activation, parameters and dt (the loop of ``SNN.forward``), and checked to
    reproduce the spikes the module returned.
    """
    state = state if state is not None else m.state_fallback(x)
    sparse = m.activation_sparse is not None and x.is_sparse
    step = m.activation_sparse if sparse else m.activation
    vs, zs = [], []
    for t in range(x.shape[0]):
        z_t, state = step(x[t], state, m.p, m.dt)
        vs.append(_state_v(state))
        zs.append(z_t)
    if not torch.equal(torch.stack(zs), z):
        raise RuntimeError(
            f"re-running {type(m).__name__}'s step function did not reproduce its spikes; build "
            "it with record_states=True so the recorder reads the membrane from its output"
        )
    return torch.stack(vs)


def _cap_norse_sequence(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Field]:
    # Norse SNN modules: (spikes (T, B, ...), last state, or every state with record_states)
    z, state = out
    if getattr(m, "record_states", False):
        return {"spikes": z, "membrane": _state_v(state)}
    x = args[0]
    s0 = args[1] if len(args) > 1 else None
    return {"spikes": z, "membrane": lambda: _norse_membrane(m, x, s0, z)}


def _cap_norse_li(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Field]:
    v, _ = out  # leaky integrators: (membrane, state); the membrane is the graded output
    return {"activations": v}


def _cap_input(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Field]:
    return {"inputs": args[0]}


def _cap_output(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Field]:
    return {"activations": out}


def _cap_gru(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Field]:
    x, y = args[0], out[0]
    if not isinstance(x, Tensor):
        raise TypeError("the recorder supports nn.GRU on padded tensors, not PackedSequence")
    if getattr(m, "batch_first", False):
        x, y = x.transpose(0, 1), y.transpose(0, 1)  # to time-major
    got: dict[str, Field] = {"inputs": x, "activations": y}
    if len(args) > 1 and isinstance(args[1], Tensor):
        got["initial_state"] = args[1]  # (1, B, H) hx; None means zeros
    return got


# --------------------------------------------------------------------------- synapse counters


def _linear_count(a: Tensor, mask: Tensor) -> Tensor:
    # sum_i a_i * (synapses input i drives) = sum_i (sum over (T, B) of a_i) * sum_j mask[j, i]
    return (a.reshape(-1, a.shape[-1]).sum(0) * mask.sum(0).to(a.dtype)).sum()


def _conv_count(conv: nn.Conv1d | nn.Conv2d, dims: int, a: Tensor, mask: Tensor) -> Tensor:
    # sum_i a_i * fan_out_i = sum over outputs of conv(a, mask): exact at borders, strides, groups.
    # By linearity, summing over (T, B) first costs a single convolution of one image.
    a1 = a.reshape(-1, *a.shape[-(dims + 1) :]).sum(0, keepdim=True)  # (1, C, *spatial)
    fn = F.conv1d if dims == 1 else F.conv2d
    y = fn(a1, mask.to(a.dtype), None, conv.stride, conv.padding, conv.dilation, conv.groups)
    return y.sum()


def _linear_synapses(m: nn.Module, data: dict[str, Tensor]) -> tuple[Synapses, ...]:
    assert isinstance(m, nn.Linear)
    return (Synapses("input", data["inputs"], m.weight, _linear_count),)


def _conv_synapses(dims: int) -> SynapseFactory:
    def factory(m: nn.Module, data: dict[str, Tensor]) -> tuple[Synapses, ...]:
        assert isinstance(m, nn.Conv1d | nn.Conv2d)
        if m.padding_mode != "zeros":
            raise ValueError(
                f"synaptic-op counting supports zero padding only, got padding_mode="
                f"{m.padding_mode!r} in {m}; build the conv with padding_mode='zeros'"
            )
        count = functools.partial(_conv_count, m, dims)
        return (Synapses("input", data["inputs"], m.weight, count),)

    return factory


def _glia_synapses(m: nn.Module, data: dict[str, Tensor]) -> tuple[Synapses, ...]:
    assert isinstance(m, GlialGate)
    return (
        # neuron j -> its glial unit: one synapse per neuron, driven by its activity
        Synapses("input", data["inputs"], m.in_mask, _linear_count),  # (M, H)
        # unit k's gain multiplies the currents of its members: one op per member and step
        Synapses("gain", data["activations"], m.gain_mask, _linear_count),  # (H, M)
    )


def _cap_glia(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Field]:
    return {"inputs": args[0], "activations": out}  # activity (B, H), unit gains (B, M)


def _gru_synapses(m: nn.Module, data: dict[str, Tensor]) -> tuple[Synapses, ...]:
    assert isinstance(m, nn.GRU)
    if m.num_layers != 1 or m.bidirectional:
        raise ValueError("op counting supports single-layer unidirectional nn.GRU; stack modules")
    h = data["activations"]  # (T, B, H): h[t]
    h0 = data.get("initial_state")
    first = torch.zeros_like(h[:1]) if h0 is None else h0.reshape(1, *h.shape[1:])
    h_prev = torch.cat([first, h[:-1]], 0)  # (T, B, H): h[t - 1], h[-1] = initial state
    w_ih: Tensor = m.weight_ih_l0  # type: ignore[assignment]  # (3H, in)
    w_hh: Tensor = m.weight_hh_l0  # type: ignore[assignment]  # (3H, H)
    return (
        Synapses("input", data["inputs"], w_ih, _linear_count),
        Synapses("recurrent", h_prev, w_hh, _linear_count),
    )


# --------------------------------------------------------------------------- the table

_SPIKING_FIELDS = frozenset({"spikes", "membrane"})

ADAPTERS: tuple[ModuleAdapter, ...] = (
    ModuleAdapter(
        "snntorch-neuron",
        _is_snntorch_neuron,
        "spiking",
        _SPIKING_FIELDS,
        _cap_snntorch,
        stepwise=True,
        state_size=_snntorch_state_size,
        reset=_snntorch_reset,
    ),
    ModuleAdapter(
        "norse-cell",
        _is_norse_cell,
        "spiking",
        _SPIKING_FIELDS,
        _cap_norse,
        stepwise=True,
        state_size=_norse_state_size,
    ),
    ModuleAdapter(
        "norse-sequence",
        _is_norse_sequence,
        "spiking",
        _SPIKING_FIELDS,
        _cap_norse_sequence,
        sequence=True,
        state_size=_norse_state_size,
    ),
    ModuleAdapter(
        "norse-leaky-integrator-cell",
        _is_norse_li_cell,
        "dense",
        frozenset({"activations"}),
        _cap_norse_li,
        stepwise=True,
        state_size=_norse_state_size,
    ),
    ModuleAdapter(
        "norse-leaky-integrator",
        _is_norse_li,
        "dense",
        frozenset({"activations"}),
        _cap_norse_li,
        sequence=True,
        state_size=_norse_state_size,
    ),
    ModuleAdapter(
        "linear",
        _isa(nn.Linear),
        "connection",
        frozenset({"inputs"}),
        _cap_input,
        synapses=_linear_synapses,
    ),
    ModuleAdapter(
        "conv1d",
        _isa(nn.Conv1d),
        "connection",
        frozenset({"inputs"}),
        _cap_input,
        stepwise=True,
        synapses=_conv_synapses(1),
    ),
    ModuleAdapter(
        "conv2d",
        _isa(nn.Conv2d),
        "connection",
        frozenset({"inputs"}),
        _cap_input,
        stepwise=True,
        synapses=_conv_synapses(2),
    ),
    ModuleAdapter(
        "gru",
        _isa(nn.GRU),
        "dense",
        frozenset({"inputs", "activations"}),
        _cap_gru,
        sequence=True,
        synapses=_gru_synapses,
        synapse_fields=frozenset({"inputs", "activations", "initial_state"}),
    ),
    ModuleAdapter(
        "glial-gate",
        _isa(GlialGate),
        "dense",
        frozenset({"inputs", "activations"}),
        _cap_glia,
        synapses=_glia_synapses,
        synapse_fields=frozenset({"inputs", "activations"}),
    ),
    ModuleAdapter(
        "dense-nonlinearity",
        _isa(*_DENSE_NONLINEARITIES),
        "dense",
        frozenset({"activations"}),
        _cap_output,
    ),
)


def adapter_for(module: nn.Module) -> ModuleAdapter | None:
    """The first adapter row matching ``module``, or None when the module is not recorded."""
    for a in ADAPTERS:
        if a.matches(module):
            return a
    return None


def uncounted_weights(module: nn.Module) -> list[str]:
    """Names of ``module``'s own weight matrices (parameters with >= 2 dims) no adapter counts.

    A module that multiplies its input by such a weight does synaptic work; when no adapter row
    matches it (nn.LSTM, nn.Embedding, Norse recurrent cells, a hand-written layer), the ledger
    would silently leave that work out, so the recorder refuses it.
    """
    if adapter_for(module) is not None:
        return []
    return [n for n, p in module.named_parameters(recurse=False) if p.dim() >= 2]


def reset_states(model: nn.Module) -> None:
    """Reset the state ``model``'s modules keep between forward calls, before a new batch.

    snnTorch neurons keep their last membrane on the module (always with ``init_hidden=True``);
    each is reset with its own ``reset_mem()`` (only this model's neurons, unlike
    ``snntorch.utils.reset``, which resets every instance of a class in the process). Norse
    modules keep no state between calls. A model with a ``reset_state()`` method (spikeenergy's
    models) has it called too.
    """
    for m in model.modules():
        adapter = adapter_for(m)
        if adapter is not None and adapter.reset is not None:
            adapter.reset(m)
    reset_state = getattr(model, "reset_state", None)
    if callable(reset_state):
        reset_state()
