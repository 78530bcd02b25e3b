"""Energy-regularized training: L = L_CE + lam * E; fit/evaluate, checkpoints, experiments.

``DataConfig``, ``PreparedData``, ``prepare_data`` and ``frame_split`` live in
:mod:`spikeenergy.data.prepare` and are re-exported here for the code that imports them from
``spikeenergy.train``.
"""

from spikeenergy.data.prepare import DataConfig, PreparedData, frame_split, prepare_data
from spikeenergy.train.checkpoint import load_checkpoint, save_checkpoint
from spikeenergy.train.config import TrainConfig
from spikeenergy.train.experiment import ExperimentConfig, build_seeded_model, run_experiment
from spikeenergy.train.loop import (
    FitResult,
    NonFiniteLossError,
    class_weights,
    evaluate,
    fit,
    run_epoch,
)
from spikeenergy.train.prune import Pruner
from spikeenergy.train.scores import (
    TASK_METRICS,
    TaskMetric,
    register_task_metric,
    task_metric,
    task_scores,
)

__all__ = [
    "TASK_METRICS",
    "DataConfig",
    "ExperimentConfig",
    "FitResult",
    "NonFiniteLossError",
    "PreparedData",
    "Pruner",
    "TaskMetric",
    "TrainConfig",
    "build_seeded_model",
    "class_weights",
    "evaluate",
    "fit",
    "frame_split",
    "load_checkpoint",
    "prepare_data",
    "register_task_metric",
    "run_epoch",
    "run_experiment",
    "save_checkpoint",
    "task_metric",
    "task_scores",
]
