"""Roshambo EMG: honest validation splits (no shared samples) and option validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from data_fakefiles import write_roshambo_session

from spikeenergy.data import FrameConfig, load_dataset
from spikeenergy.data.splits import sample_metadata, stratified_split
from spikeenergy.train import DataConfig, prepare_data

# per session: 3 s of each gesture with 0.5 s rest between (200 Hz). 1 s windows every 0.5 s:
# (600 - 200) / 100 + 1 = 5 windows per gesture run, 15 per session
LABELS = ["rock"] * 600 + ["none"] * 100 + ["paper"] * 600 + ["none"] * 100 + ["scissor"] * 600


@pytest.fixture
def emg_root(tmp_path):
    rng = np.random.default_rng(0)
    for subject in (1, 2, 3):
        for session in (1, 2, 3):
            emg = rng.integers(-50, 50, (len(LABELS), 8))
            write_roshambo_session(tmp_path / "emg/roshambo", subject, session, emg, LABELS)
    return tmp_path


def overlapping_pairs(train, val) -> int:
    """Pairs (train window, validation window) of one recording that share a sample."""
    g_tr, s_tr = sample_metadata(train, "groups"), sample_metadata(train, "spans")
    g_va, s_va = sample_metadata(val, "groups"), sample_metadata(val, "spans")
    shared = 0
    for g, (a0, a1) in zip(g_va, s_va, strict=True):
        same = np.array([h == g for h in g_tr], dtype=bool)
        b0, b1 = s_tr[same, 0], s_tr[same, 1]
        shared += int(((b0 < a1) & (a0 < b1)).sum())  # [a0, a1) and [b0, b1) intersect
    return shared


def min_distance(train, val) -> float:
    """Samples between the closest train and validation windows of one recording."""
    g_tr, s_tr = sample_metadata(train, "groups"), sample_metadata(train, "spans")
    g_va, s_va = sample_metadata(val, "groups"), sample_metadata(val, "spans")
    best = math.inf
    for g, (a0, a1) in zip(g_va, s_va, strict=True):
        for h, (b0, b1) in zip(g_tr, s_tr, strict=True):
            if h == g:
                best = min(best, max(b0 - a1, a0 - b1))
    return best


def test_random_window_split_leaks_and_the_default_split_does_not(emg_root) -> None:
    frames = FrameConfig(n_time_bins=4)
    whole = load_dataset("emg-roshambo", "train", root=emg_root)
    assert len(whole) == 6 * 15  # 3 subjects x sessions 1, 2 (3 is the test session)
    # the old way: validation windows drawn among all windows share samples with training
    tr, va = stratified_split(whole, 0.2, seed=0)
    assert overlapping_pairs(tr, va) > len(va)  # each shares with ~2 neighbours
    # the default now: whole recordings held out (through the real data pipeline)
    cfg = DataConfig(name="emg-roshambo", root=str(emg_root), frames=frames, val_fraction=0.2)
    for seed in (0, 1, 2):
        data = prepare_data(cfg, seed)
        rec_tr = set(sample_metadata(data.train, "groups"))
        rec_va = set(sample_metadata(data.val, "groups"))
        # ceil(0.2 * 6 recordings)
        assert rec_tr.isdisjoint(rec_va)
        assert len(rec_va) == 2
        assert len(data.train) + len(data.val) == 90
        assert overlapping_pairs(data.train, data.val) == 0
        assert set(data.val.targets) == {0, 1, 2}


def test_gap_split_keeps_a_window_length_between_train_and_validation(emg_root) -> None:
    opts = {"val_by": "gap"}
    cfg = DataConfig(
        name="emg-roshambo",
        root=str(emg_root),
        options=opts,
        frames=FrameConfig(n_time_bins=4),
        val_fraction=0.2,
    )
    for seed in (0, 1):
        data = prepare_data(cfg, seed)
        # every recording gives round(0.2 * 15) = 3 contiguous validation windows
        assert len(data.val) == 6 * 3
        assert overlapping_pairs(data.train, data.val) == 0
        assert min_distance(data.train, data.val) >= 200  # one window (1 s at 200 Hz)
        assert len(data.train) < 90 - 18  # windows inside the gap were dropped
    shorter = DataConfig(
        name="emg-roshambo",
        root=str(emg_root),
        options={"val_by": "gap", "val_gap_ms": 0.0},
        frames=FrameConfig(n_time_bins=4),
        val_fraction=0.2,
    )
    data = prepare_data(shorter, 0)
    assert overlapping_pairs(data.train, data.val) == 0  # still no shared sample
    assert min_distance(data.train, data.val) >= 0


def test_split_after_a_per_class_cap_still_has_no_shared_samples(emg_root) -> None:
    cfg = DataConfig(
        name="emg-roshambo",
        root=str(emg_root),
        train_per_class=20,
        frames=FrameConfig(n_time_bins=4),
        val_fraction=0.3,
    )
    data = prepare_data(cfg, 3)
    assert len(data.train) + len(data.val) == 60
    assert overlapping_pairs(data.train, data.val) == 0


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("threshold", 0.0, "threshold must be a finite number > 0"),
        ("threshold", -1.0, "threshold must be a finite number > 0"),
        ("threshold", float("nan"), "threshold must be a finite number > 0"),
        ("threshold", "high", "threshold must be a finite number > 0"),
        ("window_ms", 0.0, "window_ms must be a finite number of milliseconds > 0"),
        ("window_ms", float("inf"), "window_ms must be a finite number"),
        ("window_ms", 1.0, "window_ms=1.0 ms is less than one sample"),
        ("hop_ms", -500.0, "hop_ms must be a finite number of milliseconds > 0"),
        ("hop_ms", float("nan"), "hop_ms must be a finite number"),
        ("hop_ms", "fast", "hop_ms must be a number of milliseconds"),
        ("test_ids", (), "test_ids must be a non-empty list"),
        ("test_ids", 3, "test_ids must be a non-empty list"),
        ("test_ids", (1.5,), "test_ids must be whole numbers"),
        ("val_by", "window", "val_by must be one of"),
        ("val_gap_ms", -1.0, "val_gap_ms must be a finite number of milliseconds >= 0"),
        ("val_gap_ms", float("nan"), "val_gap_ms must be a finite number"),
    ],
)
def test_bad_options_are_refused_with_their_name(emg_root, option, value, message) -> None:
    with pytest.raises(ValueError, match=message):
        load_dataset("emg-roshambo", "train", root=emg_root, **{option: value})


def test_options_from_a_toml_list_and_the_gap_in_samples(emg_root) -> None:
    ds = load_dataset("emg-roshambo", "test", root=emg_root, test_ids=[3], val_gap_ms=12.0)
    assert ds.test_ids == (3,)
    assert len(ds) == 3 * 15
    assert ds.val_gap == 3  # ceil(12 ms * 200 Hz) = ceil(2.4) samples
    assert load_dataset("emg-roshambo", "test", root=emg_root).val_gap == 200  # one window
    spans = np.asarray(ds.spans)
    assert ((spans[:, 1] - spans[:, 0]) == 200).all()
    assert spans[:5, 0].tolist() == [0, 100, 200, 300, 400]  # hop 100 samples in the rock run


def test_real_roshambo_default_split_shares_no_sample(shared_data) -> None:
    # the leak of the old split on the real recordings, and none with the default one
    whole = load_dataset("emg-roshambo", "train", root=shared_data)
    tr, va = stratified_split(whole, 0.1, seed=0)
    assert overlapping_pairs(tr, va) > 0
    cfg = DataConfig(
        name="emg-roshambo",
        root=str(shared_data),
        frames=FrameConfig(n_time_bins=4),
        val_fraction=0.1,
    )
    data = prepare_data(cfg, 0)
    assert overlapping_pairs(data.train, data.val) == 0
    assert set(sample_metadata(data.train, "groups")).isdisjoint(
        sample_metadata(data.val, "groups")
    )
