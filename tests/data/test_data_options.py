"""Dataset options are checked where they enter: unknown names, types, ranges, and caps on
the events one sample may produce; damaged files are refused naming the file."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from data_fakefiles import write_nmnist_bin, write_shd_h5

from spikeenergy.data import load_dataset
from spikeenergy.data.digits_dvs import MAX_EVENTS, DigitsDVS, max_events_per_sample
from spikeenergy.data.dvs_emulator import DVSConfig
from spikeenergy.data.registry import check_dataset_options
from spikeenergy.data.root import resolve_data_root
from spikeenergy.data.splits import limit_per_class, stratified_split


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"limit": -5}, "limit=-5 must be an integer >= 1"),  # was: all but the last 5
        ({"limit": 0}, "limit=0 must be an integer >= 1"),  # was: an empty dataset
        ({"limit": 2.5}, "limit=2.5 must be an integer"),
        ({"limit": True}, "limit=True must be an integer"),
        ({"limt": 5}, "has no option 'limt' (did you mean 'limit'?)"),
        ({"seed": -1}, "seed=-1 must be an integer >= 0"),
        ({"test_fraction": 1.0}, "test_fraction=1.0 must be a number in (0, 1)"),
        ({"dt_us": 10}, "dt_us=10 must be an integer in [100, 150000]"),
        ({"dvs": {"threshold": float("nan")}}, "dvs.threshold=nan must be a number > 0"),
        ({"dvs": {"noise_rate_hz": -1.0}}, "dvs.noise_rate_hz=-1.0 must be a number >= 0"),
        ({"dvs": "fast"}, "dvs='fast' must be a table"),
        ({"max_events": 0}, "max_events=0 must be an integer >= 1"),
    ],
)
def test_digits_options_are_checked(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_dataset("digits-dvs", **options)


def test_digits_event_cap_names_the_options_and_the_cap() -> None:
    # refractory 0 and 100 µs frames: each of the 34 x 34 pixels may fire in each of the
    # 3,000 frames after the first = 3,468,000 events, plus noise 0.2 Hz x 1156 x 0.3 s = 69
    dvs = DVSConfig(refractory_us=0)
    bound = max_events_per_sample(100, dvs)
    assert 3_468_000 + 69 < bound < 3_468_000 + 69 + 10 * 69**0.5 + 1
    with pytest.raises(
        ValueError,
        match=r"dt_us=100, dvs.refractory_us=0 .* above the cap "
        rf"max_events={MAX_EVENTS}",
    ):
        DigitsDVS(dt_us=100, dvs=dvs)
    DigitsDVS(dt_us=100, dvs=dvs, limit=1, max_events=4_000_000)  # allowed when asked for
    # the defaults stay far below the cap: at most 301 events per pixel (one per ms)
    assert max_events_per_sample(1000, DVSConfig()) < 301 * 1156 + 100


def test_dvs_options_from_a_table_equal_the_dataclass() -> None:
    a = DigitsDVS(limit=3, dvs={"threshold": 0.3})
    b = DigitsDVS(limit=3, dvs=DVSConfig(threshold=0.3))
    assert a.dvs == b.dvs
    ea, eb = a.events(1), b.events(1)
    assert len(ea) > 0
    assert np.array_equal(ea, eb)


def test_unknown_options_of_tonic_datasets_are_clear_errors(tmp_path: Path) -> None:
    write_shd_h5(tmp_path / "SHD/shd_train.h5", times_s=[[0.1]], units=[[3]], labels=[1])
    with pytest.raises(
        ValueError,
        match=r"dataset 'shd' has no option 'limit'; its options: "
        r"\['download', 'target_transform', 'transform'\]",
    ):
        load_dataset("shd", root=tmp_path, limit=3)  # was: a TypeError traceback from Tonic
    with pytest.raises(ValueError, match="first_saccade_only='yes' must be true or false"):
        load_dataset("nmnist", root=tmp_path, first_saccade_only="yes")
    with pytest.raises(ValueError, match="option download=1 must be true or false"):
        check_dataset_options("nmnist", {"download": 1})


def test_an_empty_nmnist_file_is_refused_naming_it(tmp_path: Path) -> None:
    write_nmnist_bin(tmp_path / "NMNIST/Train/1/00001.bin", [1], [1], [5], [1])
    empty = tmp_path / "NMNIST/Train/2/00002.bin"
    empty.parent.mkdir(parents=True)
    empty.write_bytes(b"")
    ds = load_dataset("nmnist", root=tmp_path)
    assert len(ds[0][0]) == 1
    with pytest.raises(ValueError, match=rf"empty N-MNIST file {empty}: 0 bytes"):
        ds[1]  # was: a sample with no events


def test_an_nmnist_file_over_the_event_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "NMNIST/Train/1/00001.bin"
    write_nmnist_bin(path, [1, 2, 3], [1, 2, 3], [5, 6, 7], [1, 0, 1])  # 3 events, 15 bytes
    assert len(load_dataset("nmnist", root=tmp_path, max_events=3)[0][0]) == 3
    with pytest.raises(
        ValueError,
        match=rf"N-MNIST file {path} holds 3 events, above the cap "
        "max_events=2",
    ):
        load_dataset("nmnist", root=tmp_path, max_events=2)[0]
    with pytest.raises(ValueError, match="max_events=0 must be an integer >= 1"):
        load_dataset("nmnist", root=tmp_path, max_events=0)


class _Labels:
    targets = [0, 0, 1, 1]

    def __len__(self) -> int:
        return 4


@pytest.mark.parametrize("n", [0, -1, 2.5, True])
def test_limit_per_class_needs_a_positive_integer(n: object) -> None:
    with pytest.raises(ValueError, match="samples per class must be an integer >= 1"):
        limit_per_class(_Labels(), n, seed=0)  # type: ignore[arg-type]


@pytest.mark.parametrize("fraction", [0, 1, float("nan"), True, "0.1"])
def test_split_fraction_must_be_a_number_in_0_1(fraction: object) -> None:
    with pytest.raises(ValueError, match="split fraction must be a number in"):
        stratified_split(_Labels(), fraction, seed=0)  # type: ignore[arg-type]


def test_an_empty_data_root_is_refused() -> None:
    with pytest.raises(ValueError, match="data root '' must be a non-empty path"):
        resolve_data_root("")
