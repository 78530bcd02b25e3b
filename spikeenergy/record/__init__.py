"""Activity recording: hooks that capture spikes, membrane, activations and layer inputs."""

from spikeenergy.record.activity import KINDS, ActivityRecord, LayerActivity
from spikeenergy.record.adapters import ADAPTERS, ModuleAdapter, adapter_for
from spikeenergy.record.recorder import NEEDS, ActivityRecorder

__all__ = [
    "ADAPTERS",
    "KINDS",
    "NEEDS",
    "ActivityRecord",
    "ActivityRecorder",
    "LayerActivity",
    "ModuleAdapter",
    "adapter_for",
]
