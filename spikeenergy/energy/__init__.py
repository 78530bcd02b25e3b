"""Differentiable energy terms over recorded activity, their pure kernels, and the regularized loss.

Cost models (pJ per operation) live in ``spikeenergy.energy.cost_models``.
"""

from spikeenergy.energy import kernels
from spikeenergy.energy.loss import EnergyRegularizedLoss, LossParts
from spikeenergy.energy.terms import (
    ENERGY_TERMS,
    ActivationEnergy,
    ActivityEnergy,
    EnergyTerm,
    MACEnergy,
    MembraneEnergy,
    SpikeCount,
    SpikeRate,
    SynapticOps,
    WeightedSum,
)

__all__ = [
    "ENERGY_TERMS",
    "ActivationEnergy",
    "ActivityEnergy",
    "EnergyRegularizedLoss",
    "EnergyTerm",
    "LossParts",
    "MACEnergy",
    "MembraneEnergy",
    "SpikeCount",
    "SpikeRate",
    "SynapticOps",
    "WeightedSum",
    "kernels",
]
