"""Fashion-MNIST as event datasets, on fake IDX files written in the real format under tmp_path.

References: the per-image emulator (``emulate_dvs`` on ``saccade_video``) for the batched one,
``scipy.ndimage.shift`` for the batched shift, Tonic's own ``SMNIST`` (reading its own layout)
for the SMNIST encoding, and the IDX format's definition for the reader.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import tonic
from scipy import ndimage

from spikeenergy.data import (
    DatasetNotFoundError,
    DVSConfig,
    emulate_dvs,
    load_dataset,
    saccade_video,
    validate_events,
)
from spikeenergy.data import fashion_mnist as fm


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    """IDX: two zero bytes, type 0x08 (ubyte), ndim, big-endian uint32 dims, then the data."""
    arr = np.ascontiguousarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(raw) if compress else raw)


def fake_images(n: int, seed: int) -> np.ndarray:
    """n 28x28 uint8 images: a bright rectangle of random size and grey level on black."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, 28, 28), dtype=np.uint8)
    for i in range(n):
        y0, x0 = rng.integers(2, 10, 2)
        h, w = rng.integers(6, 16, 2)
        out[i, y0 : y0 + h, x0 : x0 + w] = rng.integers(80, 256)
    return out


def write_fashion(root: Path, n_train: int = 5, n_test: int = 3, compress: bool = True) -> Path:
    folder = root / "fashion-mnist"
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte", fake_images(n, seed), compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10, compress)
    if compress:
        for f in folder.iterdir():
            f.rename(f.with_name(f.name + ".gz"))
    return root


# --------------------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_round_trip(tmp_path, compress):
    arr = fake_images(3, 5)
    write_idx(tmp_path / "a.idx", arr, compress)
    out = fm.read_idx(tmp_path / "a.idx")
    assert out.dtype == np.uint8
    assert out.shape == (3, 28, 28)
    assert np.array_equal(out, arr)


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path):
    write_idx(tmp_path / "a.idx", fake_images(2, 0), compress=False)
    raw = (tmp_path / "a.idx").read_bytes()
    (tmp_path / "cut.idx").write_bytes(raw[:-10])
    with pytest.raises(ValueError, match=r"cut\.idx.*1568 bytes of data.*1558"):  # 2*28*28
        fm.read_idx(tmp_path / "cut.idx")
    (tmp_path / "png.idx").write_bytes(b"\x89PNG\r\n\x1a\n" + raw)
    with pytest.raises(ValueError, match="not an IDX file"):
        fm.read_idx(tmp_path / "png.idx")
    (tmp_path / "gz.idx").write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(ValueError, match="corrupt IDX file"):
        fm.read_idx(tmp_path / "gz.idx")


def test_missing_files_and_mismatched_labels_are_named(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="fashion-mnist-dvs.*train-images-idx3-ubyte"):
        fm.load_fashion_arrays(tmp_path, "train")
    write_fashion(tmp_path)
    write_idx(tmp_path / "fashion-mnist" / "train-labels-idx1-ubyte", np.zeros(4))  # 4 != 5
    with pytest.raises(ValueError, match="expected 5 uint8 labels"):
        fm.load_fashion_arrays(tmp_path, "train")  # the raw file is found before the .gz
    with pytest.raises(ValueError, match="split"):
        fm.load_fashion_arrays(tmp_path, "val")


# --------------------------------------------------------------------------- emulated DVS


def test_shift_batch_equals_ndimage_shift_bit_for_bit():
    img = np.random.default_rng(0).random((3, 26, 26))
    img[1, 5:20, 5:20] = 0.5  # a uniform patch: interpolated values where rounding shows
    canvas = np.zeros((34, 34))
    shifts = [(0, 0), (0.25, 3.5), (7, 0), (3.5, 7.0), (0.07, 6.93), (2.0, 0.5), (33.5, 1), (40, 0)]
    for dy, dx in shifts:
        out = fm.shift_batch(img.transpose(1, 2, 0), dy, dx, (34, 34))  # batch last
        for i in range(3):
            canvas[:26, :26] = img[i]
            ref = ndimage.shift(canvas, (dy, dx), order=1, mode="constant")
            assert np.array_equal(out[:, :, i], ref)
    with pytest.raises(ValueError, match="non-negative"):
        fm.shift_batch(img.transpose(1, 2, 0), -1.0, 0.0, (34, 34))


