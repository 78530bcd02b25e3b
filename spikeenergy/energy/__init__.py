"""Differentiable energy terms over recorded activity, their pure kernels, and the regularized loss.

Cost models (pJ per operation) live in ``spikeenergy.energy.cost_models``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spikeenergy.registry import lazy_exports

if TYPE_CHECKING:
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

#: public name -> defining module, imported on first use (PEP 562): importing one light
#: module of this package (or ``spikeenergy --help``) does not import the others
_LAZY = {
    "ActivationEnergy": "spikeenergy.energy.terms",
    "ActivityEnergy": "spikeenergy.energy.terms",
    "BUILTIN_COST_MODELS": "spikeenergy.energy.cost_models",
    "CHARGES": "spikeenergy.energy.cost_models",
    "COST_KINDS": "spikeenergy.energy.cost_models",
    "COUNTS": "spikeenergy.energy.ledger",
    "CostModel": "spikeenergy.energy.cost_models",
    "DEFAULT_TARGET": "spikeenergy.energy.cost_models",
    "ENERGY_TERMS": "spikeenergy.energy.terms",
    "EnergyLedger": "spikeenergy.energy.ledger",
    "EnergyRegularizedLoss": "spikeenergy.energy.loss",
    "EnergyTerm": "spikeenergy.energy.terms",
    "GRADED_INPUTS": "spikeenergy.energy.cost_models",
    "Joules": "spikeenergy.energy.terms",
    "LossParts": "spikeenergy.energy.loss",
    "MembraneEnergy": "spikeenergy.energy.terms",
    "PJ": "spikeenergy.energy.cost_models",
    "SpikeCount": "spikeenergy.energy.terms",
    "SpikeRate": "spikeenergy.energy.terms",
    "SynapticOps": "spikeenergy.energy.terms",
    "WeightedSum": "spikeenergy.energy.terms",
    "calibrated_cost_model": "spikeenergy.energy.cost_models",
    "cost_model_registry": "spikeenergy.energy.cost_models",
    "cost_models_from_toml": "spikeenergy.energy.cost_models",
    "count_record": "spikeenergy.energy.ledger",
    "get_cost_model": "spikeenergy.energy.cost_models",
    "in_joules": "spikeenergy.energy.cost_models",
    "kernels": "spikeenergy.energy.kernels",
    "ledger": "spikeenergy.energy.ledger",
}

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

__getattr__ = lazy_exports(__name__, _LAZY)
