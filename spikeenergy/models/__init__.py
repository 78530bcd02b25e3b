"""Spiking (snnTorch / Norse) and dense models behind one protocol, built from frozen specs."""

from spikeenergy.models.families import (
    BACKENDS,
    MODEL_FAMILIES,
    SURROGATES,
    Backend,
    ModelFamily,
    Surrogate,
    model_family,
)
from spikeenergy.models.networks import (
    DenseNet,
    GRUNet,
    SpikeEnergyModel,
    SpikingNet,
    build_model,
    count_parameters,
    model_from_meta,
)
from spikeenergy.models.neurons import NeuronDriver, backend_difference, build_neuron
from spikeenergy.models.spec import FAMILIES, ModelSpec, NeuronSpec

__all__ = [
    "BACKENDS",
    "FAMILIES",
    "MODEL_FAMILIES",
    "SURROGATES",
    "Backend",
    "ModelFamily",
    "Surrogate",
    "model_family",
    "DenseNet",
    "GRUNet",
    "ModelSpec",
    "NeuronDriver",
    "NeuronSpec",
    "SpikeEnergyModel",
    "SpikingNet",
    "backend_difference",
    "build_model",
    "build_neuron",
    "count_parameters",
    "model_from_meta",
]
