"""One training run from a frozen config: data -> model -> fit -> test metrics (+ files).

This is what the CLI's ``train`` command and the benchmark runner call; ``--out DIR`` writes
``model.pt`` (best weights), ``last.pt`` (end of the last good epoch) and ``metrics.json``
(schema in docs/metrics-schema.md).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from spikeenergy.config_files import differences
from spikeenergy.data.augment import AugmentedDataset
from spikeenergy.data.prepare import DataConfig, PreparedData, prepare_data
from spikeenergy.energy import BUILTIN_COST_MODELS
from spikeenergy.io import atomic_write, package_versions
from spikeenergy.models import ModelSpec, build_model, count_parameters
from spikeenergy.train.checkpoint import read_checkpoint, save_checkpoint
from spikeenergy.train.config import TrainConfig
from spikeenergy.train.loop import FitResult, evaluate, fit, make_energy_term
from spikeenergy.train.scores import confusion_matrix

METRICS_SCHEMA = "spikeenergy.metrics/2"


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything that defines a run; the same config and seed give the same numbers."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelSpec = field(default_factory=ModelSpec)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (stored with every result)."""
        return {
            "data": self.data.to_dict(),
            "model": self.model.to_dict(),
            "train": self.train.to_dict(),
        }


def build_seeded_model(
    spec: ModelSpec, frame_shape: tuple[int, ...], num_classes: int, seed: int
) -> Any:
    """Build a model whose initial weights depend only on ``seed`` (caller's RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(spec, frame_shape, num_classes)


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    data = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
    atomic_write(path, data)


def evaluation_record(ev: dict[str, Any], cfg: ExperimentConfig) -> dict[str, Any]:
    """One evaluated split as stored: accuracy, task scores, confusion matrix, the predictions
    and labels in split order (for paired statistics), loss, the energy term and the ledger.

    The ledger is priced on every built-in target (the table's ``energy_j[<target>]`` columns).
    """
    return {
        "accuracy": ev["accuracy"],
        "loss": ev["task_loss"],
        "scores": ev["scores"],
        "confusion": confusion_matrix(ev["preds"], ev["targets"], ev["num_classes"]).tolist(),
        "predictions": [int(v) for v in ev["preds"]],
        "labels": [int(v) for v in ev["targets"]],
        "energy": {cfg.train.energy: ev["energy"]},
        "n_samples": ev["n_samples"],
        "ledger": ev["ledger"].to_dict(BUILTIN_COST_MODELS),
    }


def experiment_metrics(
    cfg: ExperimentConfig,
    model: Any,
    data: PreparedData,
    result: FitResult,
    test: dict[str, Any],
    val: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The metrics dict of a trained run (schema ``METRICS_SCHEMA``), as stored by benchmarks.

    ``val`` (the selected checkpoint on the validation split) is what model selection may use;
    ``test`` is for the final report only.
    """
    seed = cfg.train.seed
    return {
        "schema": METRICS_SCHEMA,
        "config": cfg.to_dict(),
        "seed": seed,
        "versions": package_versions(),
        "device": str(cfg.train.resolved_device()),
        "model": {
            "family": cfg.model.family,
            "backend": cfg.model.backend if cfg.model.is_spiking else None,
            "spiking": cfg.model.is_spiking,
            "parameters": count_parameters(model),
        },
        "dataset": {
            "name": cfg.data.name,
            "n_train": len(data.train),
            "n_val": len(data.val) if data.val is not None else 0,
            "n_test": len(data.test),
            "num_classes": data.num_classes,
            "frame_shape": list(data.frame_shape),
        },
        "val": evaluation_record(val, cfg) if val is not None else None,
        "test": evaluation_record(test, cfg),
        "best_epoch": result.best_epoch,
        "best_val_accuracy": result.best_val_accuracy,
        "metric": result.metric,
        "best_val_score": result.best_val_score,
        "efficiency": result.efficiency,
        "curves": result.curves(),
    }


def _identity(config: dict[str, Any]) -> dict[str, Any]:
    """The parts of a config dict that determine a run's numbers (not where data lives, the
    device or the frame cache), as plain JSON types."""
    d = json.loads(json.dumps(config, default=str))
    d.get("data", {}).pop("root", None)
    for key in ("cache", "cache_dir"):
        d.get("data", {}).get("frames", {}).pop(key, None)
    d.get("train", {}).pop("device", None)
    return d


def _resume_state(path: Path, cfg: ExperimentConfig) -> dict[str, Any]:
    """The training state saved in ``path`` (``last.pt``) if it belongs to ``cfg``; a
    ValueError naming the difference otherwise (the folder holds another run's files)."""
    payload = read_checkpoint(path)
    old, new = _identity(payload.get("config") or {}), _identity(cfg.to_dict())
    diff = [f"{k}: {a!r} there, {b!r} now" for k, a, b in differences(old, new)]
    if diff:
        raise ValueError(
            f"{path} belongs to a different configuration ({'; '.join(diff[:3])}); use "
            "another --out, or delete it to start over"
        )
    state = payload.get("state")
    if not isinstance(state, dict) or "fit" not in state:
        raise ValueError(
            f"{path} holds no training state to resume from (written by an older spikeenergy); "
            "delete it to start over"
        )
    return state


def run_experiment(
    cfg: ExperimentConfig,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    data: PreparedData | None = None,
    resume: bool = True,
    checkpoint: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train and test one configuration; returns the metrics dict (written to ``out_dir``).

    With ``out_dir``, ``last.pt`` is rewritten after every epoch with the full training state;
    when it is already there (an interrupted run of the same config) and ``resume`` is true,
    training continues after its last finished epoch, and the result equals that of a run
    that was never interrupted, bit for bit (timings aside). A ``last.pt`` of a different
    config is refused with the difference named. ``checkpoint`` (a file path) saves the
    selected model there as well, without the other files of ``out_dir`` (the benchmark
    runner keeps every run's model this way).
    """
    seed = cfg.train.seed
    out = Path(out_dir) if out_dir is not None else None
    state = None
    if out is not None and resume and (out / "last.pt").is_file():
        state = _resume_state(out / "last.pt", cfg)
    data = data if data is not None else prepare_data(cfg.data, seed)
    model = build_seeded_model(cfg.model, data.frame_shape, data.num_classes, seed)
    energy = make_energy_term(cfg.train)
    shift = data.train.transform if isinstance(data.train, AugmentedDataset) else None
    shift_rng = getattr(shift, "rng", None)
    if state is not None and shift_rng is not None and state.get("augment_rng") is not None:
        shift_rng.bit_generator.state = state["augment_rng"]

    def keep_last(fit_state: dict[str, Any]) -> None:
        if out is not None:
            extra = {
                "fit": fit_state,
                "augment_rng": shift_rng.bit_generator.state if shift_rng is not None else None,
            }
            save_checkpoint(
                out / "last.pt", model, cfg.to_dict(), {"epoch": fit_state["epoch"]}, state=extra
            )

    result: FitResult = fit(
        model,
        data.train,
        data.val,
        cfg.train,
        energy,
        progress,
        on_state=keep_last,
        resume=state["fit"] if state is not None else None,
    )
    val = evaluate(model, data.val, energy, cfg.train) if data.val is not None else None
    test = evaluate(model, data.test, energy, cfg.train)
    metrics = experiment_metrics(cfg, model, data, result, test, val)
    if out is not None:
        save_checkpoint(out / "model.pt", model, cfg.to_dict(), metrics)
        write_json(out / "metrics.json", metrics)
    if checkpoint is not None:
        save_checkpoint(checkpoint, model, cfg.to_dict(), metrics)
    return metrics