def test_batched_emulator_equals_per_image_emulator():
    images = fm.scale_images(fake_images(4, 3))
    for cfg in (DVSConfig(), DVSConfig(threshold=0.3, refractory_us=3000, noise_rate_hz=5.0)):
        batch = fm.saccade_events_batch(images, [[7, i] for i in range(4)], cfg, batch=3)
        for i, ev in enumerate(batch):
            video, times = saccade_video(images[i], (34, 34), dt_us=1000)
            ref = emulate_dvs(video, times, cfg, np.random.default_rng([7, i]))
            assert len(ref) > 100
            assert np.array_equal(ev, ref)  # same events, same order, same dtype


def test_pack_round_trip_and_range_check():
    ev = np.zeros(3, dtype=fm.EVENTS_XYTP)
    ev["x"], ev["y"], ev["t"], ev["p"] = [0, 33, 63], [5, 0, 63], [0, 300_000, 2**19 - 1], [1, 0, 1]
    assert np.array_equal(fm.unpack_events(fm.pack_events(ev)), ev)
    ev["t"][2] = 2**19
    with pytest.raises(ValueError, match="packed format"):
        fm.pack_events(ev)


def test_fashion_dvs_dataset_on_fake_files(tmp_path):
    write_fashion(tmp_path)
    ds = load_dataset("fashion-mnist-dvs", "train", root=tmp_path, chunk_size=2)
    assert len(ds) == 5
    assert ds.targets == [0, 1, 2, 3, 4]
    assert ds.sensor_size == (34, 34, 2)
    assert ds.classes[9] == "Ankle boot"
    images = fm.scale_images(fake_images(5, 0))
    for i in (0, 3, 4):
        ev, label = ds[i]
        validate_events(ev, ds.sensor_size)
        assert label == i
        # three 100 ms saccades
        assert 0 < ev["t"].min()
        assert ev["t"].max() <= 300_000
        video, times = saccade_video(images[i], (34, 34), dt_us=1000)
        assert np.array_equal(
            ev, emulate_dvs(video, times, DVSConfig(), np.random.default_rng([0, i]))
        )
    # sample i's events do not depend on chunking or on limit
    other = fm.FashionMNISTDVS(tmp_path, "train", chunk_size=3, limit=4)
    assert len(other) == 4
    assert np.array_equal(other[3][0], ds[3][0])
    with pytest.raises(IndexError):
        other[4]
    with pytest.raises(ValueError, match="cannot be downloaded"):
        load_dataset("fashion-mnist-dvs", "train", root=tmp_path, download=True)


def test_disk_cache_is_reused_and_resumes_after_a_kill(tmp_path, monkeypatch):
    write_fashion(tmp_path / "data", n_train=5)
    cache = tmp_path / "cache"
    calls: list[int] = []
    real = fm._convert_chunk

    def flaky(images, start, *args):
        calls.append(start)
        if len(calls) == 2:
            raise KeyboardInterrupt  # the run is killed while converting the second chunk
        return real(images, start, *args)

    monkeypatch.setattr(fm, "_convert_chunk", flaky)
    ds = fm.FashionMNISTDVS(tmp_path / "data", "train", chunk_size=2, cache_dir=cache)
    with pytest.raises(KeyboardInterrupt):
        ds.prepare(progress=False)
    files = sorted(p.name for p in ds.cache_path.iterdir())
    assert files == ["chunk00000.events.npy", "chunk00000.offsets.npy"]  # no partial files
    ds2 = fm.FashionMNISTDVS(tmp_path / "data", "train", chunk_size=2, cache_dir=cache)
    ds2.prepare(progress=False)
    assert calls == [0, 2, 2, 4]  # chunk 0 was not converted again
    memory = fm.FashionMNISTDVS(tmp_path / "data", "train", chunk_size=2)
    for i in range(5):
        assert np.array_equal(ds2[i][0], memory[i][0])
    n_calls = len(calls)
    fm.FashionMNISTDVS(tmp_path / "data", "train", chunk_size=2, cache_dir=cache)[4]
    assert len(calls) == n_calls  # served from the disk cache
    # another seed is another cache entry
    assert fm.FashionMNISTDVS(tmp_path / "data", "train", 1, cache_dir=cache).cache_path != (
        ds2.cache_path
    )


