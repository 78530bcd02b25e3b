"""Delta modulation: the vectorised encoder against the original per-sample loop, and its checks."""

import numpy as np
import pytest

from spikeenergy.data import DeltaModulation, delta_modulate, make_events, reconstruct_from_events
from spikeenergy.data.delta import _guess_levels, _loop_step


def delta_modulate_loop(
    signal: np.ndarray, sample_rate_hz: float, threshold, *, interpolate: bool = True
) -> np.ndarray:
    """The original per-sample loop (spikeenergy 9ef4982), kept verbatim as the reference."""
    sig = np.asarray(signal, dtype=np.float64)
    if sig.ndim == 1:
        sig = sig[:, None]
    n_samples, n_channels = sig.shape
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (n_channels,))
    if n_samples == 0:
        return make_events(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))

    period_us = 1e6 / sample_rate_hz
    ts, xs, ps = [], [], []
    ref = sig[0].copy()
    for i in range(1, n_samples):
        diff = sig[i] - ref
        count = np.floor(np.abs(diff) / thr).astype(np.int64)  # crossings per channel
        active = np.nonzero(count)[0]
        for ch in active:
            k = int(count[ch])
            up = diff[ch] > 0
            if interpolate:
                # crossing levels ref + j*thr (j = 1..k) reached linearly between samples i-1, i
                prev = sig[i - 1, ch]
                step = sig[i, ch] - prev
                levels = ref[ch] + np.sign(diff[ch]) * thr[ch] * np.arange(1, k + 1)
                frac = np.clip((levels - prev) / step, 0.0, 1.0) if step != 0 else np.ones(k)
                times = (i - 1 + frac) * period_us
            else:
                times = np.full(k, i * period_us)
            # integer microseconds strictly inside the sample interval ((i-1)T, iT]
            lo, hi = np.floor((i - 1) * period_us) + 1, np.floor(i * period_us)
            ts.append(np.clip(np.ceil(times - 1e-6), lo, hi).astype(np.int64))
            xs.append(np.full(k, ch, dtype=np.int64))
            ps.append(np.full(k, 1 if up else 0, dtype=np.int64))
            ref[ch] += np.sign(diff[ch]) * k * thr[ch]
    if not ts:
        empty = np.zeros(0, np.int64)
        return make_events(empty, empty, empty)
    return make_events(np.concatenate(ts), np.concatenate(xs), np.concatenate(ps))


def assert_same_events(new: np.ndarray, old: np.ndarray) -> None:
    assert new.dtype == old.dtype
    assert len(new) == len(old)
    for field in old.dtype.names:
        np.testing.assert_array_equal(new[field], old[field], err_msg=f"field {field}")


