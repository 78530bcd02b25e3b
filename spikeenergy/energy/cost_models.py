"""Cost models: energy per operation of named hardware targets, each number with its source.

A :class:`CostModel` prices the counts of the energy ledger (:mod:`spikeenergy.energy.ledger`:
accumulates, multiply-accumulates, neuron updates, spikes, memory traffic) in picojoules.
:meth:`CostModel.price` is the one pricing function (floats or tensors), keeping the counts it
charged beside the energies; :func:`in_joules` turns its output into report columns. Built-in
targets are listed in :data:`BUILTIN_COST_MODELS` (see docs/metrics.md for the table with
sources and verification status); user targets come from a TOML file
(:func:`cost_models_from_toml`). Names are resolved only at the CLI/config edge through
:func:`cost_model_registry`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from spikeenergy.registry import Registry, reject_unknown_keys

if TYPE_CHECKING:
    from torch import Tensor

#: How a figure was obtained: silicon measurement, simulation/estimate before tape-out, a vendor
#: datasheet, or a whole-chip average (total power / operation rate), which already folds in
#: overheads.
COST_KINDS = ("measured", "pre-silicon", "datasheet", "chip average", "user")
#: Which operations a target executes: "effective" (event-driven / zero-skipping: only ops whose
#: input is non-zero, on synapses that exist) or "dense" (clocked CPU/GPU style: every synapse on
#: every executed step, zero weights included).
CHARGES = ("effective", "dense")
#: How an event-driven target executes a graded (non-binary) input value a:
#: "mac": one multiply-accumulate per existing synapse (zero-skipping digital accelerators);
#: "events": |a| binary spikes, each an accumulate per synapse (binary-spike chips: Loihi 1,
#:   TrueNorth, SpiNNaker receive an event count k as k spikes; KerasSpiking's rule);
#: "graded-spike": one graded spike per synapse, priced as an accumulate (Loihi 2).
GRADED_INPUTS = ("mac", "events", "graded-spike")
#: How the ledger splits a recorded call is split into binary (AC) and graded (MAC) inputs.
#: "per_sample": per (step, sample): a sample's step is binary if all its inputs are in {-1, 0, 1}
#:   (the default: results do not depend on how samples are batched);
#: "neurobench": per call (one step of the whole batch), exactly NeuroBench's rule.
POLICIES = ("per_sample", "neurobench")
DEFAULT_POLICY = "per_sample"


def check_policy(policy: str) -> str:
    """Return ``policy`` or raise a ValueError listing the allowed ones."""
    if policy not in POLICIES:
        raise ValueError(f"AC/MAC policy {policy!r}; use one of {', '.join(POLICIES)}")
    return policy


PJ = 1e-12  # joules per picojoule
#: The target of the default energy term (``Joules``) and of benchmark tables: a generic 45 nm
#: zero-skipping accelerator that prices spiking (ACs) and dense (MACs) nets alike, with memory.
DEFAULT_TARGET = "cmos45"

Number = TypeVar("Number", float, "Tensor")


def _check_pj(name: str, field: str, v: float | None, optional: bool) -> None:
    if v is None:
        if not optional:
            raise ValueError(f"cost model {name!r}: {field} is required (pJ per operation)")
        return
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise ValueError(f"cost model {name!r}: {field}={v!r} must be a finite number >= 0 (pJ)")


_MEMORY_FIELDS = ("pj_per_weight_read", "pj_per_state_read", "pj_per_state_write")


@dataclass(frozen=True)
class CostModel:
    """Energy per operation and per memory access (pJ) of one target, with the sources.

    Operations (counted by :mod:`spikeenergy.energy.ledger`): ``pj_per_ac`` one accumulate (a
    synaptic operation driven by a binary input, a spike); ``pj_per_mac`` one multiply-accumulate
    (graded input; ``None`` for chips without one: see ``graded_inputs``);
    ``pj_per_neuron_update`` one neuron (or dense unit) update per time step, charged for inactive
    neurons, and ``pj_per_active_update`` for an update whose neuron fires (``None``: the same
    figure); ``pj_per_spike`` routing one output spike. ``charges``: see :data:`CHARGES`;
    ``graded_inputs``: see :data:`GRADED_INPUTS` (default "mac" when there is a MAC figure, else
    "events").

    Memory traffic (Lemaire et al. 2022; Dampfhoffer et al. 2023): per charged synaptic op one
    weight read and a read-modify-write of the target's accumulator (membrane) on event-driven
    targets, a weight read and an input read on dense targets; per neuron update a read and a
    write of each state word. ``pj_per_weight_read`` / ``pj_per_state_read`` /
    ``pj_per_state_write`` price them (``None``: no figure, memory energy not included and
    reported as absent); ``memory_in_op_figures=True`` says the target's published per-op figures
    already include these accesses (whole-chip averages, Loihi's per-op energies), so no memory
    energy is added. ``kind``: see :data:`COST_KINDS`; ``source`` and ``memory_source``: the
    citations; ``verified``: how (and whether) the numbers were checked against them.
    """

    name: str
    pj_per_ac: float
    pj_per_mac: float | None
    pj_per_neuron_update: float
    kind: str
    source: str
    verified: str
    charges: str = "effective"
    graded_inputs: str | None = None
    pj_per_active_update: float | None = None
    pj_per_spike: float = 0.0
    pj_per_weight_read: float | None = None
    pj_per_state_read: float | None = None
    pj_per_state_write: float | None = None
    memory_in_op_figures: bool = False
    memory_source: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("cost model name must be a non-empty string")
        _check_pj(self.name, "pj_per_ac", self.pj_per_ac, optional=False)
        _check_pj(self.name, "pj_per_mac", self.pj_per_mac, optional=True)
        _check_pj(self.name, "pj_per_neuron_update", self.pj_per_neuron_update, optional=False)
        _check_pj(self.name, "pj_per_active_update", self.pj_per_active_update, optional=True)
        _check_pj(self.name, "pj_per_spike", self.pj_per_spike, optional=False)
        for f in _MEMORY_FIELDS:
            _check_pj(self.name, f, getattr(self, f), optional=True)
        if self.kind not in COST_KINDS:
            raise ValueError(
                f"cost model {self.name!r}: kind={self.kind!r}; use one of {', '.join(COST_KINDS)}"
            )
        if self.charges not in CHARGES:
            raise ValueError(
                f"cost model {self.name!r}: charges={self.charges!r}; use one of "
                f"{', '.join(CHARGES)}"
            )
        if self.graded_inputs is not None and self.graded_inputs not in GRADED_INPUTS:
            raise ValueError(
                f"cost model {self.name!r}: graded_inputs={self.graded_inputs!r}; use one of "
                f"{', '.join(GRADED_INPUTS)}"
            )
        if self.graded_mode == "mac" and self.pj_per_mac is None:
            raise ValueError(
                f"cost model {self.name!r}: graded_inputs='mac' needs pj_per_mac; give it, or "
                "set graded_inputs to 'events' or 'graded-spike'"
            )
        if self.charges == "dense" and self.pj_per_mac is None:
            raise ValueError(f"cost model {self.name!r}: a dense (clocked) target needs pj_per_mac")
        has_memory = any(getattr(self, f) is not None for f in _MEMORY_FIELDS)
        if self.memory_in_op_figures and has_memory:
            raise ValueError(
                f"cost model {self.name!r}: memory_in_op_figures=True says the op figures include "
                "memory access; do not also give pj_per_weight_read/state_read/state_write"
            )
        if has_memory and not self.memory_source.strip():
            raise ValueError(
                f"cost model {self.name!r}: memory figures need memory_source (where they are from)"
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
        """True when only effective (non-zero-input, existing-synapse) operations are charged."""
        return self.charges == "effective"

    @property
    def graded_mode(self) -> str:
        """How graded inputs are executed (``graded_inputs`` or its default)."""
        if self.graded_inputs is not None:
            return self.graded_inputs
        return "mac" if self.pj_per_mac is not None else "events"

    @property
    def memory(self) -> str:
        """Memory: "included" (in the op figures), "priced" (own figures) or "absent"."""
        if self.memory_in_op_figures:
            return "included"
        if any(getattr(self, f) is not None for f in _MEMORY_FIELDS):
            return "priced"
        return "absent"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON / TOML friendly); :meth:`from_dict` is the inverse."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CostModel:
        """Build from a dict; unknown keys raise a ValueError naming the known ones."""
        reject_unknown_keys(d, cls, "cost model")
        return cls(**dict(d))

    def price(self, counts: Mapping[str, Number]) -> dict[str, Number]:
        """Charged operations, memory accesses and pJ of one row of ledger counts.

        Plain arithmetic on ``counts`` (Python floats or tensors: the training term prices
        differentiable counts with this same function). Keys read (missing = 0): the
        :data:`spikeenergy.energy.ledger.COUNTS`. Returns the charged counts (``charged_acs``,
        ``charged_macs``, ``charged_neuron_updates``, ``charged_spikes``, ``weight_reads``,
        ``state_reads``, ``state_writes``) and energies in pJ: ``synaptic_pj``, ``neuron_pj``,
        ``spike_pj``, ``compute_pj`` (ops only), ``memory_pj`` (0 when memory is included in the
        op figures or not modelled) and ``energy_pj`` (= compute + memory).
        """
        zero: Any = 0.0

        def get(k: str) -> Any:
            return counts.get(k, zero)

        updates, active, words = get("neuron_updates"), get("active_updates"), get("state_words")
        pj_active = (
            self.pj_per_neuron_update
            if self.pj_per_active_update is None
            else self.pj_per_active_update
        )
        if self.event_driven:
            acs, macs = get("acs"), get("macs")
            if self.graded_mode == "events":
                acs, macs = acs + get("graded_events"), zero
            elif self.graded_mode == "graded-spike":
                acs, macs = acs + macs, zero
            ops = acs + macs
            neuron = (updates - active) * self.pj_per_neuron_update + active * pj_active
            weight_reads, state_reads, state_writes = ops, ops + words, ops + words
        else:
            acs, macs = zero, get("dense_ops")
            ops = macs
            neuron = updates * self.pj_per_neuron_update
            # per MAC a weight read and an input read; per neuron update its state words
            weight_reads, state_reads, state_writes = ops, ops + words, words
        pj_mac = self.pj_per_ac if self.pj_per_mac is None else self.pj_per_mac
        synaptic = acs * self.pj_per_ac + macs * pj_mac
        spikes = get("spikes")
        spike = spikes * self.pj_per_spike
        memory = (
            weight_reads * (self.pj_per_weight_read or 0.0)
            + state_reads * (self.pj_per_state_read or 0.0)
            + state_writes * (self.pj_per_state_write or 0.0)
        )
        compute = synaptic + neuron + spike
        return {
            "charged_acs": acs,
            "charged_macs": macs,
            "charged_neuron_updates": updates,
            "charged_spikes": spikes,
            "weight_reads": weight_reads,
            "state_reads": state_reads,
            "state_writes": state_writes,
            "synaptic_pj": synaptic,
            "neuron_pj": neuron,
            "spike_pj": spike,
            "compute_pj": compute,
            "memory_pj": memory,
            "energy_pj": compute + memory,
        }


#: Report columns of :func:`in_joules` (name -> (unit per inference, description)).
PRICED_COLUMNS: dict[str, tuple[str, str]] = {
    "charged_acs": ("ACs", "accumulates charged on the target"),
    "charged_macs": ("MACs", "multiply-accumulates charged on the target"),
    "charged_neuron_updates": ("updates", "neuron updates charged on the target"),
    "charged_spikes": ("spikes", "output spikes routed (charged per spike)"),
    "weight_reads": ("reads", "weight reads (one per charged synaptic op)"),
    "state_reads": ("reads", "state word reads (accumulators and neuron state)"),
    "state_writes": ("writes", "state word writes (accumulators and neuron state)"),
    "synaptic_energy_j": ("J", "energy of the charged synaptic ops"),
    "neuron_energy_j": ("J", "energy of the charged neuron updates"),
    "spike_energy_j": ("J", "energy of routing the output spikes"),
    "compute_energy_j": ("J", "operations only: synaptic + neuron + spike energy"),
    "memory_energy_j": (
        "J",
        "memory traffic priced by the target's memory figures (0: included in the op figures "
        "or not modelled, see the target's 'memory')",
    ),
    "energy_j": ("J", "energy per inference: compute + memory"),
}


def in_joules(priced: Mapping[str, Any]) -> dict[str, float]:
    """:meth:`CostModel.price` output as report columns: counts as they are, ``*_pj`` in J."""
    out: dict[str, float] = {}
    for k, v in priced.items():
        if k == "energy_pj":
            out["energy_j"] = float(v) * PJ
        elif k.endswith("_pj"):
            out[k[:-3] + "_energy_j"] = float(v) * PJ
        else:
            out[k] = float(v)
    return out


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
    "IEEE Micro 38(1):82-99, 2018, Table 2 ('Loihi pre-silicon performance and energy "
    "measurements', SDF and SPICE simulations at 0.75 V)"
)
_DAVIES_VERIFIED = (
    "secondary: Table 2 values (synaptic spike op min 23.6 pJ, neuron update active 81 / inactive "
    "52 pJ, within-tile spike 1.7 pJ) as transcribed by two independent third-party sources and "
    "the SANA-FE Loihi preset's comments; the PDF itself was not opened here"
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
_MEMORY_45NM = (
    "per-access energy: Horowitz ISSCC 2014 (45 nm): 64-bit read of an 8 KB SRAM 10 pJ (32 KB "
    "20 pJ, 1 MB 100 pJ); we charge 10 pJ per word access (one access per weight or state word, "
    "no packing; writes priced as reads). Access counts follow the event-driven model of "
    "Lemaire et al., 'An analytical estimation of spiking neural networks energy efficiency', "
    "ICONIP 2022 (arXiv:2210.13107), whose own fit 1.09e-5 pJ/bit x size + 13.2 pJ gives 13.9 pJ "
    "at 8 KB; unlike Lemaire we also charge the membrane read of each read-modify-write, as "
    "Dampfhoffer et al., IEEE TETCI 7(3), 2023 argue memory accesses must be counted"
)

#: The built-in targets. The numbers are data next to their sources; docs/metrics.md mirrors
#: this table. Add a target here (or in a user TOML file) with its source and verification.
#: Loihi 2, SynSense Speck / Xylo and BrainChip Akida are not built in: no per-operation figure
#: was found in their publications (only whole-chip power or energy per inference of one
#: network); derive a chip average for your own network with :func:`calibrated_cost_model`.
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
        pj_per_weight_read=10.0,
        pj_per_state_read=10.0,
        pj_per_state_write=10.0,
        memory_source=_MEMORY_45NM,
        notes=(
            "zero-skipping digital accelerator in 45 nm: ACs for binary inputs, MACs for graded "
            "inputs, only for non-zero inputs on existing synapses; on-chip SRAM traffic priced "
            "separately (compute_pj = ops only, energy_pj = ops + memory)"
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
        memory_in_op_figures=True,
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
        memory_in_op_figures=True,
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
        memory_in_op_figures=True,
    ),
    CostModel(
        name="loihi",
        pj_per_ac=23.6,
        pj_per_mac=None,
        pj_per_neuron_update=52.0,
        pj_per_active_update=81.0,
        pj_per_spike=1.7,
        kind="pre-silicon",
        source=_DAVIES + ": synaptic spike op (min) 23.6 pJ, neuron update inactive 52 pJ / "
        "active 81 pJ, spike within a tile 1.7 pJ",
        verified=_DAVIES_VERIFIED,
        charges="effective",
        graded_inputs="events",
        memory_in_op_figures=True,
        notes=(
            "Loihi 1, 14 nm; binary spikes only: an event count k is k spikes; an update is "
            "'active' when the neuron fires; spikes routed within a tile (per-hop mesh energy of "
            "3.0-4.0 pJ for spikes leaving the tile is not charged: it depends on placement)"
        ),
    ),
    CostModel(
        name="loihi-kerasspiking",
        pj_per_ac=27.1,
        pj_per_mac=None,
        pj_per_neuron_update=81.0,
        kind="pre-silicon",
        source=_DAVIES + ", as combined by KerasSpiking: 23.6 pJ + 3.5 per synaptic op, "
        "81 pJ per neuron update",
        verified=_KS_VERIFIED
        + " (loihi: (23.6 + 3.5) e-12 J per synop, 81e-12 J per neuron); the 3.5 is not an "
        "energy of Davies' Table 2 (it lists 3.0 / 4.0 pJ per hop and 3.5 ns per synaptic op)",
        charges="effective",
        graded_inputs="events",
        memory_in_op_figures=True,
        notes="KerasSpiking's accounting, kept to compare with it; prefer 'loihi'",
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
        graded_inputs="events",
        memory_in_op_figures=True,
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
        graded_inputs="events",
        memory_in_op_figures=True,
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
        graded_inputs="events",
        memory_in_op_figures=True,
        notes="whole-chip figure per synaptic event; neuron updates are folded into it (0 pJ)",
    ),
)


def calibrated_cost_model(
    name: str,
    energy_per_inference_j: float,
    counts: Mapping[str, float],
    source: str,
    charges: str = "effective",
) -> CostModel:
    """A whole-chip average target from a MEASURED energy per inference of one network.

    For chips that publish no per-operation figures (Loihi 2, Speck, Xylo, Akida): run your
    network on the chip, measure its energy per inference, count the same network's operations
    with the ledger (``counts``: per-inference totals, e.g. ``EnergyLedger.total()``), and get
    the energy per synaptic operation that reproduces the measurement (neuron updates folded in,
    like TrueNorth's figure). The result is a "chip average" for that workload, not a per-op
    constant of the chip: say so when you publish numbers priced with it.
    """
    if not (math.isfinite(energy_per_inference_j) and energy_per_inference_j > 0):
        raise ValueError(f"energy_per_inference_j={energy_per_inference_j} must be > 0 joules")
    if charges == "effective":
        ops = float(counts.get("acs", 0.0)) + float(counts.get("graded_events", 0.0))
    elif charges == "dense":
        ops = float(counts.get("dense_ops", 0.0))
    else:
        raise ValueError(f"charges={charges!r}; use one of {', '.join(CHARGES)}")
    if ops <= 0:
        raise ValueError(
            "the counts hold no synaptic operations to divide the measured energy by; pass the "
            "ledger's per-inference totals of the measured network"
        )
    pj = energy_per_inference_j / PJ / ops
    return CostModel(
        name=name,
        pj_per_ac=pj,
        pj_per_mac=pj,
        pj_per_neuron_update=0.0,
        kind="chip average",
        source=source,
        verified=f"derived: measured {energy_per_inference_j:.4g} J / {ops:.6g} synaptic ops",
        charges=charges,
        graded_inputs="events" if charges == "effective" else None,
        memory_in_op_figures=True,
        notes="calibrated on one workload; neuron updates and memory folded into the op figure",
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
    from spikeenergy.config_files import read_toml

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no cost model file at {p}")
    data = read_toml(p, "cost model")
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
    "DEFAULT_TARGET",
    "DEFAULT_POLICY",
    "GRADED_INPUTS",
    "POLICIES",
    "check_policy",
    "PJ",
    "PRICED_COLUMNS",
    "in_joules",
    "CostModel",
    "calibrated_cost_model",
    "cost_model_registry",
    "cost_models_from_toml",
    "get_cost_model",
]
