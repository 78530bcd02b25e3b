"""Energy-regularized training: L = L_CE + lam * E; fit/evaluate, checkpoints, experiments.

``DataConfig``, ``PreparedData``, ``prepare_data`` and ``frame_split`` live in
:mod:`spikeenergy.data.prepare` and are re-exported here for the code that imports them from
``spikeenergy.train``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spikeenergy.registry import lazy_exports

if TYPE_CHECKING:
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

#: public name -> defining module, imported on first use: checkpoints, configs and the
#: loop's helpers load without the data pipeline (which needs the [data] extra)
_LAZY = {
    "DataConfig": "spikeenergy.data.prepare",
    "ExperimentConfig": "spikeenergy.train.experiment",
    "FitResult": "spikeenergy.train.loop",
    "NonFiniteLossError": "spikeenergy.train.loop",
    "PreparedData": "spikeenergy.data.prepare",
    "Pruner": "spikeenergy.train.prune",
    "TASK_METRICS": "spikeenergy.train.scores",
    "TaskMetric": "spikeenergy.train.scores",
    "TrainConfig": "spikeenergy.train.config",
    "build_seeded_model": "spikeenergy.train.experiment",
    "class_weights": "spikeenergy.train.loop",
    "evaluate": "spikeenergy.train.loop",
    "fit": "spikeenergy.train.loop",
    "frame_split": "spikeenergy.data.prepare",
    "load_checkpoint": "spikeenergy.train.checkpoint",
    "prepare_data": "spikeenergy.data.prepare",
    "register_task_metric": "spikeenergy.train.scores",
    "run_epoch": "spikeenergy.train.loop",
    "run_experiment": "spikeenergy.train.experiment",
    "save_checkpoint": "spikeenergy.train.checkpoint",
    "task_metric": "spikeenergy.train.scores",
    "task_scores": "spikeenergy.train.scores",
}

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

__getattr__ = lazy_exports(__name__, _LAZY)
