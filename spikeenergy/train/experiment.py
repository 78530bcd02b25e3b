"""One training run from a frozen config: data -> model -> fit -> test metrics (+ files).

This is what the CLI's ``train`` command and the benchmark runner call; ``--out DIR`` writes
``model.pt`` (best weights), ``last.pt`` (end of the last good epoch) and ``metrics.json``
(schema in docs/metrics-schema.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

import spikeenergy
from spikeenergy.data import FrameConfig, FrameDataset, load_dataset
from spikeenergy.data.augment import AugmentedDataset, RandomShift
from spikeenergy.data.splits import (
    PooledDataset,
    kfold_split,
    limit_per_class,
    validation_split,
)
from spikeenergy.energy import BUILTIN_COST_MODELS
from spikeenergy.models import ModelSpec, build_model, count_parameters
from spikeenergy.train.checkpoint import atomic_write_bytes, read_checkpoint, save_checkpoint
from spikeenergy.train.config import TrainConfig
from spikeenergy.train.loop import FitResult, evaluate, fit, make_energy_term
from spikeenergy.train.scores import confusion_matrix

METRICS_SCHEMA = "spikeenergy.metrics/2"


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, where, how its events become frames, and how much of it to use."""

    name: str = "digits-dvs"
    root: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    frames: FrameConfig = field(default_factory=FrameConfig)
    val_fraction: float = 0.1
    train_per_class: int | None = None  # cap on training samples per class (quick runs)
    test_per_class: int | None = None
    augment_shift: int = 0  # random +-pixels shift of 2-D training frames per sample (0: off)
    # k-fold cross-validation over all recordings (train + test pooled): ``folds`` folds, this
    # run tests on fold ``fold``; the partition is drawn with ``fold_seed``, which is fixed by
    # the suite (not the training seed), so that every seed tests on the same recordings
    folds: int | None = None
    fold: int | None = None
    fold_seed: int = 0

    def __post_init__(self) -> None:
        if self.augment_shift < 0:
            raise ValueError(f"augment_shift={self.augment_shift} must be >= 0 pixels")
        if self.folds is None:
            if self.fold is not None:
                raise ValueError(f"fold={self.fold} needs folds (the number of folds, >= 2)")
            return
        if isinstance(self.folds, bool) or not isinstance(self.folds, int) or self.folds < 2:
            raise ValueError(f"folds={self.folds!r} must be a whole number >= 2 (or absent)")
        # fold None: a suite's template, expanded into one config per fold by the grid
        if self.fold is not None and (
            isinstance(self.fold, bool)
            or not isinstance(self.fold, int)
            or not 0 <= self.fold < self.folds
        ):
            raise ValueError(f"fold={self.fold!r} must be a whole number in 0..{self.folds - 1}")
        if self.test_per_class is not None:
            raise ValueError(
                "test_per_class cannot be combined with folds: with k-fold cross-validation the "
                "test set is a fold of all recordings; drop test_per_class"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON friendly). The k-fold keys are left out when there are no folds, so
        configs (and run ids) of datasets without folds are those of earlier versions."""
        d = asdict(self)
        if self.folds is None:
            for key in ("folds", "fold", "fold_seed"):
                d.pop(key)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataConfig:
        """Inverse of :meth:`to_dict` (the ``frames`` entry becomes a FrameConfig)."""
        kw = dict(d)
        if isinstance(kw.get("frames"), dict):
            kw["frames"] = FrameConfig(**kw["frames"])
        return cls(**kw)


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


@dataclass
class PreparedData:
    """Frame datasets of one run and the shapes a model needs."""

    train: Any
    val: Any
    test: Any
    frame_shape: tuple[int, ...]
    num_classes: int


def open_frames(cfg: DataConfig, split: str) -> FrameDataset:
    """One whole split of the dataset as (cached) frames."""
    events = load_dataset(cfg.name, split, root=cfg.root, **cfg.options)
    ident = hashlib.sha1(
        json.dumps([cfg.name, cfg.root, cfg.options], sort_keys=True, default=str).encode()
    ).hexdigest()[:10]
    return FrameDataset(events, cfg.frames, cache_key=f"{cfg.name}-{split}-{ident}")


FrameOpener = Callable[[DataConfig, str], FrameDataset]


def frame_split(cfg: DataConfig, split: str, seed: int, opener: FrameOpener = open_frames) -> Any:
    """One split as frames, with the per-class cap drawn with ``seed``.

    ``opener(cfg, split)`` supplies the whole split (the benchmark runner passes a memoised
    opener so that all runs of a worker share one set of binned frames).
    """
    cap = cfg.train_per_class if split == "train" else cfg.test_per_class
    return limit_per_class(opener(cfg, split), cap, seed)


def prepare_data(cfg: DataConfig, seed: int, opener: FrameOpener = open_frames) -> PreparedData:
    """Open the dataset's train/test splits as cached frame datasets; carve validation off train.

    Validation is split without leaks (:func:`spikeenergy.data.splits.validation_split`): by
    recording (or with a gap) for datasets of overlapping windows such as emg-roshambo,
    class-stratified for datasets of separate recordings.

    With ``cfg.folds`` (k-fold cross-validation), the train and test splits are pooled
    (:class:`~spikeenergy.data.splits.PooledDataset`), fold ``cfg.fold`` of a stratified
    partition drawn with ``cfg.fold_seed`` is the test set (its ``indices`` are positions in
    the pool: sample ids shared by every run of that fold), and training (capped by
    ``train_per_class`` with ``seed``) and validation come from the other folds only.
    """
    test: Any
    if cfg.folds is not None:
        if cfg.fold is None:
            raise ValueError(
                f"folds={cfg.folds} but no fold: say which fold this run tests on "
                f"(fold = 0..{cfg.folds - 1}; a suite's grid sets it per run)"
            )
        pool = PooledDataset([opener(cfg, "train"), opener(cfg, "test")])
        rest, test = kfold_split(pool, cfg.folds, cfg.fold, cfg.fold_seed)
        train_all = limit_per_class(rest, cfg.train_per_class, seed)
    else:
        train_all = frame_split(cfg, "train", seed, opener)
        test = frame_split(cfg, "test", seed, opener)
    train: Any
    val: Any
    if cfg.val_fraction > 0:
        train, val = validation_split(train_all, cfg.val_fraction, seed)
    else:
        train, val = train_all, None
    if cfg.augment_shift:
        if len(train_all.frame_shape) != 3:
            raise ValueError(
                f"augment_shift needs 2-D frames (P, H, W); {cfg.name} has frame shape "
                f"{tuple(train_all.frame_shape)}"
            )
        train = AugmentedDataset(train, RandomShift(cfg.augment_shift, seed))
    return PreparedData(train, val, test, tuple(train_all.frame_shape), len(train_all.classes))


def build_seeded_model(
    spec: ModelSpec, frame_shape: tuple[int, ...], num_classes: int, seed: int
) -> Any:
    """Build a model whose initial weights depend only on ``seed`` (caller's RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(spec, frame_shape, num_classes)


def versions() -> dict[str, str]:
    """Versions of the packages that determine a run's numbers ("not installed" for an absent
    optional backend: a run needs only the extras it uses)."""
    from importlib import metadata

    out = {"spikeenergy": spikeenergy.__version__, "torch": torch.__version__}
    for name in ("snntorch", "norse", "tonic"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["python"] = platform.python_version()
    return out


def write_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    data = json.dumps(obj, indent=2, sort_keys=True, default=str).encode()
    atomic_write_bytes(path, lambda f: f.write(data))


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
        "versions": versions(),
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


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _differences(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    return [] if a == b else [f"{path}: {a!r} there, {b!r} now"]


def _resume_state(path: Path, cfg: ExperimentConfig) -> dict[str, Any]:
    """The training state saved in ``path`` (``last.pt``) if it belongs to ``cfg``; a
    ValueError naming the difference otherwise (the folder holds another run's files)."""
    payload = read_checkpoint(path)
    diff = _differences(_identity(payload.get("config") or {}), _identity(cfg.to_dict()))
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
