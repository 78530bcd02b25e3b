"""Fast execution path for spiking layers: time-batched projections and a fused LIF recurrence."""

from spikeenergy.models.fast.lif import FusedLIF, LIFConfig, lif_sequence, surrogate_grad
from spikeenergy.models.fast.precision import autocast_dtype, bf16_pays

__all__ = ["FusedLIF", "LIFConfig", "autocast_dtype", "bf16_pays", "lif_sequence", "surrogate_grad"]