def test_prepare_with_worker_processes(tmp_path):
    write_fashion(tmp_path / "data", n_train=5)
    ds = fm.FashionMNISTDVS(tmp_path / "data", "train", chunk_size=2, cache_dir=tmp_path / "c")
    ds.prepare(progress=False, workers=2)
    ref = fm.FashionMNISTDVS(tmp_path / "data", "train", chunk_size=5)
    assert all(np.array_equal(ds[i][0], ref[i][0]) for i in range(5))


# --------------------------------------------------------------------------- SMNIST


def test_smnist_equals_tonics_own_smnist(tmp_path):
    write_fashion(tmp_path / "ours")  # gzipped, our layout
    # Tonic's own class reads uncompressed files from <save_to>/smnist/
    theirs = tmp_path / "tonic"
    write_idx(theirs / "smnist" / "t10k-images-idx3-ubyte", fake_images(3, 1), compress=False)
    write_idx(theirs / "smnist" / "t10k-labels-idx1-ubyte", np.arange(3), compress=False)
    ref = tonic.datasets.SMNIST(str(theirs), train=False)
    ds = load_dataset("fashion-smnist", "test", root=tmp_path / "ours")
    assert len(ds) == 3
    assert ds.sensor_size == (99, 1, 1)
    assert ds.targets == [0, 1, 2]
    for i in range(3):
        ev, label = ds[i]
        ref_ev, ref_label = ref[i]
        validate_events(ev, ds.sensor_size)  # sorted in time
        assert label == int(ref_label) == i
        # the same events; Tonic's duplicate copies (t = 2k, 2k+1 ms) come interleaved per spike
        assert len(ev) == len(ref_ev) > 0
        assert np.array_equal(ev, ref_ev[np.argsort(ref_ev["t"], kind="stable")])
    assert ds[0][0]["t"].max() < 2 * 784 * 1000  # one pixel per ms, each spike twice


def test_smnist_options_and_errors(tmp_path):
    write_fashion(tmp_path)
    ds = load_dataset("fashion-smnist", "train", root=tmp_path, duplicate=False, limit=2)
    assert len(ds) == 2
    ev, _ = ds[1]
    assert np.all(ev["t"] % 1000 == 0)  # no duplicate at +1 ms
    with pytest.raises(ValueError, match="odd"):
        load_dataset("fashion-smnist", "train", root=tmp_path, num_neurons=98)
    with pytest.raises(DatasetNotFoundError, match="fashion-smnist"):
        load_dataset("fashion-smnist", "train", root=tmp_path / "nowhere")


# --------------------------------------------------------------------------- real data


def test_real_fashion_mnist(shared_data):
    if not (shared_data / "fashion-mnist").is_dir():
        pytest.skip("fashion-mnist not in the shared data")
    train = fm.SMNIST(shared_data, "train")
    test = fm.SMNIST(shared_data, "test")
    assert (len(train), len(test)) == (60_000, 10_000)
    assert np.bincount(train.targets).tolist() == [6000] * 10  # balanced classes
    assert np.bincount(test.targets).tolist() == [1000] * 10
    validate_events(test[0][0], test.sensor_size)
    dvs = fm.FashionMNISTDVS(shared_data, "test", limit=2, chunk_size=2)
    ev, label = dvs[1]
    validate_events(ev, dvs.sensor_size)
    assert label == test.targets[1]
    assert 1000 < len(ev) < 15_000
