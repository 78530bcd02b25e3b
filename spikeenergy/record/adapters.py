"""THE adapter table: the only place that knows which framework modules produce which activity.

One row per module family (snnTorch neuron, Norse cell, nn.Linear, nn.Conv*, nn.GRU, dense
nonlinearities): how to recognise it, its kind, what to capture from a forward call
``(module, args, output)``, for weight layers its synapse groups (weights and the activity that
drives them, see :class:`~spikeenergy.record.activity.Synapses`), and for neuron layers how many
state words a neuron reads and writes per update. To support a new module, add one row to
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

Capture = Callable[[nn.Module, tuple[Any, ...], Any], dict[str, Tensor]]
SynapseFactory = Callable[[nn.Module, dict[str, Tensor]], tuple[Synapses, ...]]


def _one(m: nn.Module) -> int:
    return 1


@dataclass(frozen=True)
class ModuleAdapter:
    """How the recorder treats one kind of module.

    ``fields`` are the activity fields ``capture`` can return ("spikes", "membrane",
    "activations", "inputs"). ``sequence=True``: the module is called once per forward with its
    own leading time axis (nn.GRU); otherwise it is called once per step and calls are stacked.
    ``synapses(module, fields)`` returns a weight layer's synapse groups; ``state_size(module)``
    the state words per neuron update (memory traffic).
    """

    name: str
    matches: Callable[[nn.Module], bool]
    kind: str
    fields: frozenset[str]
    capture: Capture
    sequence: bool = False
    synapses: SynapseFactory | None = None
    #: what ``synapses`` reads from the captured fields (recorded whenever "inputs" is needed)
    synapse_fields: frozenset[str] = frozenset({"inputs"})
    state_size: Callable[[nn.Module], int] = _one


# --------------------------------------------------------------------------- matchers


def _is_snntorch_neuron(m: nn.Module) -> bool:
    if "snntorch" not in sys.modules:
        return False
    from snntorch import SpikingNeuron

    return isinstance(m, SpikingNeuron)


def _is_norse_cell(m: nn.Module) -> bool:
    if "norse" not in sys.modules:
        return False
    from norse.torch.module.snn import SNNCell

    return isinstance(m, SNNCell)


def _snntorch_state_size(m: nn.Module) -> int:
    # state variables per neuron: Leaky/RLeaky mem; Synaptic/RSynaptic syn + mem;
    # Alpha syn_exc + syn_inh + mem
    return {"Synaptic": 2, "RSynaptic": 2, "Alpha": 3}.get(type(m).__name__, 1)


def _norse_state_size(m: nn.Module) -> int:
    # LIFBoxCell: v; LIFCell: v and i (the state NamedTuple's fields)
    return {"LIFCell": 2, "LIFBoxCell": 1}.get(type(m).__name__, 1)


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


def _cap_snntorch(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Tensor]:
    # snnTorch: (spk, mem) for Leaky, (spk, syn, mem) for Synaptic; membrane is always last.
    if not isinstance(out, tuple):
        raise TypeError(
            f"{type(m).__name__} returned {type(out).__name__}; the recorder needs the neuron "
            "to return (spk, ..., mem) (do not build snnTorch neurons with init_hidden=True)"
        )
    return {"spikes": out[0], "membrane": out[-1]}


def _cap_norse(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Tensor]:
    z, state = out  # Norse cells: (spikes, state NamedTuple with membrane v)
    return {"spikes": z, "membrane": state.v}


def _cap_input(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Tensor]:
    return {"inputs": args[0]}


def _cap_output(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Tensor]:
    return {"activations": out}


def _cap_gru(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Tensor]:
    x, y = args[0], out[0]
    if not isinstance(x, Tensor):
        raise TypeError("the recorder supports nn.GRU on padded tensors, not PackedSequence")
    if getattr(m, "batch_first", False):
        x, y = x.transpose(0, 1), y.transpose(0, 1)  # to time-major
    got = {"inputs": x, "activations": y}
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


def _cap_glia(m: nn.Module, args: tuple[Any, ...], out: Any) -> dict[str, Tensor]:
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
        state_size=_snntorch_state_size,
    ),
    ModuleAdapter(
        "norse-cell",
        _is_norse_cell,
        "spiking",
        _SPIKING_FIELDS,
        _cap_norse,
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
        synapses=_conv_synapses(1),
    ),
    ModuleAdapter(
        "conv2d",
        _isa(nn.Conv2d),
        "connection",
        frozenset({"inputs"}),
        _cap_input,
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
