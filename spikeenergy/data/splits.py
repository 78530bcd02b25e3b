"""Seeded, stratified train/validation splits and sample limits for event or frame datasets.

Honest validation splits for windows cut from recordings (:func:`validation_split`) and
k-fold cross-validation over all recordings of a dataset (:func:`kfold_split`) are at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.model_selection import (
    GroupShuffleSplit,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)
from torch.utils.data import ConcatDataset, Subset

log = logging.getLogger(__name__)


def _labels(dataset: Any) -> np.ndarray:
    targets = getattr(dataset, "targets", None)
    if targets is None:
        raise ValueError("dataset has no 'targets'; cannot stratify a split")
    return np.asarray([int(t) for t in targets])


def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def stratified_split(dataset: Any, fraction: float, seed: int) -> tuple[Subset, Subset]:
    """Split ``dataset`` into (rest, held-out ``fraction``) with class proportions kept."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ValueError(f"split fraction must be a number in (0, 1); got {fraction!r}")
    if not _is_int(seed):
        raise ValueError(f"seed={seed!r} must be an integer")
    labels = _labels(dataset)
    idx = np.arange(len(labels))
    counts = np.bincount(labels)
    present = counts[counts > 0]
    n_held = int(np.ceil(fraction * len(labels)))
    # stratify when every class can appear on both sides; else a plain seeded split
    stratify = labels if present.min() >= 2 and len(present) <= n_held else None
    rest, held = train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    return _subset(dataset, np.sort(rest)), _subset(dataset, np.sort(held))


def limit_per_class(dataset: Any, n: int | None, seed: int) -> Any:
    """At most ``n`` samples per class, drawn with ``seed`` (``None`` keeps everything)."""
    if n is None:
        return dataset
    if not _is_int(n) or n < 1:
        raise ValueError(f"samples per class must be an integer >= 1; got {n!r}")
    labels = _labels(dataset)
    rng = np.random.default_rng(seed)
    keep = [rng.permutation(np.flatnonzero(labels == c))[:n] for c in np.unique(labels)]
    return _subset(dataset, np.sort(np.concatenate(keep)))


def _subset(dataset: Any, indices: np.ndarray) -> Subset:
    """A Subset that keeps ``targets``, ``classes`` and ``frame_shape`` visible."""
    sub = Subset(dataset, indices.tolist())
    labels = _labels(dataset)
    sub.targets = [int(labels[i]) for i in indices]  # type: ignore[attr-defined]
    for attr in ("classes", "frame_shape", "sensor_size"):
        if hasattr(dataset, attr):
            setattr(sub, attr, getattr(dataset, attr))
    return sub


# ----------------------------------------------------------------------------- honest splits
#
# A dataset may describe where its samples come from: ``groups`` (per sample, the recording it
# was cut from: samples of one group must stay on one side of a split), ``spans`` (per sample,
# (start, stop) in its recording's samples; overlapping windows share samples) and ``val_by``
# ("recording" or "gap": how a validation set may be carved out). Wrappers (Subset,
# ConcatDataset, FrameDataset) pass this through, so the split can be made at any layer.


def _wrapped(dataset: Any) -> Any:
    """The dataset a one-to-one wrapper (FrameDataset) shows, or None."""
    from spikeenergy.data.frames import FrameDataset

    return dataset.events if isinstance(dataset, FrameDataset) else None


def sample_metadata(dataset: Any, name: str) -> np.ndarray | None:
    """Per-sample metadata ``name`` ("groups", "spans", ...) of ``dataset`` through Subset,
    ConcatDataset and FrameDataset wrappers; None when the underlying dataset has none.

    Groups come back as a 1-D object array (one hashable per sample, e.g. (subject, session)).
    """
    if isinstance(dataset, Subset):
        parent = sample_metadata(dataset.dataset, name)
        return None if parent is None else parent[np.asarray(dataset.indices, dtype=np.int64)]
    if isinstance(dataset, ConcatDataset):
        parts = [sample_metadata(d, name) for d in dataset.datasets]
        if any(p is None for p in parts):
            return None
        return np.concatenate([p for p in parts if p is not None])
    inner = _wrapped(dataset)
    if inner is not None:
        return sample_metadata(inner, name)
    values = getattr(dataset, name, None)
    if values is None:
        return None
    if name == "groups":
        out = np.empty(len(values), dtype=object)
        out[:] = list(values)
        return out
    return np.asarray(values)


