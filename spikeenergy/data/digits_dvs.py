"""``digits-dvs``: the embedded default dataset, works offline on a fresh install.

scikit-learn's 1,797 handwritten 8x8 digits, upscaled to 26x26 and "recorded" the way N-MNIST
was: the image moves through three saccades in front of an emulated DVS pixel array (34x34, like
N-MNIST) that emits ON/OFF events on log-intensity change. Deterministic for a given seed: sample
``i`` always uses the generator seeded with ``(seed, i)``.

Every option is checked on construction (:func:`check_options`, also used by the dataset
registry to check suite files before anything runs): types, ranges, and a bound on the events
one sample can produce (``max_events``), since a tiny ``dt_us`` or refractory period or a huge
noise rate would otherwise make one sample fill the memory.

Emulating a recording takes a fraction of a second per sample, so with a data ``root`` (as the
dataset registry always passes) the recordings are generated once per data root and kept on
disk (:class:`EventCache`, about 20 kB per sample): a dataset generates the samples it holds
that are not there yet when it is built (with a progress bar), under a file lock so that
parallel processes (benchmark workers) wait for one another instead of generating them twice.
The cache folder is named by the emulation options and the code that generates the events
(:func:`cache_key`), so a changed option or emulator never reads stale recordings. Without a
root every sample is generated when it is read (nothing is written).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from spikeenergy.data import dvs_emulator
from spikeenergy.data.dvs_emulator import DVSConfig, emulate_dvs, saccade_video
from spikeenergy.data.events import EVENTS_XYTP
from spikeenergy.progress import tqdm

log = logging.getLogger(__name__)

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


# --------------------------------------------------------------------------- the disk cache

#: bits of the packed event fields: x (6) | y (6) | p (1) | t (19): 34 pixels < 2**6, and
#: every event time lies in the recording, 0 .. RECORDING_US < 2**19 microseconds
_X_BITS, _Y_BITS, _P_BITS, _T_BITS = 6, 6, 1, 19


def pack_events(events: np.ndarray) -> np.ndarray:
    """x/y/t/p events of the 34x34 sensor -> one uint32 code per event (order kept)."""
    x, y, p, t = (events[k].astype(np.int64) for k in ("x", "y", "p", "t"))
    for name, v, bits in (
        ("x", x, _X_BITS),
        ("y", y, _Y_BITS),
        ("p", p, _P_BITS),
        ("t", t, _T_BITS),
    ):
        if v.size and (v.min() < 0 or v.max() >= 1 << bits):
            raise ValueError(f"event field {name} spans [{v.min()}, {v.max()}]: no {bits}-bit code")
    codes = x | (y << _X_BITS) | (p << (_X_BITS + _Y_BITS)) | (t << (_X_BITS + _Y_BITS + _P_BITS))
    return codes.astype(np.uint32)


def unpack_events(codes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_events`: the structured x/y/t/p array, in the stored order."""
    c = codes.astype(np.int64)
    events = np.empty(len(c), dtype=EVENTS_XYTP)
    events["x"] = c & ((1 << _X_BITS) - 1)
    events["y"] = (c >> _X_BITS) & ((1 << _Y_BITS) - 1)
    events["p"] = (c >> (_X_BITS + _Y_BITS)) & 1
    events["t"] = c >> (_X_BITS + _Y_BITS + _P_BITS)
    return events


