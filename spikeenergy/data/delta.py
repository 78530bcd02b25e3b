"""Delta (level-crossing) modulation: multichannel signals (EMG, ECG, EEG) -> UP/DOWN events.

Each channel keeps a reference level. Whenever the signal rises ``threshold`` above it an UP
event (p = 1) is emitted and the reference moves up by one threshold; likewise DOWN (p = 0)
below. Several crossings within one sample give several events, spread evenly in time over the
sample interval (linear interpolation), so the reconstruction stays within one threshold of
the signal at every sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spikeenergy.data.events import make_events


def delta_modulate(
    signal: np.ndarray,
    sample_rate_hz: float,
    threshold: float | np.ndarray,
    *,
    interpolate: bool = True,
) -> np.ndarray:
    """Encode ``signal`` of shape ``(samples, channels)`` into Tonic ``(t, x, p)`` events.

    ``t`` is in microseconds from the first sample, ``x`` the channel, ``p`` 1 for UP and 0 for
    DOWN. ``threshold`` is a scalar or one value per channel, in signal units.
    """
    sig = np.asarray(signal, dtype=np.float64)
    if sig.ndim == 1:
        sig = sig[:, None]
    if sig.ndim != 2:
        raise ValueError(f"signal must have shape (samples, channels); got {sig.shape}")
    if not np.all(np.isfinite(sig)):
        bad = np.argwhere(~np.isfinite(sig))[0]
        raise ValueError(
            f"signal holds a non-finite value at sample {bad[0]}, channel {bad[1]}; "
            "clean or interpolate it before encoding"
        )
    if sample_rate_hz <= 0:
        raise ValueError(f"sample_rate_hz must be positive; got {sample_rate_hz}")
    n_samples, n_channels = sig.shape
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (n_channels,))
    if np.any(thr <= 0):
        raise ValueError(f"threshold must be positive for every channel; got {thr}")
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


def reconstruct_from_events(
    events: np.ndarray,
    initial: np.ndarray,
    threshold: float | np.ndarray,
    sample_rate_hz: float,
    n_samples: int,
) -> np.ndarray:
    """Rebuild the staircase signal a delta encoder tracks (for checks and plots)."""
    initial = np.atleast_1d(np.asarray(initial, dtype=np.float64))
    n_channels = initial.shape[0]
    thr = np.broadcast_to(np.asarray(threshold, dtype=np.float64), (n_channels,))
    period_us = 1e6 / sample_rate_hz
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
    standard deviation (robust to channel gain differences).
    """

    sample_rate_hz: float
    threshold: float
    relative: bool = False
    interpolate: bool = True

    def __call__(self, signal: np.ndarray) -> np.ndarray:
        sig = np.asarray(signal, dtype=np.float64)
        thr: float | np.ndarray = self.threshold
        if self.relative:
            std = sig.std(axis=0) if sig.ndim == 2 else np.atleast_1d(sig.std())
            thr = self.threshold * np.where(std > 0, std, 1.0)
        return delta_modulate(sig, self.sample_rate_hz, thr, interpolate=self.interpolate)
