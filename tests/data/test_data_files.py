"""Loaders on fake files written in the real on-disk formats under tmp_path (no network)."""

import numpy as np
import pytest
from data_fakefiles import write_gesture_npy, write_nmnist_bin, write_roshambo_session, write_shd_h5

from spikeenergy.data import DatasetNotFoundError, FrameConfig, FrameDataset, load_dataset
from spikeenergy.registry import UnknownNameError


def test_nmnist_reads_40bit_records_through_tonic(tmp_path):
    # two digits; timestamps beyond 2^16 exercise the 23-bit field split over three bytes
    write_nmnist_bin(
        tmp_path / "NMNIST/Train/3/00001.bin",
        [1, 33, 5],
        [2, 0, 30],
        [10, 70_000, 300_000],
        [1, 0, 1],
    )
    write_nmnist_bin(tmp_path / "NMNIST/Train/7/00002.bin", [4], [4], [5], [0])
    ds = load_dataset("nmnist", "train", root=tmp_path)
    assert len(ds) == 2
    assert list(ds.targets) == [3, 7]
    ev, label = ds[0]
    assert label == 3
    assert list(ev["x"]) == [1, 33, 5]
    assert list(ev["y"]) == [2, 0, 30]
    assert list(ev["t"]) == [10, 70_000, 300_000]
    assert list(ev["p"]) == [1, 0, 1]
    frames, _ = FrameDataset(ds, FrameConfig(n_time_bins=3))[0]
    assert frames.shape == (3, 2, 34, 34)
    assert frames.sum() == 3


def test_truncated_nmnist_file_gives_clear_error(tmp_path):
    path = tmp_path / "NMNIST/Test/1/00001.bin"
    write_nmnist_bin(path, [1, 2], [1, 2], [1, 2], [0, 1])
    path.write_bytes(path.read_bytes()[:-2])  # 8 bytes: not a multiple of 5
    ds = load_dataset("nmnist", "test", root=tmp_path)
    with pytest.raises(ValueError, match="corrupt N-MNIST file .*8 bytes"):
        ds[0]


def test_missing_files_name_layout_and_never_download(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"NMNIST/\{Train,Test\}"):
        load_dataset("nmnist", root=tmp_path)  # root exists but holds nothing
    with pytest.raises(DatasetNotFoundError, match="data root does not exist"):
        load_dataset("shd", root=tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="emg/roshambo"):
        load_dataset("emg-roshambo", root=tmp_path)
    for name, layout in [("pokerdvs", "POKERDVS/"), ("dvsgesture", "DVSGesture/")]:
        with pytest.raises(DatasetNotFoundError, match=layout):
            load_dataset(name, root=tmp_path)


def test_unknown_dataset_lists_known_names():
    with pytest.raises(UnknownNameError, match="known: digits-dvs, dvsgesture, emg-roshambo"):
        load_dataset("mnist-dvs")


def test_shd_hdf5_layout(tmp_path):
    write_shd_h5(
        tmp_path / "SHD/shd_test.h5",
        times_s=[[0.001, 0.5], [0.2]],
        units=[[3, 699], [10]],
        labels=[4, 19],
    )
    ds = load_dataset("shd", "test", root=tmp_path)
    assert len(ds) == 2
    assert ds.targets == [4, 19]
    assert ds.sensor_size == (700, 1, 1)
    ev, label = ds[0]
    assert label == 4
    assert list(ev["x"]) == [3, 699]
    np.testing.assert_allclose(ev["t"], [1000, 500_000], atol=1)  # seconds -> microseconds
    frames, _ = FrameDataset(ds, FrameConfig(n_time_bins=4))[0]
    assert frames.shape == (4, 1, 700)
    assert frames.sum() == 2


def test_dvsgesture_npy_layout(tmp_path):
    folder = tmp_path / "DVSGesture/ibmGestureTrain/user01_fluorescent"
    write_gesture_npy(folder / "2.npy", x=[0, 127], y=[5, 6], p=[1, 0], t_ms=[1, 2])
    write_gesture_npy(folder / "9.npy", x=[3], y=[3], p=[1], t_ms=[7])
    ds = load_dataset("dvsgesture", "train", root=tmp_path)
    assert sorted(ds.targets) == [2, 9]
    i = ds.targets.index(2)
    ev, label = ds[i]
    assert label == 2
    assert list(ev["x"]) == [0, 127]
    assert list(ev["t"]) == [1000, 2000]


def test_pokerdvs_npy_layout(tmp_path):
    folder = tmp_path / "POKERDVS/pips_test/he"
    folder.mkdir(parents=True)
    np.save(folder / "he0.npy", np.array([[10, 1, 2, 1], [20, 3, 4, 0]], dtype=np.int64))
    ds = load_dataset("pokerdvs", "test", root=tmp_path)
    ev, label = ds[0]
    assert label == 1
    assert list(ev["t"]) == [10, 20]
    assert list(ev["y"]) == [2, 4]


def test_roshambo_windows_labels_and_session_split(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "emg/roshambo"
    # 200 samples rock, 100 rest, 200 paper per session; windows of 1 s (200 samples), hop 0.5 s
    labels = ["rock"] * 200 + ["none"] * 100 + ["paper"] * 200
    for session in (1, 2, 3):
        write_roshambo_session(folder, 1, session, rng.integers(-50, 50, (500, 8)), labels)
    train = load_dataset("emg-roshambo", "train", root=tmp_path)
    test = load_dataset("emg-roshambo", "test", root=tmp_path, test_ids=(3,))
    # one 200-sample window per 200-sample run: rock and paper, 2 per session
    assert len(train) == 4
    assert len(test) == 2
    assert sorted(test.targets) == [0, 1]
    assert {g[1] for g in train.groups} == {1, 2}
    assert {g[1] for g in test.groups} == {3}
    ev, _ = train[0]
    assert set(ev.dtype.names) == {"t", "x", "p"}
    assert ev["x"].max() < 8
    assert ev["t"].max() <= 1_000_000
    assert len(ev) > 0
    by_subject = load_dataset(
        "emg-roshambo", "test", root=tmp_path, split_by="subject", test_ids=(1,)
    )
    assert len(by_subject) == 6
