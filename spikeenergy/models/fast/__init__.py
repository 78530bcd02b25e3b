"""Fast execution path for spiking layers: time-batched projections and a fused LIF recurrence."""

from spikeenergy.models.fast.lif import FusedLIF, LIFConfig, lif_sequence, surrogate_grad

__all__ = ["FusedLIF", "LIFConfig", "lif_sequence", "surrogate_grad"]
