"""Delta (level-crossing) modulation: multichannel signals (EMG, ECG, EEG, audio bands) -> events.

Each channel keeps a reference level. Whenever the signal rises ``threshold`` above it an UP
event (p = 1) is emitted and the reference moves up by one threshold; likewise DOWN (p = 0)
below. Several crossings within one sample give several events, spread evenly in time over the
sample interval (linear interpolation), so the reconstruction stays within one threshold of
the signal at every sample.

The encoder is vectorised over samples and channels (numpy) and gives exactly the events of the
plain per-sample loop (kept as the reference in ``tests/data/test_data_delta.py``):

* In exact arithmetic the reference after sample ``i`` is ``x0 + m_i * threshold`` with the
  integer level ``m_i = floor(u_i)`` if ``u_i >= m_{i-1}`` else ``ceil(u_i)``, where
  ``u_i = (x_i - x0) / threshold``. Which of floor / ceil applies is a two-state hysteresis whose
  step function is either constant (the signal left the previous cell: reset) or the identity
  (it stayed inside), so the state at every sample is the one of the last reset: a forward fill.
* The loop's reference is a running float sum of ``sign * k * threshold`` steps, whose rounding
  the exact levels ignore. The levels are therefore only a guess: the float reference is rebuilt
  with the same additions in the same order (``np.add.accumulate`` is sequential), and every
  step is checked against the loop's rule applied to the rebuilt reference. Where the check
  fails (a float tie: integer-valued signals such as ADC counts return to exact multiples
  often), the loop itself runs from that sample until its reference meets the guess again,
  usually a sample or two later. The result equals the loop's by construction, not by luck.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikeenergy.data.events import EVENTS_TXP, make_events

#: Default cap on the threshold crossings one channel may make between two samples.
DEFAULT_MAX_EVENTS_PER_SAMPLE = 1000


def check_sample_rate(sample_rate_hz: float) -> float:
    """Return ``sample_rate_hz`` as a float if it is finite and positive, else raise."""
    rate = float(sample_rate_hz)
    if not math.isfinite(rate) or rate <= 0:
        raise ValueError(
            f"sample_rate_hz must be a finite positive number of samples per second; "
            f"got {sample_rate_hz!r}"
        )
    return rate


def check_threshold(threshold: float | np.ndarray, n_channels: int | None = None) -> np.ndarray:
    """Validate a delta threshold (scalar or one per channel) and return it as float64.

    With ``n_channels`` the result is broadcast to ``(n_channels,)``.
    """
    if isinstance(threshold, float | int) and not isinstance(threshold, bool):
        value = float(threshold)
        if not math.isfinite(value) or value <= 0:
            kind = "finite" if not math.isfinite(value) else "positive"
            raise ValueError(f"threshold must be {kind} for every channel; got {threshold}")
        return np.array(value) if n_channels is None else np.full(n_channels, value)
    thr = np.asarray(threshold, dtype=np.float64)
    if thr.ndim > 1:
        raise ValueError(f"threshold must be a scalar or one value per channel; got {thr.shape}")
    if not np.all(np.isfinite(thr)):
        raise ValueError(f"threshold must be finite for every channel; got {thr}")
    if np.any(thr <= 0):
        raise ValueError(f"threshold must be positive for every channel; got {thr}")
    if n_channels is None:
        return thr
    if thr.ndim == 1 and thr.shape[0] not in (1, n_channels):
        raise ValueError(
            f"threshold has {thr.shape[0]} values for a signal of {n_channels} channels; "
            "give one value or one per channel"
        )
    return np.broadcast_to(thr, (n_channels,)).copy()


def _check_cap(max_events_per_sample: int) -> int:
    if (
        isinstance(max_events_per_sample, bool)
        or not isinstance(max_events_per_sample, int | np.integer)
        or max_events_per_sample < 1
    ):
        raise ValueError(
            f"max_events_per_sample must be an integer >= 1; got {max_events_per_sample!r}"
        )
    return int(max_events_per_sample)


def _guess_levels(x: np.ndarray, base: np.ndarray, thr: np.ndarray) -> np.ndarray:
    """Float references for rows of ``x`` (m >= 2, C), given the exact reference ``base`` at row 0.

    Exact-arithmetic levels (see the module docstring) turned back into the float reference by
    the loop's own additions. Row 0 is ``base``.
    """
    u = x - base
    u /= thr  # (m, C) signal in thresholds above the base
    fl, ce = np.floor(u), np.ceil(u)
    # key = 2 * row + state at rows where the signal left the previous level's cell (a reset:
    # state 0 = floor, 1 = ceil), 0 elsewhere; a running maximum carries the last reset forward
    itype = np.int32 if 2 * u.shape[0] + 1 < np.iinfo(np.int32).max else np.int64
    up = u[1:] >= ce[:-1]
    down = u[1:] < fl[:-1]
    up[0] = u[1] >= 0  # the level at row 0 is exactly 0, so row 1 always resets
    down[0] = ~up[0]
    key = np.zeros(u.shape, dtype=itype)
    np.multiply(up | down, np.arange(2, 2 * u.shape[0], 2, dtype=itype)[:, None], out=key[1:])
    key[1:] += down
    np.maximum.accumulate(key, axis=0, out=key)
    level = np.where((key & 1).astype(bool), ce, fl)
    level[0] = 0.0
    ref = np.empty_like(u)
    ref[0] = base
    np.subtract(level[1:], level[:-1], out=ref[1:])
    ref[1:] *= thr  # (sign * k) * thr, exactly as the loop computes its steps
    return np.add.accumulate(ref, axis=0, out=ref)  # sequential sums: the loop's rounding


def _loop_step(
    prev: np.ndarray, x: np.ndarray, thr: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The loop's rule for one sample: (x - reference, crossings k as float, next reference).

    ``copysign(k * thr, diff)`` equals the loop's ``(sign(diff) * k) * thr`` bit for bit
    (rounding is symmetric in sign), and adding it when k = 0 leaves the reference unchanged.
    """
    diff = x - prev
    k = np.abs(diff)
    k /= thr
    np.floor(k, out=k)
    step = k * thr
    np.copysign(step, diff, out=step)
    step += prev
    return diff, k, step


