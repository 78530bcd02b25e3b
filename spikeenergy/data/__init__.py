"""Event data: Tonic datasets and transforms -> events -> time-major frames ``(T, B, ...)``."""

import spikeenergy.extras.data  # noqa: F401  (one line naming [data] if it is missing)
from spikeenergy.data.audio import AudioToEvents, load_wav
from spikeenergy.data.base import DatasetCard, DatasetNotFoundError, EventDataset
from spikeenergy.data.delta import DeltaModulation, delta_modulate, reconstruct_from_events
from spikeenergy.data.digits_dvs import DigitsDVS
from spikeenergy.data.dvs_emulator import DVSConfig, emulate_dvs, saccade_video
from spikeenergy.data.emg import RoshamboEMG
from spikeenergy.data.events import EVENTS_TXP, EVENTS_XYTP, make_events, validate_events
from spikeenergy.data.frames import (
    EventsToFrames,
    FrameConfig,
    FrameDataset,
    collate_time_major,
    frame_shape,
    make_loader,
)
from spikeenergy.data.prepare import (
    DataConfig,
    FrameOpener,
    PreparedData,
    frame_split,
    open_frames,
    prepare_data,
)
from spikeenergy.data.registry import (
    DATASETS,
    DatasetEntry,
    dataset_card,
    load_dataset,
    register_dataset,
)
from spikeenergy.data.root import resolve_data_root

__all__ = [
    "DATASETS",
    "DataConfig",
    "FrameOpener",
    "PreparedData",
    "frame_split",
    "open_frames",
    "prepare_data",
    "EVENTS_TXP",
    "EVENTS_XYTP",
    "AudioToEvents",
    "DVSConfig",
    "DatasetCard",
    "DatasetEntry",
    "DatasetNotFoundError",
    "DeltaModulation",
    "DigitsDVS",
    "EventDataset",
    "EventsToFrames",
    "FrameConfig",
    "FrameDataset",
    "RoshamboEMG",
    "collate_time_major",
    "dataset_card",
    "delta_modulate",
    "emulate_dvs",
    "frame_shape",
    "load_dataset",
    "load_wav",
    "make_events",
    "make_loader",
    "reconstruct_from_events",
    "register_dataset",
    "resolve_data_root",
    "saccade_video",
    "validate_events",
]
