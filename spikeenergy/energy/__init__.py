"""Differentiable energy terms over recorded activity, their pure kernels, and the regularized loss.

Cost models (pJ per operation) live in ``spikeenergy.energy.cost_models``.
"""

from spikeenergy.energy import kernels, ledger
from spikeenergy.energy.cost_models import (
    BUILTIN_COST_MODELS,
    CHARGES,
    COST_KINDS,
    DEFAULT_TARGET,
    GRADED_INPUTS,
    PJ,
    CostModel,
    calibrated_cost_model,
    cost_model_registry,
    cost_models_from_toml,
    get_cost_model,
    in_joules,
)
from spikeenergy.energy.ledger import COUNTS, EnergyLedger, count_record
from spikeenergy.energy.loss import EnergyRegularizedLoss, LossParts
from spikeenergy.energy.terms import (
    ENERGY_TERMS,
    ActivationEnergy,
    ActivityEnergy,
    EnergyTerm,
    Joules,
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
    "COUNTS",
    "DEFAULT_TARGET",
    "GRADED_INPUTS",
    "PJ",
    "CostModel",
    "EnergyLedger",
    "calibrated_cost_model",
    "count_record",
    "cost_model_registry",
    "cost_models_from_toml",
    "get_cost_model",
    "in_joules",
    "ENERGY_TERMS",
    "ActivationEnergy",
    "ActivityEnergy",
    "EnergyRegularizedLoss",
    "EnergyTerm",
    "Joules",
    "LossParts",
    "MembraneEnergy",
    "SpikeCount",
    "SpikeRate",
    "SynapticOps",
    "WeightedSum",
    "kernels",
    "ledger",
]
