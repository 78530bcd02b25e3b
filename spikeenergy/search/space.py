"""The architecture search space and how one Optuna trial samples a candidate from it.

Every trial suggests the same parameter names (widths up to the largest depth, neuron
parameters even for dense families), so the space is static as NSGA-II requires; parameters a
candidate does not use are simply ignored by it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from spikeenergy.models import ModelSpec, NeuronSpec
from spikeenergy.models.families import BACKENDS, model_family
from spikeenergy.registry import reject_unknown_keys

_DEFAULT = ModelSpec()
#: the default family on every backend, and its dense twin ("snn-mlp:snntorch", ..., "mlp")
FAMILY_CHOICES = (
    *(f"{_DEFAULT.family}:{b}" for b in BACKENDS),
    _DEFAULT.matched_dense().family,
)


@dataclass(frozen=True)
class SearchSpace:
    """Ranges of the searched quantities.

    ``families``: "snn-mlp:snntorch", "snn-mlp:norse", "mlp"; ``depth``: (min, max) hidden
    layers; ``widths``: choices per layer; ``tau_mem``: (min, max) membrane time constant in
    steps (beta = exp(-1 / tau), log-uniform); ``threshold``: (min, max); ``lam``: choices of the
    energy weight; ``glia_ratio``: choices of glial units per neuron (0 = no glial population).
    """

    families: tuple[str, ...] = FAMILY_CHOICES
    depth: tuple[int, int] = (1, 2)
    widths: tuple[int, ...] = (32, 64, 128, 256)
    tau_mem: tuple[float, float] = (2.0, 20.0)
    threshold: tuple[float, float] = (0.5, 2.0)
    lam: tuple[float, ...] = (0.0, 0.01, 0.1)
    glia_ratio: tuple[float, ...] = (0.0, 0.05, 0.25)
    dense_time_mode: str = "sum"

    def __post_init__(self) -> None:
        for k in ("families", "widths", "lam", "glia_ratio"):
            object.__setattr__(self, k, tuple(getattr(self, k)))
        for k in ("depth", "tau_mem", "threshold"):
            object.__setattr__(self, k, tuple(getattr(self, k)))
            lo, hi = getattr(self, k)
            if not lo <= hi:
                raise ValueError(f"search space {k}=({lo}, {hi}) needs min <= max")
        bad = [f for f in self.families if f not in FAMILY_CHOICES]
        if bad or not self.families:
            raise ValueError(f"families {bad} unknown; use some of {', '.join(FAMILY_CHOICES)}")
        if self.depth[0] < 1 or not self.widths or min(self.widths) < 1:
            raise ValueError("depth must be >= 1 and widths non-empty positive integers")
        if self.tau_mem[0] <= 0 or self.threshold[0] <= 0:
            raise ValueError("tau_mem and threshold ranges must be positive")
        if any(r < 0 or r > 1 for r in self.glia_ratio) or any(v < 0 for v in self.lam):
            raise ValueError("glia_ratio choices must lie in [0, 1] and lam choices be >= 0")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSpace:
        """Build from a TOML table; unknown keys raise naming the known ones."""
        reject_unknown_keys(d, cls, "[space]")
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


@dataclass(frozen=True)
class Candidate:
    """One sampled architecture: the model spec, energy weight and glial ratio."""

    spec: ModelSpec
    lam: float
    glia_ratio: float

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (written to architectures.json)."""
        return {"model": self.spec.to_dict(), "lam": self.lam, "glia_ratio": self.glia_ratio}


def candidate_from_params(params: dict[str, Any], space: SearchSpace) -> Candidate:
    """The candidate a trial's parameters describe (also rebuilds front members from storage)."""
    family, _, backend = str(params["family"]).partition(":")
    depth = int(params["depth"])
    hidden = tuple(int(params[f"width_{i}"]) for i in range(depth))
    spiking = model_family(family).spiking
    neuron = NeuronSpec(
        beta=math.exp(-1.0 / float(params["tau_mem"])), threshold=float(params["threshold"])
    )
    spec = ModelSpec(
        family=family,
        hidden=hidden,
        backend=backend or _DEFAULT.backend,
        neuron=neuron if spiking else NeuronSpec(),
        time_mode=space.dense_time_mode,
    )
    return Candidate(spec, float(params["lam"]), float(params["glia_ratio"]))


def suggest_candidate(trial: Any, space: SearchSpace) -> Candidate:
    """Sample every parameter of ``space`` on an Optuna trial and build the candidate."""
    params = {
        "family": trial.suggest_categorical("family", list(space.families)),
        "depth": trial.suggest_int("depth", space.depth[0], space.depth[1]),
        "tau_mem": trial.suggest_float("tau_mem", *space.tau_mem, log=True),
        "threshold": trial.suggest_float("threshold", *space.threshold),
        "lam": trial.suggest_categorical("lam", list(space.lam)),
        "glia_ratio": trial.suggest_categorical("glia_ratio", list(space.glia_ratio)),
    }
    for i in range(space.depth[1]):
        params[f"width_{i}"] = trial.suggest_categorical(f"width_{i}", list(space.widths))
    return candidate_from_params(params, space)


__all__ = [
    "FAMILY_CHOICES",
    "Candidate",
    "SearchSpace",
    "candidate_from_params",
    "suggest_candidate",
]