def cache_key(seed: int, dt_us: int, dvs: DVSConfig) -> str:
    """Names the cache folder: the options a recording depends on (not the split, test
    fraction or limit, which only choose samples) and the source of the code that generates
    it, so an edited emulator never reads recordings made by an older one."""
    h = hashlib.sha256()
    options = {"seed": seed, "dt_us": dt_us, "dvs": dataclasses.asdict(dvs)}
    h.update(json.dumps(options, sort_keys=True).encode())
    for module in (dvs_emulator.__file__, __file__):
        h.update(Path(module).read_bytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class EventCache:
    """Recordings on disk: ``folder/NNNN.npy`` holds sample NNNN's packed events (by index in
    scikit-learn's digits), each written atomically; ``folder/.lock`` serialises generation."""

    folder: Path

    def path(self, index: int) -> Path:
        """The file of sample ``index``."""
        return self.folder / f"{index:04d}.npy"

    def missing(self, indices: Iterable[int]) -> list[int]:
        """The indices without a file."""
        return [int(i) for i in indices if not self.path(int(i)).is_file()]

    def read(self, index: int) -> np.ndarray:
        """Sample ``index``'s events; ValueError naming the file (and the fix) if unreadable."""
        path = self.path(index)
        try:
            codes = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(
                f"digits-dvs cache file {path} is unreadable ({exc}); delete the folder "
                f"{self.folder} to generate it again"
            ) from None
        if codes.dtype != np.uint32 or codes.ndim != 1:
            raise ValueError(
                f"digits-dvs cache file {path} holds {codes.dtype} {codes.shape}, not packed "
                f"events; delete the folder {self.folder} to generate it again"
            )
        return unpack_events(codes)

    def write(self, index: int, events: np.ndarray) -> None:
        """Store sample ``index`` atomically (a reader never sees half a file)."""
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=f".{index:04d}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, pack_events(events), allow_pickle=False)
            os.replace(tmp, self.path(index))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


@dataclass
class DigitsDVS:
    """Tonic-style dataset of emulated DVS recordings of scikit-learn's digits.

    ``root``: the data root; the recordings are then generated once and cached below it, in
    ``<root>/digits-dvs/events-<key>/`` (see the module docstring), with a progress bar unless
    ``progress=False``. ``root=None`` generates every sample when it is read.
    """

    split: str = "train"
    seed: int = 0
    test_fraction: float = 0.2
    dvs: DVSConfig = field(default_factory=DVSConfig)
    dt_us: int = 1000
    transform: object | None = None
    limit: int | None = None  # keep only the first N samples of the split (quick runs, tests)
    max_events: int = MAX_EVENTS  # refuse options that could make one sample larger than this
    root: str | os.PathLike[str] | None = None  # data root of the disk cache (None: no cache)
    progress: bool = True  # show the progress of generating missing recordings

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
        self._cache: EventCache | None = None
        if self.root is not None:
            key = cache_key(self.seed, self.dt_us, self.dvs)
            self._cache = EventCache(Path(self.root) / "digits-dvs" / f"events-{key}")
            self._fill_cache()

    def _fill_cache(self) -> None:
        """Generate the recordings of this dataset's samples that are not on disk yet."""
        cache = self._cache
        assert cache is not None
        if not cache.missing(self._indices):
            return
        try:
            cache.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OSError(
                f"digits-dvs cannot create its cache folder {cache.folder} ({exc}); pass a "
                "writable data root (--data-root / root=... / $SPIKEENERGY_DATA)"
            ) from None
        with FileLock(str(cache.folder / ".lock")):  # another process may be generating them
            missing = cache.missing(self._indices)
            if not missing:
                return
            log.info("digits-dvs: generating %d recordings into %s", len(missing), cache.folder)
            position = {int(g): i for i, g in enumerate(self._indices)}
            bar = tqdm(
                missing,
                desc="digits-dvs: generating recordings (once per data root)",
                unit="sample",
                disable=not self.progress,
            )
            for index in bar:
                cache.write(index, self._generate(position[index]))

    def __len__(self) -> int:
        return len(self.targets)

    def events(self, index: int) -> np.ndarray:
        """The event recording of sample ``index`` (before any transform)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        if self._cache is not None:
            return self._cache.read(int(self._indices[index]))
        return self._generate(index)

    def _generate(self, index: int) -> np.ndarray:
        """Emulate the recording of sample ``index`` (a position in this split)."""
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
