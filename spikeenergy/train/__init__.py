"""Energy-regularized training: L = L_CE + lam * E; fit/evaluate, checkpoints, experiments."""

from spikeenergy.train.checkpoint import load_checkpoint, save_checkpoint
from spikeenergy.train.config import TrainConfig
from spikeenergy.train.experiment import (
    DataConfig,
    ExperimentConfig,
    PreparedData,
    build_seeded_model,
    frame_split,
    prepare_data,
    run_experiment,
)
from spikeenergy.train.loop import FitResult, NonFiniteLossError, evaluate, fit, run_epoch

__all__ = [
    "DataConfig",
    "ExperimentConfig",
    "FitResult",
    "NonFiniteLossError",
    "PreparedData",
    "TrainConfig",
    "build_seeded_model",
    "evaluate",
    "fit",
    "frame_split",
    "load_checkpoint",
    "prepare_data",
    "run_epoch",
    "run_experiment",
    "save_checkpoint",
]
