"""Splits: k-fold over all recordings, honest validation splits, class-sorted data."""

from __future__ import annotations

import collections
import logging

import numpy as np
import pytest
from torch.utils.data import Subset

from spikeenergy.data import load_dataset
from spikeenergy.data.splits import (
    PooledDataset,
    gap_split,
    group_split,
    kfold_indices,
    kfold_split,
    sample_metadata,
    stratified_split,
    validation_split,
)

# the MNIST-10k files in ../shared/data are sorted by class, with these counts
MNIST10K_COUNTS = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]


class Labelled:
    """A dataset of ``len(targets)`` samples whose item is (index, label); optional metadata."""

    def __init__(self, targets, classes=None, **meta) -> None:
        self.targets = list(targets)
        self.classes = classes or sorted(set(self.targets))
        for k, v in meta.items():
            setattr(self, k, v)

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i):
        return i, self.targets[i]


def sorted_labels(counts) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts)


def test_kfold_folds_are_disjoint_cover_everything_and_are_stratified() -> None:
    y = sorted_labels(MNIST10K_COUNTS)  # class-sorted, as the MNIST-10k files are
    folds = kfold_indices(y, 10, seed=0)
    allidx = np.concatenate(folds)
    # cover, disjoint
    assert len(allidx) == len(y)
    assert set(allidx.tolist()) == set(range(len(y)))
    for held in folds:
        counts = np.bincount(y[held], minlength=10)
        # stratified: every class count is floor or ceil of its total / 10 (1001 -> 100 or 101)
        assert (np.abs(counts - np.asarray(MNIST10K_COUNTS) / 10) < 1).all()
        assert len(np.unique(held)) == len(held)
    # shuffled before cutting: fold 0 is not the first 1,000 (sorted) samples
    assert not np.array_equal(folds[0], np.arange(len(folds[0])))
    # seeded: the same seed gives the same folds, another seed others
    again = kfold_indices(y, 10, seed=0)
    assert all(np.array_equal(a, b) for a, b in zip(folds, again, strict=True))
    assert not np.array_equal(folds[0], kfold_indices(y, 10, seed=1)[0])


def test_kfold_over_the_pooled_train_and_test_recordings() -> None:
    # N-MNIST subset: 1,000 train + 100 test recordings with its real class counts
    train = Labelled(sorted_labels([97, 116, 99, 93, 105, 92, 94, 117, 87, 100]))
    test = Labelled(sorted_labels([8, 14, 8, 11, 14, 7, 10, 15, 2, 11]))
    pool = PooledDataset([train, test])
    assert len(pool) == 1100
    assert pool.origin[1000] == (1, 0)
    assert pool.origin[999] == (0, 999)
    assert pool[1000] == (0, 0)  # the first test recording (index 0 of part 1, label 0)
    seen: list[int] = []
    for fold in range(10):
        rest, held = kfold_split(pool, 10, fold, seed=3)
        assert isinstance(held, Subset)
        assert set(rest.indices).isdisjoint(held.indices)
        assert len(rest) + len(held) == 1100
        assert len(held) == 110
        assert held.targets == [pool.targets[i] for i in held.indices]
        seen += held.indices
    assert sorted(seen) == list(range(1100))  # every recording tested exactly once
    with pytest.raises(ValueError, match="fold must be in 0..9"):
        kfold_split(pool, 10, 10, seed=3)


def test_kfold_keeps_each_recording_in_one_fold() -> None:
    # 12 recordings of 5 windows each, classes cycling inside every recording
    groups = np.repeat([f"rec{i}" for i in range(12)], 5)
    y = np.tile([0, 1, 2, 0, 1], 12)
    folds = kfold_indices(y, 4, seed=0, groups=groups)
    assert sorted(np.concatenate(folds).tolist()) == list(range(60))
    owner = {}
    for f, held in enumerate(folds):
        for g in set(groups[held]):
            assert owner.setdefault(g, f) == f  # no recording in two folds
    assert len(owner) == 12
    ds = Labelled(y, groups=list(groups))
    rest, held = kfold_split(ds, 4, 1, seed=0)
    assert set(sample_metadata(rest, "groups")).isdisjoint(sample_metadata(held, "groups"))


