"""THE adapter table: the only place that knows which framework modules produce which activity.

One row per module family (snnTorch neuron, Norse cell, nn.Linear, nn.Conv*, nn.GRU, dense
nonlinearities): how to recognise it, its kind, what to capture from a forward call
``(module, args, output)`` and, for weight layers, how to count the synaptic operations its
inputs trigger. To support a new module, add one row to :data:`ADAPTERS`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Capture = Callable[[nn.Module, tuple[Any, ...], Any], dict[str, Tensor]]
CounterFactory = Callable[[nn.Module], Callable[[Tensor], Tensor]]


@dataclass(frozen=True)
class ModuleAdapter:
    """How the recorder treats one kind of module.

    ``fields`` are the activity fields ``capture`` can return ("spikes", "membrane",
    "activations", "inputs"). ``sequence=True``: the module is called once per forward with its
    own leading time axis (nn.GRU); otherwise it is called once per step and calls are stacked.
    """

    name: str
    matches: Callable[[nn.Module], bool]
    kind: str
    fields: frozenset[str]
    capture: Capture
    sequence: bool = False
    counter: CounterFactory | None = None
    fan_out: Callable[[nn.Module], int | None] | None = None


# --------------------------------------------------------------------------- matchers


def _is_snntorch_neuron(m: nn.Module) -> bool:
    from snntorch import SpikingNeuron

    return isinstance(m, SpikingNeuron)


def _is_norse_cell(m: nn.Module) -> bool:
    from norse.torch.module.snn import SNNCell

    return isinstance(m, SNNCell)


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
    return {"inputs": x, "activations": y}


# --------------------------------------------------------------------------- op counters


def _linear_ops(out_features: int, a: Tensor) -> Tensor:
    # every input element drives out_features synapses
    return a.sum() * out_features


def _conv_ops(conv: nn.Conv1d | nn.Conv2d, dims: int, a: Tensor) -> Tensor:
    # sum_i a_i * fan_out_i = sum over outputs of conv(a, ones): exact at borders, strides, groups.
    # By linearity, summing over (T, B) first costs a single convolution of one image.
    a1 = a.reshape(-1, *a.shape[-(dims + 1) :]).sum(0, keepdim=True)  # (1, C, *spatial)
    ones = torch.ones(conv.weight.shape, dtype=a.dtype, device=a.device)
    fn = F.conv1d if dims == 1 else F.conv2d
    y = fn(a1, ones, None, conv.stride, conv.padding, conv.dilation, conv.groups)
    return y.sum()


def _linear_counter(m: nn.Module) -> Callable[[Tensor], Tensor]:
    assert isinstance(m, nn.Linear)
    return functools.partial(_linear_ops, m.out_features)


def _conv_counter(dims: int) -> CounterFactory:
    def factory(m: nn.Module) -> Callable[[Tensor], Tensor]:
        if getattr(m, "padding_mode", "zeros") != "zeros":
            raise ValueError(
                f"synaptic-op counting supports zero padding only, got padding_mode="
                f"{m.padding_mode!r} in {m}; build the conv with padding_mode='zeros'"
            )
        assert isinstance(m, nn.Conv1d | nn.Conv2d)
        return functools.partial(_conv_ops, m, dims)

    return factory


def _gru_counter(m: nn.Module) -> Callable[[Tensor], Tensor]:
    assert isinstance(m, nn.GRU)
    if m.num_layers != 1 or m.bidirectional:
        raise ValueError("op counting supports single-layer unidirectional nn.GRU; stack modules")
    # input-to-hidden weights only: each input element drives 3 * hidden_size gate synapses
    return functools.partial(_linear_ops, 3 * m.hidden_size)


def _linear_fan_out(m: nn.Module) -> int:
    assert isinstance(m, nn.Linear)
    return m.out_features


def _gru_fan_out(m: nn.Module) -> int:
    assert isinstance(m, nn.GRU)
    return 3 * m.hidden_size


# --------------------------------------------------------------------------- the table

_SPIKING_FIELDS = frozenset({"spikes", "membrane"})

ADAPTERS: tuple[ModuleAdapter, ...] = (
    ModuleAdapter(
        "snntorch-neuron", _is_snntorch_neuron, "spiking", _SPIKING_FIELDS, _cap_snntorch
    ),
    ModuleAdapter("norse-cell", _is_norse_cell, "spiking", _SPIKING_FIELDS, _cap_norse),
    ModuleAdapter(
        "linear",
        _isa(nn.Linear),
        "connection",
        frozenset({"inputs"}),
        _cap_input,
        counter=_linear_counter,
        fan_out=_linear_fan_out,
    ),
    ModuleAdapter(
        "conv1d",
        _isa(nn.Conv1d),
        "connection",
        frozenset({"inputs"}),
        _cap_input,
        counter=_conv_counter(1),
    ),
    ModuleAdapter(
        "conv2d",
        _isa(nn.Conv2d),
        "connection",
        frozenset({"inputs"}),
        _cap_input,
        counter=_conv_counter(2),
    ),
    ModuleAdapter(
        "gru",
        _isa(nn.GRU),
        "dense",
        frozenset({"inputs", "activations"}),
        _cap_gru,
        sequence=True,
        counter=_gru_counter,
        fan_out=_gru_fan_out,
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
