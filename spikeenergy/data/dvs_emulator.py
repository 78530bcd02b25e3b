"""An emulated DVS pixel array: intensity video -> ON/OFF events, as an event camera reports them.

Each pixel keeps a reference log intensity. When the current log intensity moves ``threshold``
above (ON, p = 1) or below (OFF, p = 0) the reference, the pixel emits an event and moves its
reference one threshold towards the signal. A pixel emits at most one event per video frame and
stays silent for ``refractory_us`` afterwards (so fast edges are rate-limited, as in real
sensors; the change not yet reported fires on later frames). Background-activity noise adds
Poisson events of random polarity at ``noise_rate_hz`` per pixel, from a seeded generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spikeenergy.data.events import make_events


@dataclass(frozen=True)
class DVSConfig:
    """Pixel parameters of the emulated sensor."""

    threshold: float = 0.4  # log-intensity contrast per event
    refractory_us: int = 1000
    noise_rate_hz: float = 0.2  # background events per pixel per second
    log_eps: float = 0.1  # offset inside log() so black pixels have a finite log intensity


def emulate_dvs(
    video: np.ndarray,
    times_us: np.ndarray,
    config: DVSConfig = DVSConfig(),
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Turn ``video`` of shape (frames, H, W) with intensities in [0, 1] into x/y/t/p events."""
    video = np.asarray(video, dtype=np.float64)
    times_us = np.asarray(times_us, dtype=np.int64)
    if video.ndim != 3:
        raise ValueError(f"video must have shape (frames, H, W); got {video.shape}")
    if times_us.shape != (video.shape[0],):
        raise ValueError(f"times_us has shape {times_us.shape}, expected ({video.shape[0]},)")
    if not np.all(np.isfinite(video)):
        raise ValueError("video holds non-finite intensities")
    if np.any(np.diff(times_us) <= 0):
        raise ValueError("times_us must be strictly increasing")
    rng = rng if rng is not None else np.random.default_rng(0)
    log_video = np.log(np.clip(video, 0.0, None) + config.log_eps)
    ref = log_video[0].copy()
    last_fire = np.full(ref.shape, -np.iinfo(np.int64).max // 2, dtype=np.int64)
    xs, ys, ts, ps = [], [], [], []
    for k in range(1, video.shape[0]):
        t = times_us[k]
        diff = log_video[k] - ref
        ready = (t - last_fire) >= config.refractory_us
        fire = (np.abs(diff) >= config.threshold) & ready
        yy, xx = np.nonzero(fire)
        if yy.size:
            up = diff[yy, xx] > 0
            ref[yy, xx] += np.where(up, config.threshold, -config.threshold)
            last_fire[yy, xx] = t
            xs.append(xx)
            ys.append(yy)
            ts.append(np.full(yy.size, t, dtype=np.int64))
            ps.append(up.astype(np.int64))
    signal = _concat(xs, ys, ts, ps)
    noise = _background_noise(video.shape[1:], int(times_us[0]), int(times_us[-1]), config, rng)
    merged = [np.concatenate([a, b]) for a, b in zip(signal, noise, strict=True)]
    x, y, t_all, p = merged
    return make_events(t_all, x, p, y=y)


def _concat(*parts: list[np.ndarray]) -> list[np.ndarray]:
    return [np.concatenate(p).astype(np.int64) if p else np.zeros(0, np.int64) for p in parts]


def _background_noise(
    shape: tuple[int, ...], t0: int, t1: int, config: DVSConfig, rng: np.random.Generator
) -> list[np.ndarray]:
    """Poisson background activity: (x, y, t, p) arrays."""
    height, width = shape
    expected = config.noise_rate_hz * height * width * (t1 - t0) * 1e-6
    n = int(rng.poisson(expected)) if expected > 0 else 0
    return [
        rng.integers(0, width, n),
        rng.integers(0, height, n),
        rng.integers(t0, t1 + 1, n),
        rng.integers(0, 2, n),
    ]


def saccade_offsets(times_us: np.ndarray, saccade_us: int = 100_000) -> np.ndarray:
    """Image offsets (dx, dy) in pixels along N-MNIST's three saccades (a triangle).

    Orchard et al. moved the sensor along (0,0) -> (3.5,7) -> (7,0) -> (0,0), about 100 ms each.
    """
    corners = np.array([[0.0, 0.0], [3.5, 7.0], [7.0, 0.0], [0.0, 0.0]])
    phase = np.clip(np.asarray(times_us, dtype=np.float64) / saccade_us, 0.0, 3.0)
    seg = np.minimum(phase.astype(np.int64), 2)
    frac = (phase - seg)[:, None]
    return corners[seg] * (1 - frac) + corners[seg + 1] * frac


def saccade_video(
    image: np.ndarray,
    sensor_hw: tuple[int, int] = (34, 34),
    dt_us: int = 1000,
    saccade_us: int = 100_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Video of ``image`` (values in [0, 1]) moved through three saccades on a blank sensor."""
    times = np.arange(0, 3 * saccade_us + 1, dt_us, dtype=np.int64)
    canvas = np.zeros(sensor_hw)
    h, w = image.shape
    if h > sensor_hw[0] or w > sensor_hw[1]:
        raise ValueError(f"image {image.shape} does not fit the sensor {sensor_hw}")
    canvas[:h, :w] = image
    offsets = saccade_offsets(times, saccade_us)
    video = np.stack(
        [ndimage.shift(canvas, (dy, dx), order=1, mode="constant") for dx, dy in offsets]
    )
    return video, times
