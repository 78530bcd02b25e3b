"""The real recordings in ../shared/data (skipped when absent)."""

import collections

import numpy as np
from test_data_delta import assert_same_events, delta_modulate_loop

from spikeenergy.data import FrameConfig, FrameDataset, load_dataset

NMNIST_TRAIN_COUNTS = [97, 116, 99, 93, 105, 92, 94, 117, 87, 100]
NMNIST_TEST_COUNTS = [8, 14, 8, 11, 14, 7, 10, 15, 2, 11]


def test_nmnist_subset_through_tonic_code_path(shared_data):
    train = load_dataset("nmnist", "train", root=shared_data)
    test = load_dataset("nmnist", "test", root=shared_data)
    assert (len(train), len(test)) == (1000, 100)
    assert [collections.Counter(train.targets)[d] for d in range(10)] == NMNIST_TRAIN_COUNTS
    assert [collections.Counter(test.targets)[d] for d in range(10)] == NMNIST_TEST_COUNTS
    ev, _ = test[0]
    assert 1100 <= len(ev) <= 7200
    assert ev["x"].max() < 34
    frames, _ = FrameDataset(test, FrameConfig(n_time_bins=10))[0]
    assert frames.sum() == len(ev)


def test_roshambo_windows_are_balanced(shared_data):
    train = load_dataset("emg-roshambo", "train", root=shared_data)
    test = load_dataset("emg-roshambo", "test", root=shared_data)
    for ds in (train, test):
        counts = collections.Counter(ds.targets)
        assert set(counts) == {0, 1, 2}
        assert max(counts.values()) / min(counts.values()) < 1.1
    assert {s for _, s in test.groups} == {3}
    assert 3 not in {s for _, s in train.groups}


def test_roshambo_events_equal_the_loop_and_fit_a_fixed_window(shared_data):
    test = load_dataset("emg-roshambo", "test", root=shared_data)
    for i in range(0, len(test), max(1, len(test) // 25)):  # 25 windows across the sessions
        si, start, stop = test._windows[i]
        window = test._signals[si][start:stop]  # in units of the session's delta threshold
        assert_same_events(test[i][0], delta_modulate_loop(window, 200.0, 1.0))
    # 1 s windows of 200 samples: every event lies in (0, 995 000] us, inside a fixed
    # [0, 1 000 000) window of 25 bins of 40 ms
    frames = FrameDataset(test, FrameConfig(n_time_bins=25, duration_us=1e6, cache=None))
    for i in range(0, len(test), 50):
        x, _ = frames[i]
        assert x.shape == (25, 2, 8)
        assert x.sum() == len(test[i][0])
        assert np.all(test[i][0]["t"] < 1e6)