def _random_signal(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    n, c = int(rng.integers(2, 400)), int(rng.integers(1, 6))
    thr = rng.uniform(0.05, 3.0, size=c)
    if kind == "walk":
        sig = np.cumsum(rng.normal(size=(n, c)), axis=0) * rng.uniform(0.1, 5)
    elif kind == "jumps":  # heavy-tailed steps: many samples cross several thresholds at once
        steps = np.clip(rng.standard_t(1.5, size=(n, c)), -40, 40) * thr
        sig = np.cumsum(steps, axis=0) + rng.normal(size=c) * 100
    elif kind == "sine":
        t = np.arange(n)[:, None]
        sig = 4 * np.sin(2 * np.pi * rng.uniform(0.001, 0.4, size=c) * t) + rng.normal(size=(n, c))
    elif kind == "quantised":  # multiples of the threshold: float ties at every crossing
        q = rng.choice([0.1, 0.3, 0.7, 1.0, 3.0])
        sig = np.cumsum(rng.integers(-3, 4, size=(n, c)), axis=0) * q + q * rng.integers(-5, 5)
        thr = np.full(c, q) * rng.choice([1, 2, 3], size=c)
    else:  # integer samples, as 16-bit audio or raw EMG arrive
        sig = np.cumsum(rng.integers(-60, 61, size=(n, c)), axis=0).astype(np.int16)
        thr = rng.choice([1.0, 7.0, 25.5], size=c)
    return sig, thr


@pytest.mark.parametrize(
    ("seed", "kind"), list(enumerate(["walk", "jumps", "sine", "quantised", "int16"]))
)
def test_vectorised_encoder_equals_the_loop_on_random_signals(seed, kind):
    rng = np.random.default_rng(seed)
    rates = [200.0, 8000.0, 44100.0, 333.3, 1e6, 3e6]
    total = 0
    for trial in range(18):
        sig, thr = _random_signal(rng, kind)
        rate = rates[trial % len(rates)]
        for interpolate in (True, False):
            old = delta_modulate_loop(sig, rate, thr, interpolate=interpolate)
            new = delta_modulate(sig, rate, thr, interpolate=interpolate)
            assert_same_events(new, old)
            total += len(old)
        scalar = float(thr.max())  # one threshold for all channels
        assert_same_events(
            delta_modulate(sig, rate, scalar), delta_modulate_loop(sig, rate, scalar)
        )
    assert total > 500  # the signals did cross thresholds


@pytest.mark.parametrize("scale", [0.1, 0.2952330214956439])
def test_float_ties_exercise_the_repair_path_and_still_match(scale):
    # integer-valued signals (ADC counts) times a scale, threshold 1 or one step: the signal
    # returns to exact multiples, where the exact levels and the loop's running float sum of
    # steps disagree by one rounding, so the first guess must fail somewhere and be repaired
    rng = np.random.default_rng(7)
    sig = np.cumsum(rng.integers(-4, 5, size=(3000, 4)), axis=0) * scale
    thr = np.full(4, 0.1 if scale == 0.1 else 1.0)
    guess = _guess_levels(sig, sig[0].copy(), thr)
    bad = _loop_step(guess[:-1], sig[1:], thr)[2] != guess[1:]
    assert bad.sum() > 10, "no tie: this test checks nothing"
    assert_same_events(delta_modulate(sig, 8000.0, thr), delta_modulate_loop(sig, 8000.0, thr))


def test_multi_crossing_jump_in_one_sample_matches_the_loop_and_hand_values():
    # 0 -> 5.5 -> -3.2 with threshold 1 at 1 kHz: sample 1 crosses 1..5 (5 UP, reference 5),
    # sample 2 goes from 5 down by 8.2: crosses 4, 3, ..., -3 (8 DOWN, reference -3).
    # UP level j is reached at fraction j / 5.5 of the first millisecond: 182, 364, 546, 728,
    # 910 us (rounded up); DOWN level 5 - j at (5.5 - (5 - j)) / 8.7 of the second one.
    sig = np.array([0.0, 5.5, -3.2])
    ev = delta_modulate(sig, 1000.0, 1.0)
    assert_same_events(ev, delta_modulate_loop(sig, 1000.0, 1.0))
    assert list(ev["p"]) == [1] * 5 + [0] * 8
    np.testing.assert_array_equal(ev["t"][:5], [182, 364, 546, 728, 910])
    down = 1000 + np.ceil((5.5 - (5 - np.arange(1, 9))) / 8.7 * 1000 - 1e-6)
    np.testing.assert_array_equal(ev["t"][5:], down)


def test_edge_cases_match_the_loop():
    cases = [
        np.zeros((0, 3)),  # no samples
        np.ones((1, 2)),  # one sample
        np.full((50, 4), 3.3),  # constant
        np.array([0.0, 1.0, 0.0, 1.0, 0.0]),  # exactly one threshold each way
        np.array([0.0, 0.999999, 1.0, 1.0, -1e-12]),
        np.zeros((20, 0)),  # no channels
    ]
    for sig in cases:
        for interpolate in (True, False):
            new = delta_modulate(sig, 100.0, 1.0, interpolate=interpolate)
            assert_same_events(new, delta_modulate_loop(sig, 100.0, 1.0, interpolate=interpolate))
    assert len(delta_modulate(np.full((50, 4), 3.3), 100.0, 1.0)) == 0


def test_ramp_gives_known_up_events_at_known_times():
    # x[i] = 0.3 * i for i = 0..10 at 100 Hz (10 ms per sample), threshold 1.0.
    # The ramp ends at 3.0, so it crosses levels 1, 2, 3: 3 UP events, no DOWN.
    # Level k is reached at sample k / 0.3 = 3.33, 6.67, 10.0 -> 33 333 us, 66 667 us, 100 000 us.
    sig = 0.3 * np.arange(11.0)
    ev = delta_modulate(sig, sample_rate_hz=100.0, threshold=1.0)
    assert len(ev) == 3
    assert np.all(ev["p"] == 1)
    assert np.all(ev["x"] == 0)
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
    with pytest.raises(ValueError, match="non-finite value at sample 1, channel 0"):
        delta_modulate(np.array([0.0, np.inf]), 100.0, 1.0)
    with pytest.raises(ValueError, match="shape"):
        delta_modulate(np.zeros((2, 2, 2)), 100.0, 1.0)


@pytest.mark.parametrize("thr", [0.0, -1.0, np.nan, np.inf, [1.0, 0.0]])
def test_bad_thresholds_are_refused(thr):
    with pytest.raises(ValueError, match="threshold must be (positive|finite)"):
        delta_modulate(np.zeros((4, 2)), 100.0, thr)


def test_threshold_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="3 values for a signal of 2 channels"):
        delta_modulate(np.zeros((4, 2)), 100.0, [1.0, 1.0, 1.0])


