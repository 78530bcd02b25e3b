"""Activity recording: hooks that capture spikes, membrane, activations and layer inputs."""

from spikeenergy.record.activity import KINDS, ActivityRecord, LayerActivity
from spikeenergy.record.adapters import ADAPTERS, ModuleAdapter, adapter_for, reset_states
from spikeenergy.record.recorder import (
    LAYER_TIME,
    NEEDS,
    TIME_MODES,
    ActivityRecorder,
    TimeAxisError,
    run_steps,
    stack_steps,
)

__all__ = [
    "ADAPTERS",
    "KINDS",
    "LAYER_TIME",
    "NEEDS",
    "TIME_MODES",
    "ActivityRecord",
    "ActivityRecorder",
    "LayerActivity",
    "ModuleAdapter",
    "TimeAxisError",
    "adapter_for",
    "reset_states",
    "run_steps",
    "stack_steps",
]