def _dataset_attribute(dataset: Any, name: str) -> Any:
    """Attribute ``name`` of the dataset(s) under the wrappers (parts must agree); or None."""
    if isinstance(dataset, Subset):
        return _dataset_attribute(dataset.dataset, name)
    if isinstance(dataset, ConcatDataset):
        found = {repr(_dataset_attribute(d, name)) for d in dataset.datasets}
        if len(found) > 1:
            raise ValueError(f"the pooled datasets disagree on {name!r}: {sorted(found)}")
        return _dataset_attribute(dataset.datasets[0], name)
    inner = _wrapped(dataset)
    if inner is not None:
        return _dataset_attribute(inner, name)
    return getattr(dataset, name, None)


def group_split(
    groups: np.ndarray, fraction: float, seed: int, labels: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held-out) positions with whole groups held out: ``ceil(fraction * n_groups)`` of
    them, drawn with ``seed`` (scikit-learn ``GroupShuffleSplit``)."""
    if not 0 < fraction < 1:
        raise ValueError(f"split fraction must be in (0, 1); got {fraction}")
    codes = _group_codes(groups)
    n_groups = int(codes.max()) + 1 if codes.size else 0
    if n_groups < 2:
        raise ValueError(
            f"a split by recording needs at least 2 recordings; got {n_groups} (use "
            "val_by='gap' to hold out a block of each recording instead)"
        )
    splitter = GroupShuffleSplit(n_splits=1, test_size=fraction, random_state=seed)
    rest, held = next(splitter.split(codes, groups=codes))
    if labels is not None:
        missing = sorted(set(labels[rest].tolist()) - set(labels[held].tolist()))
        if missing:
            log.warning("held-out recordings have no sample of class(es) %s", missing)
    return np.sort(rest), np.sort(held)


def gap_split(
    groups: np.ndarray, spans: np.ndarray, fraction: float, seed: int, gap: int
) -> tuple[np.ndarray, np.ndarray]:
    """(rest, held-out) positions of windows cut from recordings, with no shared sample.

    In every recording, a contiguous block of ``round(fraction * windows)`` windows (by
    start, at a seeded random place) is held out; a remaining window is kept for training
    only if it ends at least ``gap`` samples before the block starts or starts at least
    ``gap`` samples after it ends, so that no kept window overlaps the held-out block and
    the two sides are ``gap`` samples apart (windows in between are dropped, logged).
    """
    if not 0 < fraction < 1:
        raise ValueError(f"split fraction must be in (0, 1); got {fraction}")
    if gap < 0:
        raise ValueError(f"gap must be >= 0 samples; got {gap}")
    spans = np.asarray(spans, dtype=np.int64)
    if spans.ndim != 2 or spans.shape != (len(groups), 2):
        raise ValueError(f"spans must be (samples, 2) = (start, stop); got {spans.shape}")
    rng = np.random.default_rng(seed)
    codes = _group_codes(groups)
    rest: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for g in range(int(codes.max()) + 1 if codes.size else 0):
        pos = np.flatnonzero(codes == g)
        pos = pos[np.argsort(spans[pos, 0], kind="stable")]
        n_val = int(round(fraction * len(pos)))
        if n_val == 0:
            rest.append(pos)
            continue
        first = int(rng.integers(0, len(pos) - n_val + 1))
        block = pos[first : first + n_val]
        lo, hi = int(spans[block, 0].min()), int(spans[block, 1].max())
        others = np.setdiff1d(pos, block)
        apart = (spans[others, 1] + gap <= lo) | (spans[others, 0] >= hi + gap)
        rest.append(others[apart])
        held.append(block)
    if not held:
        raise ValueError(
            f"fraction {fraction} holds out no window of any recording; use a larger fraction"
        )
    r, h = np.sort(np.concatenate(rest)), np.sort(np.concatenate(held))
    dropped = len(groups) - len(r) - len(h)
    log.info("gap split: %d held out, %d kept, %d dropped within the gap", len(h), len(r), dropped)
    return r, h


def _group_codes(groups: np.ndarray) -> np.ndarray:
    """Integer codes 0..n-1 of hashable group labels (order of first appearance)."""
    index: dict[Any, int] = {}
    return np.asarray([index.setdefault(g, len(index)) for g in groups], dtype=np.int64)


def validation_split(dataset: Any, fraction: float, seed: int) -> tuple[Subset, Subset]:
    """Split ``dataset`` into (train, validation) without leaks between the two sides.

    Datasets whose samples are windows of recordings say so (``groups``, ``spans``,
    ``val_by``; see the section comment): "recording" holds out whole recordings
    (:func:`group_split`), "gap" a block of every recording with a gap of ``val_gap`` samples
    (:func:`gap_split`). Any other dataset, whose samples are separate recordings, gets the
    class-stratified :func:`stratified_split`. The shuffle is seeded, so class-sorted data
    (e.g. the MNIST-10k files) is mixed before it is cut.
    """
    scheme = _dataset_attribute(dataset, "val_by")
    groups = sample_metadata(dataset, "groups")
    if scheme is None or groups is None:
        return stratified_split(dataset, fraction, seed)
    labels = _labels(dataset)
    if scheme == "recording":
        rest, held = group_split(groups, fraction, seed, labels)
    elif scheme == "gap":
        spans = sample_metadata(dataset, "spans")
        gap = _dataset_attribute(dataset, "val_gap")
        if spans is None or gap is None:
            raise ValueError("val_by='gap' needs per-sample 'spans' and a 'val_gap' (samples)")
        rest, held = gap_split(groups, spans, fraction, seed, int(gap))
    else:
        raise ValueError(f"unknown val_by {scheme!r}; known: 'recording', 'gap'")
    return _subset(dataset, rest), _subset(dataset, held)


# ----------------------------------------------------------------------------- k-fold


class PooledDataset(ConcatDataset):
    """Several splits of one dataset as one (e.g. N-MNIST's 1,000 train + 100 test
    recordings), with ``targets``, ``classes`` and shapes, for k-fold cross-validation.

    Sample ``i`` of the pool is sample ``origin[i] = (part, index)`` of the parts.
    """

    def __init__(self, parts: Sequence[Any]) -> None:
        if len(parts) < 1:
            raise ValueError("pool at least one dataset")
        super().__init__(list(parts))
        self.targets = [int(t) for p in parts for t in _labels(p)]
        self.origin = [(k, i) for k, p in enumerate(parts) for i in range(len(p))]
        for attr in ("classes", "frame_shape", "sensor_size"):
            values = [getattr(p, attr) for p in parts if hasattr(p, attr)]
            if values and any(tuple(v) != tuple(values[0]) for v in values):
                raise ValueError(f"cannot pool datasets with different {attr}: {values}")
            if values:
                setattr(self, attr, values[0])


def kfold_indices(
    labels: Sequence[int] | np.ndarray, k: int, seed: int, groups: np.ndarray | None = None
) -> list[np.ndarray]:
    """The held-out positions of each of ``k`` folds: disjoint, covering every sample,
    class-stratified and shuffled with ``seed`` (scikit-learn ``StratifiedKFold``; with
    ``groups``, ``StratifiedGroupKFold``, which keeps each group in one fold)."""
    y = np.asarray(labels, dtype=np.int64)
    if not isinstance(k, int | np.integer) or k < 2:
        raise ValueError(f"k must be a whole number >= 2 folds; got {k!r}")
    if groups is None:
        smallest = int(np.bincount(y)[np.unique(y)].min()) if y.size else 0
        if k > smallest:
            raise ValueError(
                f"k={k} folds but the smallest class has {smallest} samples; every fold must "
                "see every class: use k <= the smallest class count"
            )
        splitter: Any = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
        splits = splitter.split(np.zeros(len(y)), y)
    else:
        codes = _group_codes(groups)
        n_groups = int(codes.max()) + 1 if codes.size else 0
        if k > n_groups:
            raise ValueError(f"k={k} folds but only {n_groups} recordings (groups); use fewer")
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        splits = splitter.split(np.zeros(len(y)), y, codes)
    return [np.sort(held) for _, held in splits]


def kfold_split(dataset: Any, k: int, fold: int, seed: int) -> tuple[Subset, Subset]:
    """(rest, held-out fold ``fold``) of a stratified, seeded ``k``-fold partition of
    ``dataset`` (e.g. a :class:`PooledDataset` of all of a dataset's recordings).

    The same ``seed`` gives the same partition for every fold, so fold 0..k-1 together test
    every sample exactly once: keep ``seed`` fixed across a suite's training seeds to pair runs
    on the same test samples. Windows of one recording (``groups``) stay in one fold. The
    held-out subset's ``indices`` are the samples' positions in ``dataset`` (sample ids).
    """
    if not isinstance(fold, int | np.integer) or not 0 <= fold < k:
        raise ValueError(f"fold must be in 0..{k - 1}; got {fold!r}")
    folds = kfold_indices(_labels(dataset), k, seed, sample_metadata(dataset, "groups"))
    held = folds[fold]
    rest = np.setdiff1d(np.arange(len(dataset)), held)
    return _subset(dataset, rest), _subset(dataset, held)