@pytest.mark.parametrize("rate", [0.0, -8000.0, np.nan, np.inf])
def test_bad_sample_rates_are_refused(rate):
    # NaN used to slip through `rate <= 0` and stamp events at t = INT64_MIN
    with pytest.raises(ValueError, match="sample_rate_hz must be a finite positive"):
        delta_modulate(np.array([0.0, 5.0]), rate, 1.0)
    with pytest.raises(ValueError, match="sample_rate_hz"):
        DeltaModulation(rate, threshold=1.0)
    with pytest.raises(ValueError, match="sample_rate_hz"):
        reconstruct_from_events(delta_modulate(np.zeros(2), 1.0, 1.0), np.zeros(1), 1.0, rate, 2)


def test_transform_validates_its_options_at_construction():
    with pytest.raises(ValueError, match="threshold must be positive"):
        DeltaModulation(200.0, threshold=0.0)
    with pytest.raises(ValueError, match="threshold must be finite"):
        DeltaModulation(200.0, threshold=float("nan"), relative=True)
    with pytest.raises(ValueError, match="max_events_per_sample must be an integer >= 1"):
        DeltaModulation(200.0, threshold=1.0, max_events_per_sample=0)


def test_event_cap_names_the_threshold_to_raise():
    # a jump of 5000 with threshold 1 would give 5000 events in one sample; the cap is 1000
    sig = np.array([0.0, 0.0, 5000.0])
    with pytest.raises(ValueError, match=r"channel 0 at sample 2 .*threshold 1.*at least 5") as err:
        delta_modulate(sig, 100.0, 1.0)
    assert "max_events_per_sample=1000" in str(err.value)
    # a raised threshold or cap passes, and the count is the hand-computed one (5000 / 10)
    assert len(delta_modulate(sig, 100.0, 10.0)) == 500
    assert len(delta_modulate(sig, 100.0, 1.0, max_events_per_sample=5000)) == 5000
    # just under / at the cap: the exact count decides (1000 crossings allowed, 1001 refused)
    assert len(delta_modulate(np.array([0.0, 1000.5]), 100.0, 1.0)) == 1000
    with pytest.raises(ValueError, match="over max_events_per_sample=1000"):
        delta_modulate(np.array([0.0, 1001.5]), 100.0, 1.0)
    # a float overflow in the jump is refused by the same check, not turned into garbage times
    with pytest.raises(ValueError, match="max_events_per_sample"):
        delta_modulate(np.array([-1e308, 1e308]), 100.0, 1.0)


def test_non_contiguous_signals_give_the_same_events():
    rng = np.random.default_rng(11)
    wide = np.cumsum(rng.normal(size=(300, 6)), axis=0)
    view = wide[::2, ::3]  # strided in both axes
    assert not view.flags.c_contiguous
    assert_same_events(delta_modulate(view, 100.0, 0.7), delta_modulate_loop(view, 100.0, 0.7))
