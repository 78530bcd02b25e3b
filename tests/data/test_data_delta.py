import numpy as np
import pytest

from spikeenergy.data import DeltaModulation, delta_modulate, reconstruct_from_events


def test_ramp_gives_known_up_events_at_known_times():
    # x[i] = 0.3 * i for i = 0..10 at 100 Hz (10 ms per sample), threshold 1.0.
    # The ramp ends at 3.0, so it crosses levels 1, 2, 3: 3 UP events, no DOWN.
    # Level k is reached at sample k / 0.3 = 3.33, 6.67, 10.0 -> 33 333 us, 66 667 us, 100 000 us.
    sig = 0.3 * np.arange(11.0)
    ev = delta_modulate(sig, sample_rate_hz=100.0, threshold=1.0)
    assert len(ev) == 3
    assert np.all(ev["p"] == 1) and np.all(ev["x"] == 0)
    np.testing.assert_allclose(ev["t"], [33334, 66667, 100000], atol=1)


def test_falling_ramp_gives_down_events_and_multiple_crossings_per_sample():
    # one step from 0 to -2.5 with threshold 1 crosses -1 and -2: 2 DOWN events in sample 1
    ev = delta_modulate(np.array([0.0, -2.5]), sample_rate_hz=1000.0, threshold=1.0)
    assert list(ev["p"]) == [0, 0]
    assert np.all((ev["t"] > 0) & (ev["t"] <= 1000))


@pytest.mark.parametrize("seed", [0, 1])
def test_reconstruction_stays_within_one_threshold(seed):
    rng = np.random.default_rng(seed)
    sig = np.cumsum(rng.normal(size=(500, 3)), axis=0)
    thr = np.array([0.5, 1.0, 2.0])
    ev = delta_modulate(sig, 200.0, thr)
    rec = reconstruct_from_events(ev, sig[0], thr, 200.0, len(sig))
    assert np.all(np.abs(rec - sig) < thr[None, :] + 1e-9)
    assert len(ev) > 100


def test_relative_threshold_scales_with_channel_gain():
    rng = np.random.default_rng(3)
    base = np.cumsum(rng.normal(size=300))
    sig = np.stack([base, 10 * base], axis=1)
    ev = DeltaModulation(200.0, threshold=0.2, relative=True)(sig)
    counts = np.bincount(ev["x"], minlength=2)
    assert counts[0] == counts[1] > 0  # same shape, 10x gain: same events once normalised


def test_bad_signals_raise_clear_errors():
    with pytest.raises(ValueError, match="non-finite value at sample 2, channel 1"):
        delta_modulate(np.array([[0, 0], [1, 1], [2, np.nan]]), 100.0, 1.0)
    with pytest.raises(ValueError, match="threshold must be positive"):
        delta_modulate(np.zeros(4), 100.0, 0.0)
    with pytest.raises(ValueError, match="shape"):
        delta_modulate(np.zeros((2, 2, 2)), 100.0, 1.0)


def test_empty_and_constant_signals_give_empty_streams():
    assert len(delta_modulate(np.zeros((0, 4)), 100.0, 1.0)) == 0
    assert len(delta_modulate(np.ones((50, 4)), 100.0, 1.0)) == 0
