"""The typed tables behind the model registries: model families, surrogate gradients, backends.

Every fact about a family, a surrogate or a backend is a field of its record here; code asks the
record (``model_family(spec.family).conv``) instead of comparing names, so adding one is one
record (plus, for a family, its module class) and nothing else:

- :class:`ModelFamily` in :data:`MODEL_FAMILIES`: the module factory and the flags spiking,
  dense twin, convolutional front end, fast engine (and what ``engine="auto"`` picks) and
  NIR-exportable. The built-in families are registered next to their classes in
  :mod:`spikeenergy.models.networks`.
- :class:`Surrogate` in :data:`SURROGATES`: the libraries' surrogate gradients, each with its
  derivative (the fused engine's kernel), its snnTorch factory and its Norse method.
- :class:`Backend` in :data:`BACKENDS`: the neuron libraries and the input gain each needs so
  that one :class:`~spikeenergy.models.spec.NeuronSpec` means ``mem = beta * mem + I`` on all.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from spikeenergy.registry import Registry

if TYPE_CHECKING:
    from torch import Tensor, nn

ENGINE_CHOICES = ("fast", "library")


@dataclass(frozen=True)
class ModelFamily:
    """One model family: how to build it and what it is.

    ``factory(spec, input_shape, num_classes)`` builds the module (a
    :class:`~spikeenergy.models.networks.SpikeEnergyModel`); calling the record does the same.
    ``spiking``: hidden units are spiking neurons (a backend and a neuron spec apply);
    ``dense_twin``: for a spiking family, the dense family with the same widths
    (:meth:`~spikeenergy.models.spec.ModelSpec.matched_dense`); ``conv``: convolutional front
    end (needs ``conv_channels`` and ``(C, H, W)`` frames); ``needs_hidden``: at least one
    hidden width; ``fast_engine``: the family runs on :mod:`spikeenergy.models.fast`, and
    ``auto_engine`` is what ``engine="auto"`` picks for it; ``nir_exportable``: the NIR
    exporter knows its layers.
    """

    factory: Callable[..., nn.Module]
    spiking: bool
    dense_twin: str | None = None
    conv: bool = False
    needs_hidden: bool = False
    fast_engine: bool = False
    auto_engine: str = "library"
    nir_exportable: bool = False

    def __post_init__(self) -> None:
        if self.auto_engine not in ENGINE_CHOICES:
            raise ValueError(f"auto_engine={self.auto_engine!r}; use one of {ENGINE_CHOICES}")
        if self.auto_engine == "fast" and not self.fast_engine:
            raise ValueError("auto_engine='fast' needs fast_engine=True")
        if not self.spiking and (self.dense_twin or self.fast_engine or self.nir_exportable):
            raise ValueError(
                "dense_twin, fast_engine and nir_exportable describe spiking families; a dense "
                "family sets none of them"
            )

    def __call__(self, spec: Any, input_shape: tuple[int, ...], num_classes: int) -> nn.Module:
        """Build the module of ``spec`` (the factory's call)."""
        return self.factory(spec, input_shape, num_classes)


#: family name -> :class:`ModelFamily` (built-ins registered in spikeenergy.models.networks,
#: imported on the registry's first use)
MODEL_FAMILIES: Registry[ModelFamily] = Registry(
    "model family", builtins="spikeenergy.models.networks"
)


def model_family(name: str) -> ModelFamily:
    """The record of family ``name``; a ValueError lists the known families otherwise."""
    if name not in MODEL_FAMILIES:
        raise ValueError(
            f"model family={name!r} is not supported; use one of {', '.join(MODEL_FAMILIES)} "
            "(or register yours: MODEL_FAMILIES.add(name, ModelFamily(...)))"
        )
    return MODEL_FAMILIES.get(name)


def is_spiking_family(name: str) -> bool | None:
    """The ``spiking`` flag of family ``name``, or None when ``name`` is not registered in this
    process (e.g. a user's family whose module was not imported): readers of stored records
    then say "unknown" instead of guessing."""
    return MODEL_FAMILIES.get(name).spiking if name in MODEL_FAMILIES else None


# --------------------------------------------------------------------------- surrogates


def _fast_sigmoid_grad(x: Tensor, k: float) -> Tensor:
    return (x.abs().mul_(k).add_(1.0)).pow_(2).reciprocal_()  # 1 / (k|x| + 1)^2


def _fast_sigmoid_smooth(x: Tensor, k: float) -> Tensor:
    return x / (1.0 + k * x.abs())


def _atan_grad(x: Tensor, a: float) -> Tensor:
    # snnTorch ATan: (a / 2) / (1 + (pi/2 * a * x)^2)
    return (x * (math.pi / 2 * a)).pow_(2).add_(1.0).reciprocal_().mul_(a / 2)


def _atan_smooth(x: Tensor, a: float) -> Tensor:
    import torch

    return torch.atan(x * (math.pi / 2 * a)) / math.pi


def _triangle_grad(x: Tensor, k: float) -> Tensor:
    return (1.0 - x.abs()).clamp_(min=0.0).mul_(k)  # Norse Triangle: k * relu(1 - |x|)


def _triangle_smooth(x: Tensor, k: float) -> Tensor:
    u = x.clamp(-1.0, 1.0)
    return k * (u - u * u.abs() / 2)


def _tanh_grad(x: Tensor, k: float) -> Tensor:
    return 1.0 - (x * k).tanh_().pow_(2)  # Norse HeaviTanh: 1 - tanh(k x)^2


def _tanh_smooth(x: Tensor, k: float) -> Tensor:
    import torch

    return torch.tanh(x * k) / k


@dataclass(frozen=True)
class Surrogate:
    """A surrogate gradient of the spike's Heaviside step, as the libraries define it.

    ``grad(x, k)`` is d spike / d x at ``x = membrane - threshold`` for slope ``k`` (the fused
    engine's kernel; its in-place ops need a fresh tensor); ``smooth(x, k)`` a function whose
    derivative is ``grad`` (the engine's gradcheck mode). ``snntorch``: the
    ``snntorch.surrogate`` factory and the keyword its slope goes to (None: snnTorch has none of
    this form and Norse's function is used); ``norse``: the method name of Norse's
    ``threshold`` (None: not in Norse); ``norse_slope``: whether Norse honours the slope (its
    SuperSpike does not: slope 1); ``kernel``: the Triton kernel's switch value.
    """

    grad: Callable[[Tensor, float], Tensor]
    smooth: Callable[[Tensor, float], Tensor]
    snntorch: tuple[str, str] | None
    norse: str | None
    norse_slope: bool
    kernel: int

    def slope_for(self, slope: float, semantics: str) -> float:
        """The slope the ``semantics`` library ("snntorch" / "norse") actually uses."""
        return slope if semantics != "norse" or self.norse_slope else 1.0


#: surrogate name -> :class:`Surrogate`
SURROGATES: Registry[Surrogate] = Registry("surrogate")
SURROGATES.add(
    "fast_sigmoid",
    Surrogate(_fast_sigmoid_grad, _fast_sigmoid_smooth, ("fast_sigmoid", "slope"), "super",
              norse_slope=False, kernel=0),
)  # fmt: skip
SURROGATES.add("atan", Surrogate(_atan_grad, _atan_smooth, ("atan", "alpha"), None, True, kernel=1))
SURROGATES.add(
    "triangle", Surrogate(_triangle_grad, _triangle_smooth, None, "triangle", True, kernel=2)
)
SURROGATES.add("tanh", Surrogate(_tanh_grad, _tanh_smooth, None, "tanh", True, kernel=3))


def surrogate(name: str) -> Surrogate:
    """The record of surrogate ``name``; a ValueError lists the known ones otherwise."""
    if name not in SURROGATES:
        raise ValueError(
            f"neuron surrogate={name!r} is not supported; use one of {', '.join(SURROGATES)}"
        )
    return SURROGATES.get(name)


# --------------------------------------------------------------------------- backends


def leak_input_gain(leak: float) -> float:
    """``1 / leak``: the input gain that turns ``v += leak * (I' - v)`` (Norse, dt = 1, with
    ``leak = tau_mem_inv = 1 - beta``) into ``mem = beta * mem + I``. THE place this gain is
    computed: the Norse driver, the fast engine and the NIR export (``r``) all call it."""
    if not leak > 0:
        raise ValueError(
            f"backend='norse' needs beta < 1 (tau_mem_inv = 1 - beta must be > 0; got {leak})"
        )
    return 1.0 / leak


@dataclass(frozen=True)
class Backend:
    """A spiking-neuron library: ``build(neuron_spec)`` makes its neuron module, ``steps``
    maps the neuron kind ("leaky", "synaptic") to ``step(neuron, current, state) -> (spikes,
    state)``, and ``leaky_input`` says whether its membrane integrates the input through the
    leak (Norse: ``v += (1 - beta) (I - v)``, so the driver multiplies the current by
    :func:`leak_input_gain`) or adds it (snnTorch: ``mem = beta * mem + I``). The built-in
    backends are registered in :mod:`spikeenergy.models.neurons`."""

    build: Callable[[Any], nn.Module]
    steps: Mapping[str, Callable[..., tuple[Tensor, Any]]]
    leaky_input: bool

    def __post_init__(self) -> None:
        object.__setattr__(self, "steps", MappingProxyType(dict(self.steps)))  # read-only

    def input_gain(self, beta: float) -> float:
        """The factor the input current is multiplied by before this library's neuron."""
        return leak_input_gain(1.0 - beta) if self.leaky_input else 1.0


#: backend name -> :class:`Backend` (built-ins registered in spikeenergy.models.neurons,
#: imported on the registry's first use)
BACKENDS: Registry[Backend] = Registry("backend", builtins="spikeenergy.models.neurons")


def backend(name: str) -> Backend:
    """The record of backend ``name``; a ValueError lists the known ones otherwise."""
    if name not in BACKENDS:
        raise ValueError(f"backend={name!r} is not supported; use one of {', '.join(BACKENDS)}")
    return BACKENDS.get(name)


__all__ = [
    "BACKENDS",
    "MODEL_FAMILIES",
    "SURROGATES",
    "Backend",
    "ModelFamily",
    "Surrogate",
    "backend",
    "is_spiking_family",
    "leak_input_gain",
    "model_family",
    "surrogate",
]
