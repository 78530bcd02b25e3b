"""Events -> time-major frame tensors ``(T, B, ...)`` through Tonic transforms, with caching.

``FrameConfig`` picks the binning (a fixed number of time bins, or a time window, from each
sample's first event or over one fixed window for all samples), optional Tonic ``Denoise`` /
``Downsample``, and the cache so epochs after the first do not re-bin events: "memory" (default)
keeps only each sample's non-zero entries (int32 index + narrowest exact value type, about 5
bytes per entry, up to ``cache_limit_mb``), "disk" is Tonic's disk cache. Frames are
``(T, P, H, W)`` for 2-D sensors and ``(T, P, X)`` for 1-D sensors (channels), event counts as
float32 (``binarize`` clips them to {0, 1}).
An empty event stream gives all-zero frames (``n_time_bins`` steps, or one in window mode).
``FrameConfig(sparse=True)`` delivers each sample as a coalesced sparse COO tensor, built once
per sample before caching (the cache holds only the events' indices and counts) and batched by
:func:`collate_time_major` into one sparse ``(T, B, ...)`` tensor; the fast spiking engine feeds
it to sparse kernels, every other model densifies it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tonic
import tonic.transforms as T
import torch
from torch.utils.data import DataLoader, Dataset

from spikeenergy.data.base import EventDataset
from spikeenergy.data.events import validate_events

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameConfig:
    """How events become frames; exactly one of ``n_time_bins`` and ``time_window_us``.

    By default the bins start at each sample's first event (``n_time_bins`` spans first to last
    event, so every sample is stretched to the same number of bins). With ``duration_us`` every
    sample is binned over the same fixed window ``[t_start_us, t_start_us + duration_us)``:
    ``n_time_bins`` bins of ``duration_us / n_time_bins`` each, or ``ceil(duration_us /
    time_window_us)`` bins of ``time_window_us``; an event at ``t_start_us + k * bin`` lands in
    bin ``k`` whatever the sample's first event, which event-aligned windows (a heartbeat, a
    gesture onset, a spoken word cut at fixed times) need. Events outside the window raise.
    """

    n_time_bins: int | None = 25
    time_window_us: float | None = None
    denoise_us: float | None = None
    downsample: float | None = None  # spatial factor in (0, 1], e.g. 0.5 halves each side
    binarize: bool = False
    cache: str | None = "memory"  # "memory", "disk" or None
    cache_dir: str | None = None  # for cache="disk"
    cache_limit_mb: float | None = 4096.0  # cache="memory": bound on the stored frames (MiB)
    sparse: bool = False  # deliver sparse COO frames (see module docstring)
    t_start_us: float = 0.0  # fixed window origin (only with duration_us)
    duration_us: float | None = None  # fixed window length: same bins for every sample

    def __post_init__(self) -> None:
        if (self.n_time_bins is None) == (self.time_window_us is None):
            raise ValueError(
                "set exactly one of n_time_bins and time_window_us "
                f"(got n_time_bins={self.n_time_bins}, time_window_us={self.time_window_us})"
            )
        if self.n_time_bins is not None and self.n_time_bins < 1:
            raise ValueError(f"n_time_bins must be >= 1; got {self.n_time_bins}")
        if self.time_window_us is not None and not (
            math.isfinite(self.time_window_us) and self.time_window_us > 0
        ):
            raise ValueError(f"time_window_us must be finite and > 0; got {self.time_window_us}")
        if self.downsample is not None and not 0 < self.downsample <= 1:
            raise ValueError(f"downsample must be in (0, 1]; got {self.downsample}")
        if self.cache not in ("memory", "disk", None):
            raise ValueError(f"cache must be 'memory', 'disk' or None; got {self.cache!r}")
        if self.cache == "disk" and not self.cache_dir:
            raise ValueError("cache='disk' needs cache_dir")
        if self.cache_limit_mb is not None and not self.cache_limit_mb > 0:
            raise ValueError(f"cache_limit_mb must be > 0 or None; got {self.cache_limit_mb}")
        if not math.isfinite(self.t_start_us):
            raise ValueError(f"t_start_us must be finite; got {self.t_start_us}")
        if self.duration_us is None:
            if self.t_start_us != 0:
                raise ValueError(
                    f"t_start_us={self.t_start_us} needs duration_us (the fixed window's length)"
                )
        elif not (math.isfinite(self.duration_us) and self.duration_us > 0):
            raise ValueError(f"duration_us must be finite and > 0; got {self.duration_us}")

    @property
    def fixed_bins(self) -> tuple[int, float] | None:
        """(bins, bin width in us) of the fixed window when ``duration_us`` is set, else None."""
        if self.duration_us is None:
            return None
        if self.n_time_bins is not None:
            return self.n_time_bins, self.duration_us / self.n_time_bins
        window = float(self.time_window_us)  # type: ignore[arg-type]  # set: exactly one of two
        return max(1, math.ceil(self.duration_us / window)), window

    def key(self) -> str:
        """A short hash of the binning parameters (names disk-cache folders)."""
        skip = ("cache", "cache_dir", "cache_limit_mb")
        fields = {k: v for k, v in asdict(self).items() if k not in skip}
        if not self.sparse:
            del fields["sparse"]  # dense configs keep the cache keys they had before the option
        if self.duration_us is None:
            del fields["t_start_us"], fields["duration_us"]  # likewise for the fixed window
        return hashlib.sha1(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:12]


def output_sensor_size(sensor_size: tuple[int, int, int], cfg: FrameConfig) -> tuple[int, int, int]:
    """Sensor size after the optional spatial downsampling."""
    if cfg.downsample is None:
        return sensor_size
    w, h, p = sensor_size
    f = cfg.downsample
    return (math.floor((w - 1) * f) + 1, math.floor((h - 1) * f) + 1 if h > 1 else h, p)


def frame_shape(sensor_size: tuple[int, int, int], cfg: FrameConfig) -> tuple[int, ...]:
    """Shape of one time step's frame: (P, H, W) for 2-D sensors, (P, X) for 1-D ones."""
    w, h, p = output_sensor_size(sensor_size, cfg)
    return (p, h, w) if h > 1 else (p, w)


