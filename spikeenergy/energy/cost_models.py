"""Cost models: energy per operation of named hardware targets, each number with its source.

A :class:`CostModel` prices the operation counts measured by :mod:`spikeenergy.metrics`
(accumulates, multiply-accumulates, neuron updates, optionally memory accesses) in picojoules.
:meth:`CostModel.energy` turns one row of counts into joules, keeping the counts it charged
beside the joules. Built-in targets are listed in :data:`BUILTIN_COST_MODELS` (see
docs/metrics.md for the table with sources and verification status); user targets come from a
TOML file (:func:`cost_models_from_toml`). Names are resolved only at the CLI/config edge
through :func:`cost_model_registry`.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from spikeenergy.registry import Registry, reject_unknown_keys

#: How a figure was obtained: silicon measurement, simulation/estimate before tape-out, or a
#: whole-chip average (total power / operation rate), which already folds in overheads.
COST_KINDS = ("measured", "pre-silicon", "chip average", "user")
#: Which operations a target executes: "effective" (event-driven / zero-skipping: only ops whose
#: input is non-zero) or "dense" (clocked CPU/GPU style: every synapse on every executed step).
CHARGES = ("effective", "dense")

PJ = 1e-12  # joules per picojoule


def _check_pj(name: str, field: str, v: float | None, optional: bool) -> None:
    if v is None:
        if not optional:
            raise ValueError(f"cost model {name!r}: {field} is required (pJ per operation)")
        return
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise ValueError(f"cost model {name!r}: {field}={v!r} must be a finite number >= 0 (pJ)")


@dataclass(frozen=True)
class CostModel:
    """Energy per operation (pJ) of one target, with where the numbers come from.

    ``pj_per_ac``: one accumulate, i.e. one synaptic operation driven by a binary input (a spike).
    ``pj_per_mac``: one multiply-accumulate (graded input); ``None`` means the target has no MAC
    figure (event-driven chips): graded inputs are then charged as synaptic ops at ``pj_per_ac``
    (one graded spike per op, Loihi-2 style). ``pj_per_neuron_update``: one neuron (or dense unit)
    state update per time step. ``pj_per_memory_access``: optional, charged once per charged
    synaptic op (one weight read). ``charges``: see :data:`CHARGES`. ``kind``: see
    :data:`COST_KINDS`. ``source``: the citation; ``verified``: how (and whether) the numbers
    were checked against that source.
    """

    name: str
    pj_per_ac: float
    pj_per_mac: float | None
    pj_per_neuron_update: float
    kind: str
    source: str
    verified: str
    charges: str = "effective"
    pj_per_memory_access: float | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("cost model name must be a non-empty string")
        _check_pj(self.name, "pj_per_ac", self.pj_per_ac, optional=False)
        _check_pj(self.name, "pj_per_mac", self.pj_per_mac, optional=True)
        _check_pj(self.name, "pj_per_neuron_update", self.pj_per_neuron_update, optional=False)
        _check_pj(self.name, "pj_per_memory_access", self.pj_per_memory_access, optional=True)
        if self.kind not in COST_KINDS:
            raise ValueError(
                f"cost model {self.name!r}: kind={self.kind!r}; use one of {', '.join(COST_KINDS)}"
            )
        if self.charges not in CHARGES:
            raise ValueError(
                f"cost model {self.name!r}: charges={self.charges!r}; use one of "
                f"{', '.join(CHARGES)}"
            )
        if not self.source.strip():
            raise ValueError(
                f"cost model {self.name!r}: source must name where the numbers are from"
            )
        if not self.verified.strip():
            raise ValueError(
                f"cost model {self.name!r}: verified must say how the numbers were checked "
                "(or 'unverified: ...')"
            )

    @property
    def event_driven(self) -> bool:
        """True when only effective (non-zero-input) operations are executed and charged."""
        return self.charges == "effective"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON / TOML friendly); :meth:`from_dict` is the inverse."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CostModel:
        """Build from a dict; unknown keys raise a ValueError naming the known ones."""
        reject_unknown_keys(d, cls, "cost model")
        return cls(**dict(d))

    def energy_pj(self, acs: float = 0.0, macs: float = 0.0, neuron_updates: float = 0.0) -> float:
        """pJ of operation counts the caller already chose (executed ACs, MACs, neuron updates).

        For callers that count only the operations that run (the architecture search, the
        one-pass benchmark); :meth:`energy` picks effective or dense counts by ``charges``.
        """
        pj_mac = self.pj_per_ac if self.pj_per_mac is None else self.pj_per_mac
        return (
            acs * self.pj_per_ac
            + macs * pj_mac
            + neuron_updates * self.pj_per_neuron_update
            + (acs + macs) * (self.pj_per_memory_access or 0.0)
        )

    def energy(self, counts: Mapping[str, float]) -> dict[str, float]:
        """Joules for one row of per-sample counts, with the op counts that were charged.

        ``counts`` keys (missing = 0): ``effective_acs``, ``effective_macs`` (charged on
        "effective" targets), ``dense_acs``, ``dense_macs`` (charged on "dense" targets) and
        ``neuron_updates``. Returns ``charged_acs``, ``charged_macs``, ``charged_neuron_updates``,
        ``synaptic_energy_j``, ``neuron_energy_j``, ``memory_energy_j`` and ``energy_j``.
        """
        prefix = "effective" if self.event_driven else "dense"
        acs = float(counts.get(f"{prefix}_acs", 0.0))
        macs = float(counts.get(f"{prefix}_macs", 0.0))
        updates = float(counts.get("neuron_updates", 0.0))
        pj_mac = self.pj_per_ac if self.pj_per_mac is None else self.pj_per_mac
        syn_j = (acs * self.pj_per_ac + macs * pj_mac) * PJ
        neuron_j = updates * self.pj_per_neuron_update * PJ
        mem_j = (acs + macs) * (self.pj_per_memory_access or 0.0) * PJ
        return {
            "charged_acs": acs,
            "charged_macs": macs,
            "charged_neuron_updates": updates,
            "synaptic_energy_j": syn_j,
            "neuron_energy_j": neuron_j,
            "memory_energy_j": mem_j,
            "energy_j": syn_j + neuron_j + mem_j,
        }


_HOROWITZ = (
    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', ISSCC 2014, "
    "45 nm CMOS at 0.9 V: 32-bit float add 0.9 pJ, 32-bit float mult 3.7 pJ (MAC = 4.6 pJ)"
)
_DEGNAN = (
    "B. Degnan, B. Marr, J. Hasler, 'Assessing trends in performance per watt for signal "
    "processing applications', IEEE TVLSI 24(1), 2016, as tabulated in KerasSpiking "
    "(keras_spiking/model_energy.py, ModelEnergy.devices)"
)
_DAVIES = (
    "M. Davies et al., 'Loihi: a neuromorphic manycore processor with on-chip learning', "
    "IEEE Micro 38(1), 2018 (Table of energy per operation)"
)
_HOEPPNER = (
    "S. Hoeppner et al., 'Dynamic power management for neuromorphic many-core systems', "
    "IEEE TCAS-I 66(8), 2019 (arXiv:1903.08941), as tabulated in KerasSpiking "
    "(keras_spiking/model_energy.py, ModelEnergy.devices)"
)
_KS_VERIFIED = (
    "secondary: numbers read from the KerasSpiking source (nengo/keras-spiking "
    "keras_spiking/model_energy.py, devices table, commit 1384ec36); primary paper not checked"
)

#: The built-in targets. The numbers are data next to their sources; docs/metrics.md mirrors
#: this table. Add a target here (or in a user TOML file) with its source and verification.
BUILTIN_COST_MODELS: tuple[CostModel, ...] = (
    CostModel(
        name="cmos45",
        pj_per_ac=0.9,
        pj_per_mac=4.6,
        pj_per_neuron_update=4.6,
        kind="pre-silicon",
        source=_HOROWITZ,
        verified=(
            "secondary: add 0.9 pJ / mult 3.7 pJ match the Horowitz table as reproduced in "
            "Frontiers in Neurology 2022 (PMC8934428, Table 3); MAC = 3.7 + 0.9 = 4.6 pJ. "
            "neuron update = one fp32 MAC (mem = beta*mem + I) is our assumption"
        ),
        charges="effective",
        notes=(
            "zero-skipping digital accelerator in 45 nm: ACs for binary inputs, MACs for graded "
            "inputs, only for non-zero inputs; no memory/data-movement energy"
        ),
    ),
    CostModel(
        name="cpu",
        pj_per_ac=8600.0,
        pj_per_mac=8600.0,
        pj_per_neuron_update=8600.0,
        kind="chip average",
        source=_DEGNAN + "; device: Intel i7-4960X",
        verified=_KS_VERIFIED + " (cpu: energy_per_synop = energy_per_neuron = 8.6e-9 J)",
        charges="dense",
        notes="every synapse every executed step is one MAC (KerasSpiking's non-spiking device)",
    ),
    CostModel(
        name="gpu",
        pj_per_ac=300.0,
        pj_per_mac=300.0,
        pj_per_neuron_update=300.0,
        kind="chip average",
        source=_DEGNAN + "; device: Nvidia GTX Titan Black",
        verified=_KS_VERIFIED + " (gpu: 0.3e-9 J per synop and per neuron update)",
        charges="dense",
        notes="assumes large batches (full parallelism), as KerasSpiking does",
    ),
    CostModel(
        name="arm",
        pj_per_ac=900.0,
        pj_per_mac=900.0,
        pj_per_neuron_update=900.0,
        kind="chip average",
        source=_DEGNAN + "; device: ARM Cortex-A",
        verified=_KS_VERIFIED + " (arm: 0.9e-9 J per synop and per neuron update)",
        charges="dense",
    ),
    CostModel(
        name="loihi",
        pj_per_ac=23.6,
        pj_per_mac=None,
        pj_per_neuron_update=52.0,
        kind="measured",
        source=_DAVIES + ": synaptic spike op (minimum) 23.6 pJ, neuron update 52 pJ",
        verified=(
            "partly: 23.6 pJ per synaptic op matches KerasSpiking's Loihi entry "
            "(23.6 + 3.5 pJ) ; 52 pJ per neuron update (inactive neuron) not checked against "
            "the paper (KerasSpiking uses 81 pJ, the active-neuron figure)"
        ),
        charges="effective",
        notes="Loihi 1, 14 nm; excludes spike routing (3.5 pJ per hop) - see loihi-kerasspiking",
    ),
    CostModel(
        name="loihi-kerasspiking",
        pj_per_ac=27.1,
        pj_per_mac=None,
        pj_per_neuron_update=81.0,
        kind="measured",
        source=_DAVIES + ", as combined by KerasSpiking: synop 23.6 pJ + 3.5 pJ across-tile "
        "spike, neuron update 81 pJ",
        verified=_KS_VERIFIED + " (loihi: (23.6 + 3.5) e-12 J per synop, 81e-12 J per neuron)",
        charges="effective",
    ),
    CostModel(
        name="spinnaker",
        pj_per_ac=13300.0,
        pj_per_mac=None,
        pj_per_neuron_update=26000.0,
        kind="measured",
        source=_HOEPPNER + "; SpiNNaker 1 (ARM968, 130 nm)",
        verified=_KS_VERIFIED + " (spinnaker: 13.3e-9 J per synop, 26e-9 J per neuron)",
        charges="effective",
    ),
    CostModel(
        name="spinnaker2",
        pj_per_ac=450.0,
        pj_per_mac=None,
        pj_per_neuron_update=2190.0,
        kind="measured",
        source=_HOEPPNER + "; SpiNNaker 2 prototype (22 nm FDSOI, DVFS)",
        verified=_KS_VERIFIED + " (spinnaker2: 450e-12 J per synop, 2.19e-9 J per neuron)",
        charges="effective",
    ),
    CostModel(
        name="truenorth",
        pj_per_ac=26.0,
        pj_per_mac=None,
        pj_per_neuron_update=0.0,
        kind="chip average",
        source=(
            "P. A. Merolla et al., 'A million spiking-neuron integrated circuit with a scalable "
            "communication network and interface', Science 345(6197), 2014: 26 pJ per "
            "synaptic event"
        ),
        verified="unverified: figure as given in the project brief; paper not accessible here",
        charges="effective",
        notes="whole-chip figure per synaptic event; neuron updates are folded into it (0 pJ)",
    ),
)


def cost_models_from_toml(path: str | os.PathLike[str]) -> list[CostModel]:
    """Read user targets from a TOML file: one ``[targets.<name>]`` table per target.

    Example::

        [targets.my-asic]
        pj_per_ac = 0.5
        pj_per_mac = 2.0
        pj_per_neuron_update = 1.0
        kind = "pre-silicon"
        source = "our 22 nm synthesis, 2024"
        verified = "measured by us"
    """
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError as exc:
            raise ModuleNotFoundError(
                "reading TOML on Python 3.10 needs `pip install tomli`"
            ) from exc
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no cost model file at {p}")
    with p.open("rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"cannot parse cost model file {p}: {exc}") from exc
    targets = data.get("targets")
    if not isinstance(targets, dict) or not targets:
        raise ValueError(f"{p} has no [targets.<name>] tables; see cost_models_from_toml's example")
    out = []
    for name, table in targets.items():
        if not isinstance(table, dict):
            raise ValueError(f"{p}: targets.{name} must be a table of pj_per_* keys")
        d = dict(table)
        d.setdefault("kind", "user")
        d.setdefault("pj_per_mac", None)
        d["name"] = name
        try:
            out.append(CostModel.from_dict(d))
        except TypeError as exc:  # missing required keys
            raise ValueError(f"{p}: targets.{name}: {exc}") from exc
    return out


def cost_model_registry(extra: Iterable[CostModel] = ()) -> Registry[CostModel]:
    """A fresh registry of the built-in targets plus ``extra`` (duplicate names raise)."""
    reg: Registry[CostModel] = Registry("cost model")
    for cm in (*BUILTIN_COST_MODELS, *extra):
        reg.add(cm.name, cm)
    return reg


def get_cost_model(name: str, extra: Iterable[CostModel] = ()) -> CostModel:
    """The built-in (or ``extra``) target called ``name``; unknown names list the known ones."""
    return cost_model_registry(extra).get(name)


__all__ = [
    "BUILTIN_COST_MODELS",
    "CHARGES",
    "COST_KINDS",
    "CostModel",
    "cost_model_registry",
    "cost_models_from_toml",
    "get_cost_model",
]