def _repair(sig: np.ndarray, ref: np.ndarray, bad: np.ndarray, thr: np.ndarray) -> None:
    """Make ``ref`` follow the loop (in place) where the guess broke its rule (``bad`` rows).

    From a bad row the loop itself runs (Python floats are IEEE doubles: each operation rounds
    as the numpy loop's did) until its reference meets the guess again, which a float tie
    usually allows after a sample or two; past that row the guess and its check still hold.
    """
    for ch in np.nonzero(bad.any(axis=0))[0].tolist():
        x = sig[:, ch]
        col = ref[:, ch]
        t = float(thr[ch])
        done = 0  # rows below are known to follow the loop
        for row in (np.nonzero(bad[:, ch])[0] + 1).tolist():
            if row < done:
                continue  # inside a stretch the loop already ran through
            r = float(col[row - 1])
            i = row
            while i < len(x):
                diff = float(x[i]) - r
                k = math.floor(abs(diff) / t)
                if k > 0:
                    r += (1.0 if diff > 0 else -1.0) * k * t
                if r == col[i]:
                    break  # back in step with the guess
                col[i] = r
                i += 1
            done = i + 1


def _track(sig: np.ndarray, thr: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The loop's float reference after every sample ``(samples, channels)``, and for every
    sample after the first the signal minus the reference before it and the crossings k."""
    ref = _guess_levels(sig, sig[0].copy(), thr)
    diff, k, nxt = _loop_step(ref[:-1], sig[1:], thr)
    bad = nxt != ref[1:]
    if bad.any():
        cols = np.nonzero(bad.any(axis=0))[0]
        _repair(sig, ref, bad, thr)
        diff[:, cols], k[:, cols], _ = _loop_step(ref[:-1, cols], sig[1:, cols], thr[cols])
    return ref, diff, k


def _cap_error(i: int, ch: int, k: float, jump: float, thr: float, cap: int) -> ValueError:
    need = abs(jump) / cap
    return ValueError(
        f"delta modulation would emit about {k:.6g} events for channel {ch} at sample {i} "
        f"(a jump of {abs(jump):.6g} with threshold {thr:.6g}), over "
        f"max_events_per_sample={cap}; raise the threshold (to at least {need:.6g} for this "
        "jump; with a relative threshold raise the fraction), or raise max_events_per_sample "
        "if that many events are intended"
    )


def delta_modulate(
    signal: np.ndarray,
    sample_rate_hz: float,
    threshold: float | np.ndarray,
    *,
    interpolate: bool = True,
    max_events_per_sample: int = DEFAULT_MAX_EVENTS_PER_SAMPLE,
) -> np.ndarray:
    """Encode ``signal`` of shape ``(samples, channels)`` into Tonic ``(t, x, p)`` events.

    ``t`` is in microseconds from the first sample, ``x`` the channel, ``p`` 1 for UP and 0 for
    DOWN. ``threshold`` is a scalar or one value per channel, in signal units (finite, > 0).
    ``max_events_per_sample`` bounds the crossings one channel may make between two samples
    (a jump of many thresholds usually means a threshold far too small for the signal's scale,
    which would allocate millions of events); exceeding it raises with the threshold to use.
    """
    rate = check_sample_rate(sample_rate_hz)
    cap = _check_cap(max_events_per_sample)
    sig = np.asarray(signal, dtype=np.float64)
    if sig.ndim == 1:
        sig = sig[:, None]
    if sig.ndim != 2:
        raise ValueError(f"signal must have shape (samples, channels); got {sig.shape}")
    sig = np.ascontiguousarray(sig)  # the event lookups below index its flat view
    n_samples, n_channels = sig.shape
    empty = np.zeros(0, np.int64)
    if n_samples == 0 or n_channels == 0:
        check_threshold(threshold, n_channels)
        return make_events(empty, empty, empty)
    # per-channel extremes: NaN and inf show up here (one cheap pass), and they bound the jumps
    top, bottom = sig.max(axis=0), sig.min(axis=0)
    if not (np.all(np.isfinite(top)) and np.all(np.isfinite(bottom))):
        bad = np.argwhere(~np.isfinite(sig))[0]
        raise ValueError(
            f"signal holds a non-finite value at sample {bad[0]}, channel {bad[1]}; "
            "clean or interpolate it before encoding"
        )
    thr = check_threshold(threshold, n_channels)
    if n_samples < 2:
        return make_events(empty, empty, empty)
    with np.errstate(over="ignore"):  # an overflowing range or jump is inf: refused below
        span = (top - bottom) / thr
    if np.any(span > cap):
        # the reference stays within one threshold of the signal, so a sample makes more than
        # |x_i - x_{i-1}| / thr - 2 crossings: a huge jump is refused before levels are tracked
        # (the exact count is checked below)
        with np.errstate(over="ignore"):
            jumps = np.abs(np.diff(sig, axis=0)) / thr
        if not np.all(np.isfinite(jumps)) or jumps.max() > cap + 2:
            r, c = np.unravel_index(np.argmax(jumps), jumps.shape)
            with np.errstate(over="ignore"):
                jump = float(sig[r + 1, c] - sig[r, c])
            raise _cap_error(int(r) + 1, int(c), float(jumps[r, c]), jump, thr[c], cap)

    ref, diff, k = _track(sig, thr)  # row r of diff, k: sample r + 1 against the reference
    if k.max() > cap:
        r, c = np.unravel_index(np.argmax(k), k.shape)
        raise _cap_error(int(r) + 1, int(c), float(k[r, c]), diff[r, c], thr[c], cap)
    kf = k.ravel()
    flat = (kf > 0).nonzero()[0]  # C order: by sample, then channel, as the loop emits them
    if flat.size == 0:
        return make_events(empty, empty, empty)
    # one entry per (sample, channel) with crossings; the arrays below are per entry
    counts = kf[flat]
    rows, chans = np.divmod(flat, n_channels)  # row r: sample r + 1
    sign = np.sign(diff.ravel()[flat])
    base = ref.ravel()[flat]  # reference before the sample
    prev = sig.ravel()[flat]  # the previous sample's value
    step = sig.ravel()[flat + n_channels] - prev
    j: np.ndarray | float = 1.0
    if counts.max() > 1:  # several crossings in a sample: one event each, j = 1..k
        reps = counts.astype(np.int64)
        starts = np.repeat(np.cumsum(reps) - reps, reps)
        j = (np.arange(starts.size) - starts + 1).astype(np.float64)
        rows, chans, sign, base, prev, step = (
            np.repeat(a, reps) for a in (rows, chans, sign, base, prev, step)
        )
    before = rows.astype(np.float64)  # i - 1 for the crossing's sample i
    period_us = 1e6 / rate
    if interpolate:
        # crossing levels ref + j*thr (j = 1..k) reached linearly between samples i-1 and i;
        # the same operations as the loop's, in place
        frac = sign * thr[chans]
        frac *= j
        frac += base  # the crossing's level
        frac -= prev
        np.divide(frac, step, out=frac, where=step != 0)
        frac[step == 0] = 1.0
        np.maximum(frac, 0.0, out=frac)
        np.minimum(frac, 1.0, out=frac)
        times = frac
        times += before
    else:
        times = before + 1
    times *= period_us
    times -= 1e-6
    t = np.ceil(times, out=times)
    # integer microseconds strictly inside the sample interval ((i-1)T, iT]
    lo = np.floor(before * period_us)
    lo += 1
    np.maximum(t, lo, out=t)
    before += 1
    before *= period_us
    np.minimum(t, np.floor(before, out=before), out=t)
    t = t.astype(np.int64)
    order = np.argsort(t, kind="stable")  # as make_events sorts the loop's events
    events = np.empty(t.size, dtype=EVENTS_TXP)
    events["t"] = t[order]
    events["x"] = chans[order]
    events["p"] = sign[order] > 0
    return events


def reconstruct_from_events(
    events: np.ndarray,
    initial: np.ndarray,
    threshold: float | np.ndarray,
    sample_rate_hz: float,
    n_samples: int,
) -> np.ndarray:
    """Rebuild the staircase signal a delta encoder tracks (for checks and plots)."""
    rate = check_sample_rate(sample_rate_hz)
    initial = np.atleast_1d(np.asarray(initial, dtype=np.float64))
    n_channels = initial.shape[0]
    thr = check_threshold(threshold, n_channels)
    period_us = 1e6 / rate
    steps = np.zeros((n_samples, n_channels))
    sample_idx = np.ceil(events["t"] / period_us - 1e-9).astype(np.int64)
    sample_idx = np.clip(sample_idx, 0, n_samples - 1)
    sign = np.where(events["p"] > 0, 1.0, -1.0)
    np.add.at(steps, (sample_idx, events["x"]), sign * thr[events["x"]])
    return initial[None, :] + np.cumsum(steps, axis=0)


@dataclass(frozen=True)
class DeltaModulation:
    """Transform: a ``(samples, channels)`` signal at ``sample_rate_hz`` -> ``(t, x, p)`` events.

    ``threshold`` is in signal units; with ``relative=True`` it is a fraction of each channel's
    standard deviation (robust to channel gain differences; a constant channel uses 1.0).
    Roughly, a channel emits ``sum |x_i - x_{i-1}| / threshold`` events (its total variation in
    thresholds), so halving the threshold doubles the event count.
    """

    sample_rate_hz: float
    threshold: float
    relative: bool = False
    interpolate: bool = True
    max_events_per_sample: int = DEFAULT_MAX_EVENTS_PER_SAMPLE

    def __post_init__(self) -> None:
        check_sample_rate(self.sample_rate_hz)
        if check_threshold(self.threshold).ndim != 0:
            raise ValueError(f"DeltaModulation.threshold must be a scalar; got {self.threshold}")
        _check_cap(self.max_events_per_sample)

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        """Signal ``(T,)`` or ``(T, C)`` -> UP/DOWN events (``x`` = channel), time-ordered."""
        sig = np.asarray(signal, dtype=np.float64)
        thr: float | np.ndarray = self.threshold
        if self.relative:
            std = sig.std(axis=0) if sig.ndim == 2 else np.atleast_1d(sig.std())
            thr = self.threshold * np.where(std > 0, std, 1.0)
        return delta_modulate(
            sig,
            self.sample_rate_hz,
            thr,
            interpolate=self.interpolate,
            max_events_per_sample=self.max_events_per_sample,
        )
