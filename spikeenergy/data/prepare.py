"""What data a run uses (:class:`DataConfig`) and its preparation into frame datasets.

:func:`prepare_data` opens a dataset's train/test splits as cached frame datasets, carves a
leak-free validation split off training (or a k-fold partition of the pooled recordings), caps
samples per class and adds training augmentation. It lives in ``spikeenergy.data`` because it
only composes data pieces; ``spikeenergy.train`` re-exports it for the runs that train on it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from spikeenergy.data.augment import AugmentedDataset, RandomShift
from spikeenergy.data.frames import FrameConfig, FrameDataset
from spikeenergy.data.registry import load_dataset
from spikeenergy.data.splits import PooledDataset, kfold_split, limit_per_class, validation_split
from spikeenergy.registry import FrozenDict, reject_unknown_keys


@dataclass(frozen=True)
class DataConfig:
    """Which dataset, where, how its events become frames, and how much of it to use.

    Frozen and hashable: ``options`` (the dataset factory's keyword arguments) is stored as a
    :class:`~spikeenergy.registry.FrozenDict`. Every field is checked here, so a bad value
    fails when the config is built (from TOML, the CLI or code), not inside a run.
    """

    name: str = "digits-dvs"
    root: str | None = None
    options: Mapping[str, Any] = field(default_factory=FrozenDict)
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
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name={self.name!r} must be a dataset name (spikeenergy datasets)")
        if not isinstance(self.options, Mapping):
            raise ValueError(
                f"options={self.options!r} must be a table (a mapping of the dataset "
                "factory's keyword arguments, e.g. {'limit': 300})"
            )
        object.__setattr__(self, "options", FrozenDict(self.options))
        if isinstance(self.frames, Mapping):
            object.__setattr__(self, "frames", _frame_config(self.frames))
        if not isinstance(self.frames, FrameConfig):
            raise ValueError(f"frames={self.frames!r} must be a FrameConfig (or its table)")
        if isinstance(self.val_fraction, bool) or not 0 <= self.val_fraction < 1:
            raise ValueError(f"val_fraction={self.val_fraction!r} must lie in [0, 1)")
        for key in ("train_per_class", "test_per_class"):
            cap = getattr(self, key)
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
                raise ValueError(f"{key}={cap!r} must be a whole number >= 1 (or absent)")
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

    def dataset_options(self) -> dict[str, Any]:
        """``options`` as plain data (dicts and lists again) for the dataset factory / JSON."""
        return FrozenDict(self.options).to_dict()

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON friendly). The k-fold keys are left out when there are no folds, so
        configs (and run ids) of datasets without folds are those of earlier versions."""
        d = asdict(self)
        d["options"] = self.dataset_options()
        if self.folds is None:
            for key in ("folds", "fold", "fold_seed"):
                d.pop(key)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataConfig:
        """Inverse of :meth:`to_dict` (the ``frames`` table becomes a FrameConfig); unknown
        keys, here or in ``frames``, raise a ValueError naming them and the known ones."""
        reject_unknown_keys(d, cls, "DataConfig")
        return cls(**d)


def _frame_config(d: Mapping[str, Any]) -> FrameConfig:
    reject_unknown_keys(d, FrameConfig, "DataConfig.frames")
    return FrameConfig(**d)


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
    options = cfg.dataset_options()
    events = load_dataset(cfg.name, split, root=cfg.root, **options)
    ident = hashlib.sha1(
        json.dumps([cfg.name, cfg.root, options], sort_keys=True, default=str).encode()
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


__all__ = [
    "DataConfig",
    "FrameOpener",
    "PreparedData",
    "frame_split",
    "open_frames",
    "prepare_data",
]