def test_kfold_refuses_impossible_settings() -> None:
    with pytest.raises(ValueError, match="k must be a whole number >= 2"):
        kfold_indices([0, 1, 0, 1], 1, seed=0)
    with pytest.raises(ValueError, match="smallest class has 2"):
        kfold_indices([0, 0, 1, 1, 1], 3, seed=0)
    with pytest.raises(ValueError, match="only 2 recordings"):
        kfold_indices([0, 1, 0, 1], 3, seed=0, groups=np.array(["a", "a", "b", "b"]))
    with pytest.raises(ValueError, match="different classes"):
        PooledDataset([Labelled([0, 1], classes=["a", "b"]), Labelled([0], classes=["x", "y"])])


def test_validation_split_without_recordings_is_the_stratified_split() -> None:
    # separate recordings (no groups): exactly the previous stratified split, so runs on
    # N-MNIST or digits-dvs are unchanged
    ds = Labelled(sorted_labels([30, 30, 40]))  # class-sorted
    a_tr, a_va = validation_split(ds, 0.2, seed=5)
    b_tr, b_va = stratified_split(ds, 0.2, seed=5)
    assert a_tr.indices == b_tr.indices
    assert a_va.indices == b_va.indices
    assert collections.Counter(a_va.targets) == {0: 6, 1: 6, 2: 8}  # stratified, not the tail


def test_group_split_holds_out_whole_groups(caplog) -> None:
    codes = np.array([f"{s}-{r}" for s in range(5) for r in (1, 2) for _ in range(4)])
    y = np.tile([0, 1, 2, 0], 10)
    rest, held = group_split(codes, 0.25, seed=0, labels=y)
    assert len(set(codes[held])) == 3  # ceil(0.25 * 10 recordings)
    assert set(codes[rest]).isdisjoint(codes[held])
    assert len(rest) + len(held) == 40
    with pytest.raises(ValueError, match="at least 2 recordings"):
        group_split(np.array(["a"] * 5), 0.2, seed=0)
    # recording a has classes {0, 2}, b {0, 1}: whichever is held out lacks a training class
    with caplog.at_level(logging.WARNING):
        group_split(np.array(["a", "a", "b", "b"]), 0.5, 0, labels=np.array([0, 2, 0, 1]))
    assert "no sample of class" in caplog.text


def test_gap_split_rule_and_that_only_windows_within_the_gap_are_dropped() -> None:
    # 2 recordings of 20 windows of 200 samples every 100: held-out block of round(0.2 * 20) = 4
    starts = np.arange(20) * 100
    spans = np.column_stack([np.tile(starts, 2), np.tile(starts, 2) + 200])
    groups = np.repeat(np.array(["r1", "r2"], dtype=object), 20)
    for seed in range(5):
        for gap in (0, 200):
            rest, held = gap_split(groups, spans, 0.2, seed, gap)
            assert len(held) == 8
            assert set(rest).isdisjoint(held)
            for g in ("r1", "r2"):
                h = held[groups[held] == g]
                assert np.array_equal(np.diff(h), np.ones(3))  # one contiguous block
                lo, hi = spans[h, 0].min(), spans[h, 1].max()
                r = rest[groups[rest] == g]
                # kept windows: no shared sample, and at least `gap` samples away
                assert ((spans[r, 1] + gap <= lo) | (spans[r, 0] >= hi + gap)).all()
                dropped = np.setdiff1d(np.flatnonzero(groups == g), np.concatenate([h, r]))
                # dropped windows are exactly those that would break the rule
                assert not ((spans[dropped, 1] + gap <= lo) | (spans[dropped, 0] >= hi + gap)).any()
    with pytest.raises(ValueError, match="holds out no window"):
        gap_split(groups, spans, 0.01, 0, 0)


def test_real_nmnist_pooled_tenfold(shared_data) -> None:
    train = load_dataset("nmnist", "train", root=shared_data)
    test = load_dataset("nmnist", "test", root=shared_data)
    pool = PooledDataset([train, test])
    assert len(pool) == 1100
    sizes = []
    for fold in range(10):
        _, held = kfold_split(pool, 10, fold, seed=0)
        sizes.append(len(held))
        counts = collections.Counter(held.targets)
        assert set(counts) == set(range(10))  # every digit in every fold
    assert sum(sizes) == 1100
    assert max(sizes) - min(sizes) <= 1
