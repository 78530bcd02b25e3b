"""Spiking (snnTorch / Norse) and dense models behind one protocol, built from frozen specs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from spikeenergy.registry import lazy_exports

if TYPE_CHECKING:
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

#: public name -> defining module, imported on first use (PEP 562): importing one light
#: module of this package (or ``spikeenergy --help``) does not import the others
_LAZY = {
    "BACKENDS": "spikeenergy.models.families",
    "Backend": "spikeenergy.models.families",
    "DenseNet": "spikeenergy.models.networks",
    "FAMILIES": "spikeenergy.models.spec",
    "GRUNet": "spikeenergy.models.networks",
    "MODEL_FAMILIES": "spikeenergy.models.families",
    "ModelFamily": "spikeenergy.models.families",
    "ModelSpec": "spikeenergy.models.spec",
    "NeuronDriver": "spikeenergy.models.neurons",
    "NeuronSpec": "spikeenergy.models.spec",
    "SURROGATES": "spikeenergy.models.families",
    "SpikeEnergyModel": "spikeenergy.models.networks",
    "SpikingNet": "spikeenergy.models.networks",
    "Surrogate": "spikeenergy.models.families",
    "backend_difference": "spikeenergy.models.neurons",
    "build_model": "spikeenergy.models.networks",
    "build_neuron": "spikeenergy.models.neurons",
    "count_parameters": "spikeenergy.models.networks",
    "model_family": "spikeenergy.models.families",
    "model_from_meta": "spikeenergy.models.networks",
}

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

__getattr__ = lazy_exports(__name__, _LAZY)
