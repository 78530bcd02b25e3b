"""Differentiable energy terms over recorded activity, their pure kernels, and the regularized loss.

Cost models (pJ per operation) live in ``spikeenergy.energy.cost_models``.
"""

from spikeenergy.energy import kernels
from spikeenergy.energy.cost_models import (
    BUILTIN_COST_MODELS,
    CHARGES,
    COST_KINDS,
    CostModel,
    cost_model_registry,
    cost_models_from_toml,
    get_cost_model,
)
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
    "BUILTIN_COST_MODELS",
    "CHARGES",
    "COST_KINDS",
    "CostModel",
    "cost_model_registry",
    "cost_models_from_toml",
    "get_cost_model",
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
