"""Seeded, stratified train/validation splits and sample limits for event or frame datasets."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split
from torch.utils.data import Subset


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