@dataclass(frozen=True)
class EventsToFrames:
    """Transform: validated events -> float32 frames (T, *frame_shape) via Tonic."""

    sensor_size: tuple[int, int, int]
    config: FrameConfig

    def __call__(self, events: np.ndarray) -> np.ndarray:
        """Validated events -> float32 frames ``(T, *frame_shape)`` binned as the config says."""
        cfg = self.config
        validate_events(events, self.sensor_size)
        size = output_sensor_size(self.sensor_size, cfg)
        fixed = cfg.fixed_bins
        if fixed is not None:
            _check_in_window(events, cfg.t_start_us, fixed[0] * fixed[1])
        if len(events) == 0:
            steps = fixed[0] if fixed else (cfg.n_time_bins if cfg.n_time_bins is not None else 1)
            return np.zeros((steps, *frame_shape(self.sensor_size, cfg)), dtype=np.float32)
        steps_t: list[Any] = []
        if cfg.denoise_us is not None:
            if "y" not in (events.dtype.names or ()):
                raise ValueError("denoise_us needs 2-D events (fields x and y)")
            steps_t.append(T.Denoise(filter_time=cfg.denoise_us))
        if cfg.downsample is not None:
            steps_t.append(T.Downsample(spatial_factor=cfg.downsample))
        if fixed is not None:
            to_frame: Any = _FixedWindowFrames(size, cfg.t_start_us, *fixed)
        elif cfg.n_time_bins is not None:
            # Tonic's n_time_bins slicing uses floor((t_last - t_first) / n) end-exclusive windows
            # and so always drops the last event; a time window of ceil(span / n) with the end
            # pinned gives exactly n bins that hold every event.
            n = cfg.n_time_bins
            t0 = int(events["t"][0])
            window = -(-(int(events["t"][-1]) - t0 + 1) // n)
            to_frame = T.ToFrame(
                sensor_size=size,
                time_window=window,
                start_time=t0,
                end_time=t0 + n * window,
                include_incomplete=True,
            )
        else:
            to_frame = T.ToFrame(sensor_size=size, time_window=cfg.time_window_us)
        steps_t.append(to_frame)
        frames = T.Compose(steps_t)(events)
        if cfg.n_time_bins is not None and frames.shape[0] != cfg.n_time_bins:
            raise RuntimeError(f"Tonic gave {frames.shape[0]} frames for {cfg.n_time_bins} bins")
        frames = frames.reshape(frames.shape[0], *frame_shape(self.sensor_size, cfg))
        if cfg.binarize:
            frames = np.minimum(frames, 1)
        return frames.astype(np.float32)


def _check_in_window(events: np.ndarray, start: float, duration: float) -> None:
    """Raise if an event falls outside the fixed window ``[start, start + duration)``."""
    if len(events) == 0:
        return
    stop = start + duration
    t = events["t"]
    outside = (t < start) | (t >= stop)
    if outside.any():
        first = int(t[np.argmax(outside)])
        raise ValueError(
            f"{int(outside.sum())} event(s) outside the fixed frame window [{start:g}, {stop:g}) "
            f"us (first at t = {first} us); cut each sample's events to the window, or set "
            "t_start_us / duration_us to cover them"
        )


@dataclass(frozen=True)
class _FixedWindowFrames:
    """Event counts over ``n_bins`` bins of ``width_us`` from ``start_us`` (Tonic's layout).

    Tonic's ``ToFrame`` places float window starts with ``searchsorted`` and counts its slices
    as ``ceil((end - start - w) / w) + 1``, which float rounding can make one too many; here an
    event's bin is ``floor((t - start) / width)``, exact for integer widths.
    """

    sensor_size: tuple[int, int, int]
    start_us: float
    n_bins: int
    width_us: float

    def __call__(self, events: np.ndarray) -> np.ndarray:
        bins = np.floor((events["t"] - self.start_us) / self.width_us).astype(np.int64)
        bins = np.minimum(bins, self.n_bins - 1)  # a last partial bin, or rounding at the end
        w, h, n_pol = self.sensor_size
        p = events["p"].astype(np.int64)
        if n_pol == 1:  # as Tonic: one polarity channel, and the events must agree
            if np.unique(p).size > 1:
                raise ValueError("single polarity sensor, but events contain both polarities")
            p = np.zeros_like(p)
        x = events["x"].astype(np.int64)
        if "y" in (events.dtype.names or ()):
            frames = np.zeros((self.n_bins, n_pol, h, w), dtype=np.int32)
            np.add.at(frames, (bins, p, events["y"].astype(np.int64), x), 1)
        else:
            frames = np.zeros((self.n_bins, n_pol, w), dtype=np.int32)
            np.add.at(frames, (bins, p, x), 1)
        return frames


def frames_to_coo(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Dense frames -> {"indices" (ndim, nnz) int64, "values" (nnz,) float32, "shape"}.

    Indices come out in C order (lexicographic), i.e. already coalesced.
    """
    nz = np.nonzero(frames)
    return {
        "indices": np.stack(nz).astype(np.int64).reshape(frames.ndim, -1),
        "values": frames[nz].astype(np.float32),
        "shape": np.asarray(frames.shape, dtype=np.int64),
    }


def coo_to_tensor(coo: dict[str, np.ndarray]) -> torch.Tensor:
    """The sparse COO tensor of :func:`frames_to_coo`'s arrays (no copy of the arrays)."""
    return torch.sparse_coo_tensor(
        torch.from_numpy(np.ascontiguousarray(coo["indices"], dtype=np.int64)),
        torch.from_numpy(np.ascontiguousarray(coo["values"], dtype=np.float32)),
        tuple(int(s) for s in coo["shape"]),
        is_coalesced=True,
        check_invariants=False,  # built by frames_to_coo: valid by construction
    )


class _Transformed(Dataset):
    """Apply a transform to every sample of an event dataset (before caching)."""

    def __init__(self, dataset: EventDataset, transform: EventsToFrames) -> None:
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        events, label = self.dataset[index]
        frames = self.transform(events)
        if self.transform.config.sparse:
            return frames_to_coo(frames), int(label)
        return frames, int(label)


#: Bytes counted per cached sample on top of its arrays (tuple, two array headers, dict slot).
CACHE_ENTRY_OVERHEAD = 320


def _narrowest_values(values: np.ndarray) -> np.ndarray:
    """Frame values in the smallest dtype that holds them exactly (event counts: uint8)."""
    if values.size == 0:
        return values.astype(np.uint8)
    if np.all(values == np.round(values)) and values.min() >= 0:
        top = values.max()
        for dtype in (np.uint8, np.uint16):
            if top <= np.iinfo(dtype).max:
                return values.astype(dtype)
    return values.astype(np.float32)


class _CompactMemoryCache(Dataset):
    """Memory cache of binned samples, each kept as its non-zero entries only.

    A sample is stored as flat indices into its frames (int32 when they fit) and its values in
    the narrowest exact dtype (uint8 for event counts): about 5 bytes per non-zero entry instead
    of 4 bytes per frame element, so memory grows with the number of events, not with
    T x P x H x W. Once the stored bytes (arrays + ``CACHE_ENTRY_OVERHEAD`` per sample) would
    pass ``limit_bytes``, further samples are not stored (they are re-binned on every access)
    and a warning names the fix. Samples come back in the form the inner dataset gives (dense
    frames or the COO dict of :func:`frames_to_coo`).
    """

    def __init__(self, inner: Dataset, limit_bytes: float | None) -> None:
        self.inner = inner
        self.limit_bytes = limit_bytes
        self.nbytes = 0
        self._store: dict[int, tuple[np.ndarray, np.ndarray, tuple[int, ...], bool, int]] = {}
        self._warned = False

    def __len__(self) -> int:
        return len(self.inner)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Any, int]:
        hit = self._store.get(index)
        if hit is None:
            sample, label = self.inner[index]
            self._put(index, sample, int(label))
            return sample, label
        flat, values, shape, sparse, label = hit
        if sparse:
            idx = np.stack(np.unravel_index(flat, shape)).astype(np.int64).reshape(len(shape), -1)
            coo = {"indices": idx, "values": values.astype(np.float32)}
            return {**coo, "shape": np.asarray(shape, dtype=np.int64)}, label
        dense = np.zeros(math.prod(shape), dtype=np.float32)
        dense[flat] = values
        return dense.reshape(shape), label

    def _put(self, index: int, sample: Any, label: int) -> None:
        if isinstance(sample, dict):
            shape = tuple(int(v) for v in sample["shape"])
            flat = np.ravel_multi_index(tuple(sample["indices"]), shape)
            values, sparse = np.asarray(sample["values"]), True
        else:
            arr = np.asarray(sample)
            shape, sparse = arr.shape, False
            flat = np.flatnonzero(arr)
            values = arr.reshape(-1)[flat]
        flat = flat.astype(np.int32 if math.prod(shape) < 2**31 else np.int64)
        values = _narrowest_values(values)
        size = flat.nbytes + values.nbytes + CACHE_ENTRY_OVERHEAD
        if self.limit_bytes is not None and self.nbytes + size > self.limit_bytes:
            if not self._warned:
                log.warning(
                    "frame cache reached cache_limit_mb=%.0f after %d samples; later samples "
                    "are re-binned on every access: raise FrameConfig.cache_limit_mb or use "
                    "cache='disk'",
                    self.limit_bytes / 2**20,
                    len(self._store),
                )
                self._warned = True
            return
        self._store[index] = (flat, values, shape, sparse, label)
        self.nbytes += size


class FrameDataset(Dataset):
    """An event dataset seen as float32 frame tensors ``(T, *frame_shape)`` with a cache.

    The disk cache lives in ``cache_dir/cache_key/<binning hash>``: ``cache_key`` must identify
    the dataset, split and loader options, since Tonic's disk cache is keyed by index only.
    """

    def __init__(
        self, dataset: EventDataset, config: FrameConfig = FrameConfig(), cache_key: str = ""
    ) -> None:
        self.events = dataset
        self.config = config
        self.sensor_size = tuple(dataset.sensor_size)
        self.frame_shape = frame_shape(self.sensor_size, config)  # type: ignore[arg-type]
        self.classes = list(dataset.classes)
        self.targets = [int(t) for t in dataset.targets]
        inner: Any = _Transformed(dataset, EventsToFrames(self.sensor_size, config))  # type: ignore[arg-type]
        if config.cache == "memory":
            limit = None if config.cache_limit_mb is None else config.cache_limit_mb * 2**20
            inner = _CompactMemoryCache(inner, limit)
        elif config.cache == "disk":
            if not cache_key:
                raise ValueError(
                    "cache='disk' needs a cache_key naming the dataset, split and options "
                    "(frames of different datasets must not share a cache folder)"
                )
            path = Path(str(config.cache_dir)) / cache_key / config.key()
            inner = tonic.DiskCachedDataset(inner, cache_path=str(path))
        self._inner = inner

    def __len__(self) -> int:
        return len(self.events)

    @property
    def cache_nbytes(self) -> int:
        """Bytes held by the memory cache (``cache="memory"``; 0 for the other caches)."""
        return int(getattr(self._inner, "nbytes", 0))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        frames, label = self._inner[index]
        if self.config.sparse:
            return coo_to_tensor(frames), int(label)
        return torch.as_tensor(np.asarray(frames, dtype=np.float32)), int(label)


def _stable_argsort_small(keys: torch.Tensor, n: int) -> torch.Tensor:
    """Stable argsort of integer keys in [0, n): numpy's O(len) radix sort for small keys (torch's
    stable sort of a few 100,000 int64 keys costs tens of milliseconds per batch)."""
    if keys.device.type == "cpu" and n <= np.iinfo(np.int16).max:
        order = np.argsort(keys.numpy().astype(np.int16), kind="stable")
        return torch.from_numpy(order.astype(np.int64))
    return torch.argsort(keys, stable=True)


def _collate_sparse(batch: list[tuple[torch.Tensor, int]]) -> torch.Tensor:
    """Sparse (T_b, ...) samples -> one coalesced sparse (T, B, ...) tensor (T = longest)."""
    frame = tuple(batch[0][0].shape[1:])
    if any(tuple(x.shape[1:]) != frame for x, _ in batch):
        raise ValueError(f"samples have different frame shapes; expected {frame} for all")
    steps = max(x.shape[0] for x, _ in batch)
    idx, vals = [], []
    for b, (x, _) in enumerate(batch):
        x = x.coalesce()
        i = x.indices()  # (1 + d, nnz): t, frame index; sorted lexicographically
        idx.append(torch.cat([i[:1], torch.full_like(i[:1], b), i[1:]]))
        vals.append(x.values())
    all_idx, all_vals = torch.cat(idx, 1), torch.cat(vals)
    # samples are concatenated in b order, each sorted by (t, frame): a stable sort on t alone
    # gives the lexicographic (t, b, frame) order of a coalesced (T, B, ...) tensor
    order = _stable_argsort_small(all_idx[0], steps)
    return torch.sparse_coo_tensor(
        all_idx[:, order],
        all_vals[order],
        (steps, len(batch), *frame),
        is_coalesced=True,
        check_invariants=False,  # sorted and unique by construction (see above)
    )


def collate_time_major(batch: list[tuple[torch.Tensor, int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad samples to the longest in time and stack them time-major: ``(T, B, ...)``, ``(B,)``.

    Sparse samples give one sparse COO batch (padding is implicit: no events).
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    labels = torch.tensor([int(y) for _, y in batch], dtype=torch.long)
    n_sparse = sum(x.is_sparse for x, _ in batch)
    if n_sparse:
        if n_sparse != len(batch):
            raise TypeError("cannot collate a mix of sparse and dense samples; use one FrameConfig")
        return _collate_sparse(batch), labels
    steps = max(x.shape[0] for x, _ in batch)
    out = torch.zeros((steps, len(batch), *batch[0][0].shape[1:]), dtype=batch[0][0].dtype)
    for b, (x, _) in enumerate(batch):
        out[: x.shape[0], b] = x  # (T_b, ...) into (T, B, ...)
    return out, labels


def make_loader(
    dataset: Dataset,
    batch_size: int = 64,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader of time-major batches; shuffling is seeded by ``seed`` (no global RNG)."""
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=gen,
        num_workers=num_workers,
        collate_fn=collate_time_major,
        drop_last=drop_last,
    )
