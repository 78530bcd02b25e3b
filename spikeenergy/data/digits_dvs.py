"""``digits-dvs``: the embedded default dataset, works offline on a fresh install.

scikit-learn's 1,797 handwritten 8x8 digits, upscaled to 26x26 and "recorded" the way N-MNIST
was: the image moves through three saccades in front of an emulated DVS pixel array (34x34, like
N-MNIST) that emits ON/OFF events on log-intensity change. Deterministic for a given seed: sample
``i`` always uses the generator seeded with ``(seed, i)``.

Every option is checked on construction (:func:`check_options`, also used by the dataset
registry to check suite files before anything runs): types, ranges, and a bound on the events
one sample can produce (``max_events``), since a tiny ``dt_us`` or refractory period or a huge
noise rate would otherwise make one sample fill the memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from spikeenergy.data.dvs_emulator import DVSConfig, emulate_dvs, saccade_video

SENSOR_SIZE = (34, 34, 2)
DIGIT_PIXELS = 26
RECORDING_US = 300_000  # three saccades of 100 ms (see dvs_emulator.saccade_video)
#: shortest video frame step: 3,001 frames of 34 x 34 float64 (28 MB) per sample
MIN_DT_US = 100
#: default cap on the events one sample may produce (about 64 MB of event fields)
MAX_EVENTS = 2_000_000

#: options a caller (or a suite file) may set, besides ``split``
OPTIONS = ("seed", "test_fraction", "dvs", "dt_us", "transform", "limit", "max_events")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def dvs_config(value: Any) -> DVSConfig:
    """``value`` (a DVSConfig or a dict of its fields, e.g. from TOML) as a checked DVSConfig."""
    if isinstance(value, DVSConfig):
        cfg = value
    elif isinstance(value, Mapping):
        known = {f.name for f in fields(DVSConfig)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"dvs: unknown key(s) {unknown}; known: {sorted(known)}")
        cfg = replace(DVSConfig(), **dict(value))
    else:
        raise ValueError(f"dvs={value!r} must be a table of {[f.name for f in fields(DVSConfig)]}")
    for key, ok, rule in (
        ("threshold", _is_number(cfg.threshold) and cfg.threshold > 0, "a number > 0"),
        ("refractory_us", _is_int(cfg.refractory_us) and cfg.refractory_us >= 0, "an int >= 0"),
        (
            "noise_rate_hz",
            _is_number(cfg.noise_rate_hz) and cfg.noise_rate_hz >= 0,
            "a number >= 0",
        ),
        ("log_eps", _is_number(cfg.log_eps) and cfg.log_eps > 0, "a number > 0"),
    ):
        if not ok:
            raise ValueError(f"dvs.{key}={getattr(cfg, key)!r} must be {rule}")
    return cfg


def max_events_per_sample(dt_us: int, dvs: DVSConfig) -> float:
    """An upper bound on the events of one sample: each pixel fires at most once per video
    frame and once per refractory period, plus the expected background noise and 10 standard
    deviations of it."""
    frames = RECORDING_US // dt_us  # frames after the first
    per_pixel = min(frames, RECORDING_US // max(dvs.refractory_us, 1) + 1)
    pixels = SENSOR_SIZE[0] * SENSOR_SIZE[1]
    noise = dvs.noise_rate_hz * pixels * RECORDING_US * 1e-6
    return per_pixel * pixels + noise + 10 * math.sqrt(noise)


def check_options(options: Mapping[str, Any]) -> None:
    """Check digits-dvs options (names, types, ranges, the events bound); ValueError naming
    the option and the fix."""
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ValueError(f"digits-dvs has no option(s) {unknown}; its options: {list(OPTIONS)}")
    o = dict(options)
    limit = o.get("limit")
    if limit is not None and not (_is_int(limit) and limit >= 1):
        raise ValueError(
            f"limit={limit!r} must be an integer >= 1 (the first N samples of the split) or "
            "absent for all of them"
        )
    seed = o.get("seed", 0)
    if not (_is_int(seed) and seed >= 0):
        raise ValueError(f"seed={seed!r} must be an integer >= 0")
    frac = o.get("test_fraction", 0.2)
    if not (_is_number(frac) and 0 < frac < 1):
        raise ValueError(f"test_fraction={frac!r} must be a number in (0, 1)")
    dt_us = o.get("dt_us", 1000)
    if not (_is_int(dt_us) and MIN_DT_US <= dt_us <= RECORDING_US // 2):
        raise ValueError(
            f"dt_us={dt_us!r} must be an integer in [{MIN_DT_US}, {RECORDING_US // 2}] µs (the "
            f"emulated video has {RECORDING_US} / dt_us frames per sample)"
        )
    cap = o.get("max_events", MAX_EVENTS)
    if not (_is_int(cap) and cap >= 1):
        raise ValueError(f"max_events={cap!r} must be an integer >= 1")
    transform = o.get("transform")
    if transform is not None and not callable(transform):
        raise ValueError(f"transform={transform!r} must be a callable (or absent)")
    dvs = dvs_config(o.get("dvs", DVSConfig()))
    bound = max_events_per_sample(dt_us, dvs)
    if bound > cap:
        raise ValueError(
            f"digits-dvs with dt_us={dt_us}, dvs.refractory_us={dvs.refractory_us} and "
            f"dvs.noise_rate_hz={dvs.noise_rate_hz:g} may produce up to {bound:.3g} events per "
            f"sample, above the cap max_events={cap}; raise dt_us or refractory_us, lower "
            "noise_rate_hz, or raise max_events if the memory is there"
        )


@dataclass
class DigitsDVS:
    """Tonic-style dataset of emulated DVS recordings of scikit-learn's digits."""

    split: str = "train"
    seed: int = 0
    test_fraction: float = 0.2
    dvs: DVSConfig = field(default_factory=DVSConfig)
    dt_us: int = 1000
    transform: object | None = None
    limit: int | None = None  # keep only the first N samples of the split (quick runs, tests)
    max_events: int = MAX_EVENTS  # refuse options that could make one sample larger than this

    sensor_size: tuple[int, int, int] = SENSOR_SIZE
    classes: list[str] = field(default_factory=lambda: [str(d) for d in range(10)])

    def __post_init__(self) -> None:
        if self.split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test'; got {self.split!r}")
        check_options({k: getattr(self, k) for k in OPTIONS})
        self.dvs = dvs_config(self.dvs)
        digits = load_digits()
        idx = np.arange(len(digits.target))
        train_idx, test_idx = train_test_split(
            idx, test_size=self.test_fraction, random_state=12345, stratify=digits.target
        )
        chosen = np.sort(train_idx if self.split == "train" else test_idx)
        if self.limit is not None:
            chosen = chosen[: self.limit]
        self._indices = chosen
        self._images = digits.images[chosen] / 16.0
        self.targets = [int(v) for v in digits.target[chosen]]

    def __len__(self) -> int:
        return len(self.targets)

    def events(self, index: int) -> np.ndarray:
        """The event recording of sample ``index`` (before any transform)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        image = ndimage.zoom(self._images[index], DIGIT_PIXELS / 8, order=1)
        image = np.clip(image, 0.0, 1.0)
        video, times = saccade_video(image, SENSOR_SIZE[:2], dt_us=self.dt_us)
        rng = np.random.default_rng([self.seed, int(self._indices[index])])
        return emulate_dvs(video, times, self.dvs, rng)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        events = self.events(index)
        if self.transform is not None:
            events = self.transform(events)  # type: ignore[operator]
        return events, self.targets[index]
