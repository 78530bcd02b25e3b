"""digits-dvs recordings are generated once per data root and read back from disk."""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
from pathlib import Path

import numpy as np
import pytest

from spikeenergy.data import digits_dvs, load_dataset
from spikeenergy.data.digits_dvs import (
    DigitsDVS,
    EventCache,
    cache_key,
    pack_events,
    unpack_events,
)
from spikeenergy.data.dvs_emulator import DVSConfig
from spikeenergy.data.events import make_events


def _folder(root: Path) -> Path:
    (folder,) = (root / "digits-dvs").iterdir()
    return folder


def test_pack_round_trip_keeps_order_and_values() -> None:
    # hand-made events at the extremes of each field: x, y in [0, 33], t up to 300 ms
    ev = make_events(
        t=np.array([0, 5, 5, 299_999]),
        x=np.array([33, 0, 7, 1]),
        p=np.array([1, 0, 1, 0]),
        y=np.array([0, 33, 2, 9]),
    )
    codes = pack_events(ev)
    assert codes.dtype == np.uint32
    assert len(codes) == 4
    # x | y << 6 | p << 12 | t << 13 for the first event: 33 + 0 + 4096 + 0
    assert int(codes[0]) == 33 + (1 << 12)
    back = unpack_events(codes)
    assert back.dtype == ev.dtype
    assert np.array_equal(back, ev)
    with pytest.raises(ValueError, match="field t spans"):
        pack_events(make_events(np.array([1 << 19]), np.array([0]), np.array([0]), np.array([0])))


def test_cached_recordings_equal_generated_ones(tmp_path: Path) -> None:
    cached = DigitsDVS(split="test", limit=4, seed=3, root=tmp_path, progress=False)
    fresh = DigitsDVS(split="test", limit=4, seed=3)
    folder = _folder(tmp_path)
    # one file per sample, named by the sample's index in scikit-learn's digits
    names = sorted(p.name for p in folder.glob("*.npy"))
    assert names == [f"{int(i):04d}.npy" for i in sorted(cached._indices)]
    for i in range(4):
        a, b = cached[i], fresh[i]
        assert a[1] == b[1]
        assert np.array_equal(a[0], b[0])
    # about 4 bytes per event on disk
    events = sum(len(fresh.events(i)) for i in range(4))
    size = sum(p.stat().st_size for p in folder.glob("*.npy"))
    assert 4 * events <= size <= 4 * events + 4 * 256


def test_a_second_dataset_reads_without_generating(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = DigitsDVS(limit=3, root=tmp_path, progress=False)
    expected = [first.events(i) for i in range(3)]

    def refuse(self: DigitsDVS, index: int) -> np.ndarray:
        raise AssertionError("generated again")

    monkeypatch.setattr(DigitsDVS, "_generate", refuse)
    again = DigitsDVS(limit=3, root=tmp_path, progress=False)
    assert all(np.array_equal(again.events(i), expected[i]) for i in range(3))
    # a larger limit generates only the samples that are new
    monkeypatch.undo()
    calls: list[int] = []
    real = DigitsDVS._generate

    def counting(self: DigitsDVS, index: int) -> np.ndarray:
        calls.append(index)
        return real(self, index)

    monkeypatch.setattr(DigitsDVS, "_generate", counting)
    DigitsDVS(limit=5, root=tmp_path, progress=False)
    assert calls == [3, 4]


def test_cache_key_names_every_option_a_recording_depends_on() -> None:
    base = cache_key(0, 1000, DVSConfig())
    assert cache_key(0, 1000, DVSConfig()) == base
    assert cache_key(1, 1000, DVSConfig()) != base
    assert cache_key(0, 500, DVSConfig()) != base
    assert cache_key(0, 1000, dataclasses.replace(DVSConfig(), threshold=0.3)) != base


def test_split_and_limit_share_one_cache(tmp_path: Path) -> None:
    DigitsDVS(split="train", limit=2, root=tmp_path, progress=False)
    DigitsDVS(split="test", limit=2, root=tmp_path, progress=False)
    assert len(list((tmp_path / "digits-dvs").iterdir())) == 1
    assert len(list(_folder(tmp_path).glob("*.npy"))) == 4


def test_registry_caches_below_the_data_root(tmp_path: Path) -> None:
    ds = load_dataset("digits-dvs", "test", root=tmp_path, limit=2)
    assert ds._cache is not None
    assert ds._cache.folder.parent == tmp_path / "digits-dvs"
    assert len(list(ds._cache.folder.glob("*.npy"))) == 2


def test_unreadable_cache_file_names_the_fix(tmp_path: Path) -> None:
    ds = DigitsDVS(limit=1, root=tmp_path, progress=False)
    path = ds._cache.path(int(ds._indices[0]))  # type: ignore[union-attr]
    path.write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="unreadable.*delete the folder"):
        ds.events(0)
    np.save(path, np.zeros(3, dtype=np.float64))
    with pytest.raises(ValueError, match="not packed events"):
        ds.events(0)


def test_cache_folder_that_cannot_be_made_names_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OSError, match="cannot create its cache folder.*writable data root"):
        DigitsDVS(limit=1, root=blocker, progress=False)


def _build(root: str) -> int:
    return len(DigitsDVS(limit=3, root=root, progress=False))


def test_parallel_processes_generate_each_recording_once(tmp_path: Path) -> None:
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        assert pool.map(_build, [str(tmp_path)] * 2) == [3, 3]
    folder = _folder(tmp_path)
    assert len(list(folder.glob("*.npy"))) == 3
    assert not list(folder.glob("*.tmp"))  # no half-written file left
    fresh = DigitsDVS(limit=3)
    cache = EventCache(folder)
    for i in range(3):
        assert np.array_equal(cache.read(int(fresh._indices[i])), fresh.events(i))
    assert digits_dvs.RECORDING_US < 1 << 19  # every event time fits the packed code
