"""Frozen specifications of neurons and model architectures (the config objects models build from).

A spec is plain data: it round-trips through :meth:`ModelSpec.to_dict` / :meth:`ModelSpec.from_dict`
(TOML/JSON friendly), and ``build_model(spec, input_shape, num_classes)`` plus a ``state_dict``
rebuilds a trained model exactly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from spikeenergy.models.families import (
    BACKENDS,
    MODEL_FAMILIES,
    ModelFamily,
    model_family,
    surrogate,
)
from spikeenergy.registry import reject_unknown_keys

#: Neutral neuron model names and the aliases accepted for them (backend-native names).
#: "leaky": one state (membrane)          -> snnTorch ``Leaky``,    Norse ``LIFBoxCell``
#: "synaptic": two states (current, membrane) -> snnTorch ``Synaptic``, Norse ``LIFCell``
NEURON_MODEL_ALIASES: dict[str, str] = {
    "leaky": "leaky",
    "lifbox": "leaky",
    "synaptic": "synaptic",
    "lif": "synaptic",
}
RESETS = ("subtract", "zero")
#: the model families (a live view of the registry: ``"mlp" in FAMILIES``, iteration sorted)
FAMILIES = MODEL_FAMILIES
READOUTS = ("membrane", "spike_count")
TIME_MODES = ("per_step", "sum")
#: "fast": time-batched projections + fused LIF (spikeenergy.models.fast), "library": the
#: backend's neuron modules stepped one time step at a time, "auto": the family's
#: ``auto_engine`` (fast where it is faster; see docs/performance.md).
ENGINES = ("auto", "fast", "library")


def _one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    """Raise a ValueError naming the allowed values when ``value`` is not one of them."""
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is not supported; use one of {', '.join(allowed)}")


@dataclass(frozen=True)
class NeuronSpec:
    """Parameters of a (discrete-time) leaky integrate-and-fire neuron, backend-neutral.

    Dynamics per step between resets (both backends, see docs/models.md)::

        syn[t] = alpha * syn[t-1] + I[t]              (model="synaptic" only; else syn = I)
        mem[t] = beta * mem[t-1] + syn[t]
        spk[t] = H(mem[t] - threshold)

    The backends apply the reset differently; they compute the same spike trains only for
    ``model="leaky", reset="zero"`` (``backend_difference`` names the difference otherwise).

    ``detach_reset=None`` keeps the backend's native choice (snnTorch detaches the reset, Norse
    does not); an explicit value is honoured where the backend allows it and rejected otherwise.
    ``surrogate`` + ``slope`` choose the surrogate gradient of the Heaviside step.
    """

    model: str = "leaky"
    beta: float = 0.9
    alpha: float = 0.8
    threshold: float = 1.0
    reset: str = "subtract"
    detach_reset: bool | None = None
    surrogate: str = "fast_sigmoid"
    slope: float = 1.0

    def __post_init__(self) -> None:
        if self.model not in NEURON_MODEL_ALIASES:
            raise ValueError(
                f"neuron model={self.model!r} is not supported; use one of "
                f"{', '.join(NEURON_MODEL_ALIASES)} (lif = synaptic, lifbox = leaky)"
            )
        for name in ("beta", "alpha"):
            v = getattr(self, name)
            if not (0.0 <= v <= 1.0):
                raise ValueError(f"neuron {name}={v} must lie in [0, 1] (decay per time step)")
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise ValueError(f"neuron threshold={self.threshold} must be a positive number")
        _one_of("neuron reset", self.reset, RESETS)
        surrogate(self.surrogate)  # raises naming the known surrogates
        if not (math.isfinite(self.slope) and self.slope > 0):
            raise ValueError(f"neuron slope={self.slope} must be a positive number")

    @property
    def kind(self) -> str:
        """The neutral model name ("leaky" or "synaptic") after resolving aliases."""
        return NEURON_MODEL_ALIASES[self.model]

    @classmethod
    def from_tau(
        cls, tau_mem: float, tau_syn: float | None = None, dt: float = 1.0, **kwargs: Any
    ) -> NeuronSpec:
        """Build from time constants: beta = exp(-dt / tau_mem), alpha = exp(-dt / tau_syn)."""
        if tau_mem <= 0 or (tau_syn is not None and tau_syn <= 0) or dt <= 0:
            raise ValueError("tau_mem, tau_syn and dt must be positive (same time unit)")
        beta = math.exp(-dt / tau_mem)
        alpha = math.exp(-dt / tau_syn) if tau_syn is not None else cls.alpha
        return cls(beta=beta, alpha=alpha, **kwargs)


@dataclass(frozen=True)
class ModelSpec:
    """Architecture of one model: family, widths, backend and neuron (spiking families).

    ``hidden`` are the widths of the fully connected hidden layers (all families; for "gru" the
    widths of stacked GRU layers); ``conv_channels`` / ``kernel_size`` / ``pool`` define the
    convolutional front end of "snn-cnn" and "cnn" (each block: conv, nonlinearity, max-pool).
    ``recurrent`` adds a recurrent (hidden -> hidden) weight to each spiking fully connected layer.
    ``readout``: "membrane" (mean over time of a non-spiking output layer's input current, i.e. the
    membrane of a non-leaky integrator divided by T) or "spike_count" (spikes of a spiking output
    layer summed over time). ``time_mode`` (dense "mlp"/"cnn"): "per_step" applies the network to
    every frame and averages logits over time; "sum" applies it once to the time-summed frames.
    ``engine`` (spiking families): "fast" runs each layer as one time-batched matmul/convolution
    plus a fused LIF recurrence, numerically the same model as the backend's neurons; "library"
    steps the backend's neuron modules; "auto" (default) is "fast" for feed-forward "snn-mlp"
    and "library" for "snn-cnn" and ``recurrent`` nets (measured: batching T convolutions into one
    is not faster on CPU, benchmarks/perf).
    Dense families ignore it.
    """

    family: str = "snn-mlp"  # the default family; every other fact about it is in its record
    hidden: tuple[int, ...] = (128,)
    conv_channels: tuple[int, ...] = (16, 32)
    kernel_size: int = 3
    pool: int = 2
    backend: str = "snntorch"
    recurrent: bool = False
    readout: str = "membrane"
    time_mode: str = "per_step"
    neuron: NeuronSpec = field(default_factory=NeuronSpec)
    engine: str = "auto"

    def __post_init__(self) -> None:
        fam = model_family(self.family)  # raises naming the known families
        # registry names are case-insensitive: store the registered spelling (one run id)
        object.__setattr__(self, "family", self.family.lower())
        _one_of("engine", self.engine, ENGINES)
        _one_of("backend", self.backend, tuple(BACKENDS))
        _one_of("readout", self.readout, READOUTS)
        _one_of("time_mode", self.time_mode, TIME_MODES)
        # Accept lists (from TOML/JSON) but store tuples so the spec stays hashable and frozen.
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "conv_channels", tuple(int(c) for c in self.conv_channels))
        if any(h <= 0 for h in self.hidden) or any(c <= 0 for c in self.conv_channels):
            raise ValueError("hidden widths and conv channels must be positive integers")
        if fam.needs_hidden and not self.hidden:
            raise ValueError(
                f"family {self.family!r} needs at least one hidden width (hidden=(128,))"
            )
        if fam.conv and not self.conv_channels:
            raise ValueError(f"family {self.family!r} needs conv_channels, e.g. (16, 32)")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size={self.kernel_size} must be a positive odd integer")
        if self.pool < 1:
            raise ValueError(f"pool={self.pool} must be >= 1 (1 disables pooling)")
        if not isinstance(self.neuron, NeuronSpec):
            raise TypeError("neuron must be a NeuronSpec (use ModelSpec.from_dict for dicts)")
        if self.engine == "fast" and fam.spiking:
            if self.recurrent:
                raise ValueError(
                    "engine='fast' does not support recurrent=True (the recurrent weight couples "
                    "the time steps of a layer); use engine='auto' or 'library'"
                )
            if not fam.fast_engine:
                raise ValueError(
                    f"family {self.family!r} has no fast engine; use engine='auto' or 'library'"
                )

    @property
    def family_record(self) -> ModelFamily:
        """The :class:`~spikeenergy.models.families.ModelFamily` of this spec's family."""
        return model_family(self.family)

    @property
    def is_spiking(self) -> bool:
        """True for the spiking families (their record's ``spiking`` flag)."""
        return self.family_record.spiking

    @property
    def uses_fast_engine(self) -> bool:
        """True when a spiking model of this spec runs on the fast engine."""
        fam = self.family_record
        if not fam.spiking or self.recurrent or not fam.fast_engine:
            return False
        return self.engine == "fast" or (self.engine == "auto" and fam.auto_engine == "fast")

    def matched_dense(self, family: str | None = None) -> ModelSpec:
        """Dense baseline with the same widths: the family's ``dense_twin`` (snn-mlp -> mlp,
        snn-cnn -> cnn), or ``family``; a dense spec maps to itself."""
        target = family or self.family_record.dense_twin or self.family
        if model_family(target).spiking:
            dense = [n for n in MODEL_FAMILIES if not MODEL_FAMILIES.get(n).spiking]
            raise ValueError(f"dense family={target!r} is spiking; use one of {', '.join(dense)}")
        return replace(self, family=target)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (JSON/TOML friendly) that :meth:`from_dict` turns back into a spec."""
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        d["conv_channels"] = list(self.conv_channels)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        """Inverse of :meth:`to_dict`; unknown keys raise a ValueError naming the known ones."""
        reject_unknown_keys(d, cls, "ModelSpec")
        kw = dict(d)
        if isinstance(kw.get("neuron"), dict):
            reject_unknown_keys(kw["neuron"], NeuronSpec, "NeuronSpec")
            kw["neuron"] = NeuronSpec(**kw["neuron"])
        return cls(**kw)
