import numpy as np
import pytest

from spikeenergy.data import DigitsDVS, DVSConfig, emulate_dvs
from spikeenergy.data.dvs_emulator import saccade_offsets


def _square(shift: int) -> np.ndarray:
    img = np.zeros((10, 10))
    img[3:7, 2 + shift : 6 + shift] = 1.0  # bright 4x4 square, columns 2..5 (+ shift)
    return img


def test_blank_image_yields_only_noise_events():
    video = np.zeros((101, 12, 12))
    times = np.arange(101) * 1000
    silent = emulate_dvs(video, times, DVSConfig(noise_rate_hz=0.0))
    assert len(silent) == 0
    # with noise: 144 pixels x 0.1 s x 50 Hz = 720 expected Poisson events, both polarities
    noisy = emulate_dvs(video, times, DVSConfig(noise_rate_hz=50.0), np.random.default_rng(0))
    assert 600 < len(noisy) < 840
    assert 0.4 < noisy["p"].mean() < 0.6


def test_square_moved_one_pixel_gives_on_leading_and_off_trailing_edge():
    video = np.stack([_square(0), _square(1)])
    ev = emulate_dvs(video, np.array([0, 1000]), DVSConfig(noise_rate_hz=0.0))
    on = {(int(x), int(y)) for x, y, p in zip(ev["x"], ev["y"], ev["p"], strict=True) if p == 1}
    off = {(int(x), int(y)) for x, y, p in zip(ev["x"], ev["y"], ev["p"], strict=True) if p == 0}
    # the square covered columns 2..5 and now 3..6: column 6 brightens, column 2 darkens
    assert on == {(6, y) for y in range(3, 7)}
    assert off == {(2, y) for y in range(3, 7)}


def test_refractory_period_limits_rate():
    # a pixel ramping up fast fires on every 1 ms frame without refractory, every 5th with 5 ms
    video = np.linspace(0, 1, 21)[:, None, None] * np.ones((21, 1, 1))
    times = np.arange(21) * 1000
    fast = emulate_dvs(video, times, DVSConfig(threshold=0.05, refractory_us=0, noise_rate_hz=0))
    slow = emulate_dvs(video, times, DVSConfig(threshold=0.05, refractory_us=5000, noise_rate_hz=0))
    assert len(slow) < len(fast)
    assert np.all(np.diff(slow["t"]) >= 5000)


def test_same_seed_same_events_and_other_seed_other_noise():
    a, _ = DigitsDVS(limit=2, seed=7)[1]
    b, _ = DigitsDVS(limit=2, seed=7)[1]
    c, _ = DigitsDVS(limit=2, seed=8)[1]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_digits_dvs_looks_like_nmnist():
    ds = DigitsDVS(limit=3)
    ev, label = ds[0]
    assert ds.sensor_size == (34, 34, 2)
    assert label == ds.targets[0]
    assert 1000 < len(ev) < 12000  # N-MNIST samples hold 1,100-7,200 events
    assert ev["x"].max() < 34
    assert ev["y"].max() < 34
    assert 290_000 <= ev["t"].max() <= 300_000  # three 100 ms saccades
    assert set(np.unique(ev["p"])) == {0, 1}


def test_saccade_path_is_the_nmnist_triangle():
    offs = saccade_offsets(np.array([0, 100_000, 200_000, 300_000, 50_000]))
    np.testing.assert_allclose(offs, [[0, 0], [3.5, 7], [7, 0], [0, 0], [1.75, 3.5]])


def test_emulator_rejects_bad_video():
    with pytest.raises(ValueError, match="non-finite"):
        emulate_dvs(np.full((2, 3, 3), np.nan), np.array([0, 1]))
    with pytest.raises(ValueError, match="strictly increasing"):
        emulate_dvs(np.zeros((2, 3, 3)), np.array([5, 5]))
