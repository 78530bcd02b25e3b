"""Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 70,000 real 28x28 images as event datasets.

Two registered forms read the original IDX files (``<root>/fashion-mnist/{train,t10k}-
{images-idx3,labels-idx1}-ubyte[.gz]``, gzipped or not):

- ``fashion-mnist-dvs``: each image, scaled to 26x26 as ``digits-dvs`` does, moves through
  N-MNIST's three saccades in front of the emulated DVS (34x34x2, 300 ms, see dvs_emulator.py).
  The emulation runs on batches of images (``chunk_size``) with the per-pixel state of all
  images in one array, about 50x faster than one image at a time, and gives the same events as
  :func:`~spikeenergy.data.dvs_emulator.emulate_dvs` on :func:`saccade_video` (tested). Events
  are converted once per chunk and kept packed (4 bytes per event) in memory or, with
  ``cache_dir``, on disk (one ``.npy`` pair per chunk, written atomically, so a killed
  conversion resumes where it stopped). :meth:`FashionMNISTDVS.prepare` converts every chunk up
  front with a progress bar; otherwise a chunk is converted the first time one of its samples is
  read.
- ``fashion-smnist``: Tonic's ``SMNIST`` (spiking sequential MNIST: the 784 pixels are read one
  per ``dt`` and 99 threshold neurons fire on grey-level crossings). Tonic's class keeps its
  encoder (``__getitem__``); its reader only opens uncompressed files below ``<save_to>/smnist``
  and downloads MNIST otherwise, so the images come from :func:`read_idx` instead.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import os
import struct
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import tonic
from scipy import ndimage

from spikeenergy.data.base import DatasetCard, DatasetNotFoundError
from spikeenergy.data.dvs_emulator import DVSConfig, _background_noise, saccade_offsets
from spikeenergy.data.events import EVENTS_XYTP
from spikeenergy.io import atomic_write
from spikeenergy.progress import tqdm

log = logging.getLogger(__name__)

FOLDER = "fashion-mnist"
CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
SENSOR_SIZE = (34, 34, 2)
IMAGE_PIXELS = 26  # scaled like digits-dvs: the image stays on the 34x34 sensor over the saccades
SACCADE_US = 100_000
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_LAYOUT = (
    "<root>/fashion-mnist/{train,t10k}-images-idx3-ubyte[.gz] and "
    "{train,t10k}-labels-idx1-ubyte[.gz] (original IDX files)"
)
_OBTAIN = (
    "Fashion-MNIST (Xiao et al. 2017, MIT licence): the four IDX files from "
    "github.com/zalandoresearch/fashion-mnist (or the Debian package dataset-fashion-mnist) "
    "into <root>/fashion-mnist/"
)
CARDS = {
    "fashion-mnist-dvs": DatasetCard(
        name="fashion-mnist-dvs",
        sensor_size=SENSOR_SIZE,
        n_classes=10,
        layout=_LAYOUT,
        obtain=_OBTAIN,
        card="datasets/fashion-mnist-dvs/README.md",
    ),
    "fashion-smnist": DatasetCard(
        name="fashion-smnist",
        sensor_size=(99, 1, 1),
        n_classes=10,
        layout=_LAYOUT,
        obtain=_OBTAIN,
        card="datasets/fashion-smnist/README.md",
    ),
}

# --------------------------------------------------------------------------- IDX files

#: IDX type code -> numpy dtype (big-endian), from the format's definition (LeCun et al.)
_IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzipped or not, detected by its magic bytes) into a numpy array.

    The header is two zero bytes, a type code, the number of dimensions, then one big-endian
    uint32 per dimension; the payload must hold exactly the product of the dimensions.
    """
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(2)
    opener: Any = gzip.open if head == b"\x1f\x8b" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise ValueError(f"corrupt IDX file {path}: {exc} (truncated download?)") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(
            f"{path} is not an IDX file: header {raw[:4].hex()} (expected 0000 <type> <ndim>)"
        )
    dtype, ndim = _IDX_TYPES[raw[2]], raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"corrupt IDX file {path}: header cut short")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    expected = math.prod(dims) * dtype.itemsize
    payload = len(raw) - 4 - 4 * ndim
    if payload != expected:
        raise ValueError(
            f"corrupt IDX file {path}: header says shape {dims} ({expected} bytes of data), "
            f"file holds {payload} bytes (truncated download?)"
        )
    return np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)


def _find(folder: Path, stem: str, card: DatasetCard, root: Path) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DatasetNotFoundError.for_card(card, root, f"missing {folder / stem}[.gz]")


def load_fashion_arrays(
    root: str | os.PathLike[str], split: str, card: DatasetCard = CARDS["fashion-mnist-dvs"]
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` of one split (``<root>/fashion-mnist``)."""
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    root = Path(root)
    folder = root / FOLDER
    img_path, lab_path = (_find(folder, s, card, root) for s in _FILES[split])
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.ndim != 3 or images.shape[1:] != (28, 28) or images.dtype != np.uint8:
        raise ValueError(
            f"{img_path}: expected uint8 images of shape (N, 28, 28), got {images.dtype} "
            f"{images.shape}"
        )
    if labels.shape != (images.shape[0],) or labels.dtype != np.uint8:
        raise ValueError(
            f"{lab_path}: expected {images.shape[0]} uint8 labels (one per image in "
            f"{img_path.name}), got {labels.dtype} {labels.shape}"
        )
    if labels.size and int(labels.max()) >= len(CLASSES):
        raise ValueError(f"{lab_path}: label {int(labels.max())} outside the 10 classes")
    return images, labels


# --------------------------------------------------------------------------- batched emulator


def _axis_plan(d: float, size: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    """ndimage's order-1 sampling of ``in(i - d)`` along one axis of length ``size``.

    Returns (first valid output index, integer lag K with source index i - K, weights w0, w1 of
    the valid outputs), computed as ``scipy.ndimage`` does (``NI_ZoomShift``): cc = i + (-d);
    an output whose cc lies outside [0, size - 1] is the constant 0; f = cc - floor(cc),
    w0 = 1 - f, w1 = 1 - w0 (not f: the last bit matters for exact equality).
    """
    cc = np.arange(size, dtype=np.float64) + (-d)
    valid = np.flatnonzero((cc >= 0) & (cc <= size - 1))
    if valid.size == 0:
        return size, 0, np.zeros(0), np.zeros(0)
    lo = int(valid[0])
    base = np.floor(cc[lo:])
    lags = np.arange(lo, size) - base.astype(np.int64)
    if np.any(lags != lags[0]):  # cannot happen for |d| well inside float range
        raise ValueError(f"shift {d} is too close to float resolution")
    w0 = 1.0 - (cc[lo:] - base)
    return lo, int(lags[0]), w0, 1.0 - w0


def shift_batch(images: np.ndarray, dy: float, dx: float, sensor_hw: tuple[int, int]) -> np.ndarray:
    """``scipy.ndimage.shift(canvas, (dy, dx), order=1, mode="constant")`` of every image of
    ``images`` (h, w, N) (batch last) placed at the top-left of a blank ``sensor_hw`` canvas.

    Returns (H, W, N). The same float64 operations in the same order as ndimage (bit-identical,
    tested): ``(((c00*wy0)*wx0 + (c01*wy0)*wx1) + (c10*wy1)*wx0) + (c11*wy1)*wx1`` per pixel.
    The batch is the last axis so every slice is a long contiguous run. Shifts must be >= 0
    (the saccades only move right and down).
    """
    h, w, n = images.shape
    height, width = sensor_hw
    if h > height or w > width:
        raise ValueError(f"images {(h, w)} do not fit the sensor {sensor_hw}")
    return _shift_padded(_pad_canvas(images, sensor_hw), dy, dx)


def _pad_canvas(images: np.ndarray, sensor_hw: tuple[int, int]) -> np.ndarray:
    """(h, w, N) images on a blank (H + 1, W + 1, N) canvas: the extra zero row and column are
    the (weight 0) neighbour past the last pixel."""
    h, w, n = images.shape
    canvas = np.zeros((sensor_hw[0] + 1, sensor_hw[1] + 1, n))
    canvas[:h, :w] = images
    return canvas


def _shift_padded(canvas: np.ndarray, dy: float, dx: float) -> np.ndarray:
    if dy < 0 or dx < 0:
        raise ValueError(f"shift_batch needs non-negative shifts, got ({dy}, {dx})")
    height, width = canvas.shape[0] - 1, canvas.shape[1] - 1
    ly, ky, wy0, wy1 = _axis_plan(dy, height)
    lx, kx, wx0, wx1 = _axis_plan(dx, width)
    out = np.empty((height, width, canvas.shape[2]))
    out[:ly] = 0.0  # source coordinate before the first row / column: the constant 0
    out[:, :lx] = 0.0
    if ly >= height or lx >= width:
        return out
    rows0 = canvas[ly - ky : height - ky] * wy0[:, None, None]  # (valid rows, W + 1, N)
    rows1 = canvas[ly - ky + 1 : height - ky + 1] * wy1[:, None, None]
    c0, c1 = slice(lx - kx, width - kx), slice(lx - kx + 1, width - kx + 1)
    x0, x1 = wx0[:, None], wx1[:, None]
    t = out[ly:, lx:]
    np.multiply(rows0[:, c0], x0, out=t)
    t += rows0[:, c1] * x1
    t += rows1[:, c0] * x0
    t += rows1[:, c1] * x1
    return out


def saccade_events_batch(
    images: np.ndarray,
    rng_keys: list[list[int]],
    config: DVSConfig | None = None,
    dt_us: int = 1000,
    sensor_hw: tuple[int, int] = (34, 34),
    batch: int = 128,
) -> list[np.ndarray]:
    """Emulated-DVS saccade recordings of many images at once (one structured array each).

    ``images`` (N, h, w) hold intensities in [0, 1]; sample n's background noise is drawn from
    ``numpy.random.default_rng(rng_keys[n])``. The result equals, per image, ``emulate_dvs(
    *saccade_video(image, sensor_hw, dt_us), config, rng)`` (tested): the same per-pixel update
    in float64, run for ``batch`` images per array operation.
    """
    config = config if config is not None else DVSConfig()
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"images must have shape (N, h, w); got {images.shape}")
    n_img, h, w = images.shape
    if len(rng_keys) != n_img:
        raise ValueError(f"{len(rng_keys)} rng keys for {n_img} images")
    if h > sensor_hw[0] or w > sensor_hw[1]:
        raise ValueError(f"images {images.shape[1:]} do not fit the sensor {sensor_hw}")
    if np.any(images < 0) or not np.all(np.isfinite(images)):
        raise ValueError("images must hold finite intensities >= 0")
    out: list[np.ndarray] = []
    for lo in range(0, n_img, batch):
        hi = min(lo + batch, n_img)
        out += _saccade_events(images[lo:hi], rng_keys[lo:hi], config, dt_us, sensor_hw)
    return out


def _saccade_events(
    images: np.ndarray,
    rng_keys: list[list[int]],
    config: DVSConfig,
    dt_us: int,
    sensor_hw: tuple[int, int],
) -> list[np.ndarray]:
    n_img = len(images)
    canvas = _pad_canvas(images.transpose(1, 2, 0), sensor_hw)  # (H + 1, W + 1, N): batch last
    times = np.arange(0, 3 * SACCADE_US + 1, dt_us, dtype=np.int64)
    offsets = saccade_offsets(times, SACCADE_US)
    th, eps = config.threshold, config.log_eps
    # log intensity (video values are convex combinations of values >= 0: the clip is a no-op)
    ref = np.log(_shift_padded(canvas, offsets[0][1], offsets[0][0]) + eps)
    flat_ref = ref.reshape(-1)
    always_ready = config.refractory_us <= dt_us  # at most one event per frame anyway
    last_fire = np.full(ref.size, -np.iinfo(np.int64).max // 2, dtype=np.int64)
    mag = np.empty(ref.shape)
    fire = np.empty(ref.shape, dtype=bool)
    parts: list[tuple[np.ndarray, ...]] = []
    for k in range(1, len(times)):
        t = int(times[k])
        dx, dy = offsets[k]
        diff = _shift_padded(canvas, dy, dx)
        diff += eps
        np.log(diff, out=diff)
        diff -= ref  # log_video[k] - ref
        np.abs(diff, out=mag)
        np.greater_equal(mag, th, out=fire)
        idx = np.flatnonzero(fire)
        if not always_ready and idx.size:
            idx = idx[(t - last_fire[idx]) >= config.refractory_us]
        if idx.size:
            up = diff.reshape(-1)[idx] > 0
            flat_ref[idx] += np.where(up, th, -th)
            if not always_ready:
                last_fire[idx] = t
            parts.append((idx, np.full(idx.size, t, dtype=np.int64), up))
    if parts:
        idx, sig_t, up = (np.concatenate(p) for p in zip(*parts, strict=True))
    else:
        idx, sig_t, up = np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, bool)
    pix, sig_n = np.divmod(idx, n_img)  # flat index = (y * W + x) * N + n
    sig_y, sig_x = np.divmod(pix, sensor_hw[1])
    # per sample, signal events in frame order, then (y, x), as emulate_dvs collects them
    order = np.argsort(sig_n, kind="stable")
    bounds = np.searchsorted(sig_n[order], np.arange(n_img + 1))
    out = []
    t0, t1 = int(times[0]), int(times[-1])
    for i in range(n_img):
        sel = order[bounds[i] : bounds[i + 1]]
        noise = _background_noise(sensor_hw, t0, t1, config, np.random.default_rng(rng_keys[i]))
        ts = np.concatenate([sig_t[sel], noise[2]])
        srt = np.argsort(ts, kind="stable")  # as make_events: signal first, then noise, by time
        ev = np.empty(len(ts), dtype=EVENTS_XYTP)
        ev["x"] = np.concatenate([sig_x[sel], noise[0]])[srt]
        ev["y"] = np.concatenate([sig_y[sel], noise[1]])[srt]
        ev["t"] = ts[srt]
        ev["p"] = np.concatenate([up[sel].astype(np.int64), noise[3]])[srt]
        out.append(ev)
    return out


def scale_images(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float64 (N, 26, 26) in [0, 1] (bilinear, as digits-dvs scales)."""
    f = IMAGE_PIXELS / images.shape[-1]
    scaled = ndimage.zoom(images / 255.0, (1, f, f), order=1)
    return np.clip(scaled, 0.0, 1.0)


# --------------------------------------------------------------------------- packed events

_T_BITS = 19  # 300 ms < 2**19 us; x, y < 64 (6 bits each), p (1 bit): one uint32 per event


def pack_events(ev: np.ndarray) -> np.ndarray:
    """x/y/t/p events of the 34x34 saccade sensor -> uint32 codes (t:19 | p:1 | y:6 | x:6)."""
    if len(ev) and (ev["t"].max() >= 1 << _T_BITS or ev["x"].max() >= 64 or ev["y"].max() >= 64):
        raise ValueError("events do not fit the packed format (t < 2**19 us, x, y < 64)")
    t, p, y, x = (ev[k].astype(np.uint32) for k in ("t", "p", "y", "x"))
    return (t << 13) | (p << 12) | (y << 6) | x


def unpack_events(codes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`pack_events`: a structured x/y/t/p int64 array."""
    c = codes.astype(np.int64)
    ev = np.empty(len(c), dtype=EVENTS_XYTP)
    ev["x"], ev["y"], ev["p"], ev["t"] = c & 63, (c >> 6) & 63, (c >> 12) & 1, c >> 13
    return ev


def _convert_chunk(
    images: np.ndarray, start: int, seed: int, config: DVSConfig, dt_us: int
) -> tuple[np.ndarray, np.ndarray]:
    """uint8 images of one chunk -> (packed events, offsets (n + 1,) int64)."""
    keys = [[seed, start + i] for i in range(len(images))]
    events = saccade_events_batch(scale_images(images), keys, config, dt_us, SENSOR_SIZE[:2])
    offsets = np.zeros(len(events) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([len(e) for e in events])
    codes = np.concatenate([pack_events(e) for e in events]) if events else np.zeros(0, np.uint32)
    return codes, offsets


def _save_npy_atomic(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda f: np.save(f, array))


def _read_npy_slice(path: Path, start: int, stop: int) -> np.ndarray:
    """Elements [start, stop) of a 1-D .npy file, read without mapping the whole file."""
    with open(path, "rb") as f:
        fmt = np.lib.format
        major, _ = fmt.read_magic(f)
        read_header = fmt.read_array_header_1_0 if major == 1 else fmt.read_array_header_2_0
        shape, _, dtype = read_header(f)
        if stop > shape[0]:
            raise ValueError(f"{path}: asked for elements up to {stop}, file holds {shape[0]}")
        f.seek(f.tell() + start * dtype.itemsize)
        return np.fromfile(f, dtype=dtype, count=stop - start)


class FashionMNISTDVS:
    """Tonic-style dataset: Fashion-MNIST images recorded by the emulated DVS (saccades).

    ``ds[i] -> (events, label)`` with x/y/t/p events on a 34x34x2 sensor over 300 ms. Sample
    ``i``'s noise uses the generator seeded with ``(seed, i)`` (index in the whole split), so the
    events do not depend on ``limit``, ``chunk_size`` or the order samples are read in.
    ``cache_dir`` keeps converted chunks on disk (keyed by the image file contents and every
    emulation option); without it they are kept in memory (4 bytes per event, about 20 kB per
    sample).
    """

    sensor_size = SENSOR_SIZE
    classes = CLASSES

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        seed: int = 0,
        dvs: DVSConfig | None = None,
        dt_us: int = 1000,
        cache_dir: str | os.PathLike[str] | None = None,
        chunk_size: int = 1000,
        limit: int | None = None,
        transform: Any = None,
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
        if not 1 <= dt_us <= SACCADE_US:
            raise ValueError(f"dt_us={dt_us} must be in [1, {SACCADE_US}] microseconds")
        images, labels = load_fashion_arrays(root, split, CARDS["fashion-mnist-dvs"])
        self.split = split
        self.seed = int(seed)
        self.dvs = dvs if dvs is not None else DVSConfig()
        self.dt_us = int(dt_us)
        self.chunk_size = int(chunk_size)
        self.transform = transform
        self._images = images
        n = len(images) if limit is None else min(int(limit), len(images))
        self.targets = [int(v) for v in labels[:n]]
        self._memory: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._offsets: dict[int, np.ndarray] = {}
        self.cache_path: Path | None = None
        if cache_dir is not None:
            key = {
                "images_sha1": hashlib.sha1(images.tobytes()).hexdigest(),
                "seed": self.seed,
                "dvs": asdict(self.dvs),
                "dt_us": self.dt_us,
                "pixels": IMAGE_PIXELS,
                "chunk_size": self.chunk_size,
                "format": 1,
            }
            digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
            self.cache_path = Path(cache_dir) / f"fashion-mnist-dvs-{split}-{digest}"

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def n_chunks(self) -> int:
        """Number of chunks that cover the samples in use."""
        return -(-len(self) // self.chunk_size)

    def _paths(self, chunk: int) -> tuple[Path, Path]:
        assert self.cache_path is not None
        stem = self.cache_path / f"chunk{chunk:05d}"
        return stem.with_suffix(".events.npy"), stem.with_suffix(".offsets.npy")

    def _has(self, chunk: int) -> bool:
        if self.cache_path is None:
            return chunk in self._memory
        return self._paths(chunk)[1].is_file()  # offsets are written last: the chunk is done

    def _chunk_args(self, chunk: int) -> tuple[np.ndarray, int, int, DVSConfig, int]:
        lo = chunk * self.chunk_size
        hi = min(lo + self.chunk_size, len(self._images))
        return self._images[lo:hi], lo, self.seed, self.dvs, self.dt_us

    def _convert(self, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        return _convert_chunk(*self._chunk_args(chunk))

    def _store(self, chunk: int, codes: np.ndarray, offsets: np.ndarray) -> None:
        if self.cache_path is None:
            self._memory[chunk] = (codes, offsets)
            return
        ev_path, off_path = self._paths(chunk)
        _save_npy_atomic(ev_path, codes)
        _save_npy_atomic(off_path, offsets)

    def prepare(self, progress: bool = True, workers: int = 1) -> None:
        """Convert every chunk not converted yet (resumes an interrupted conversion).

        ``workers > 1`` converts chunks in that many processes.
        """
        todo = [c for c in range(self.n_chunks) if not self._has(c)]
        if not todo:
            return
        bar = tqdm(total=len(todo), desc=f"fashion-mnist-dvs {self.split}", unit="chunk",
                   disable=not progress)  # fmt: skip
        if workers <= 1:
            for c in todo:
                self._store(c, *self._convert(c))
                bar.update()
        else:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(max_workers=workers) as pool:
                # each task gets its chunk's images only (not the whole split)
                futures = {pool.submit(_convert_chunk, *self._chunk_args(c)): c for c in todo}
                from concurrent.futures import as_completed

                for fut in as_completed(futures):
                    self._store(futures[fut], *fut.result())
                    bar.update()
        bar.close()

    def events(self, index: int) -> np.ndarray:
        """The event recording of sample ``index`` (before any transform)."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        chunk, j = divmod(index, self.chunk_size)
        if not self._has(chunk):
            log.info("converting fashion-mnist-dvs %s chunk %d", self.split, chunk)
            self._store(chunk, *self._convert(chunk))
        if self.cache_path is None:
            codes, offsets = self._memory[chunk]
            return unpack_events(codes[offsets[j] : offsets[j + 1]])
        ev_path, off_path = self._paths(chunk)
        if chunk not in self._offsets:
            self._offsets[chunk] = np.load(off_path)
        bounds = self._offsets[chunk]
        return unpack_events(_read_npy_slice(ev_path, int(bounds[j]), int(bounds[j + 1])))

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        events = self.events(index)
        if self.transform is not None:
            events = self.transform(events)
        return events, self.targets[index]


# --------------------------------------------------------------------------- Tonic SMNIST


class SMNIST(tonic.datasets.SMNIST):
    """Tonic's ``SMNIST`` encoder over Fashion-MNIST images read by :func:`read_idx`.

    Same name as Tonic's class, same encoding (Tonic's ``__getitem__``); the constructor reads
    the IDX files (gzipped or not) from ``<root>/fashion-mnist`` and never downloads. With
    ``duplicate=True`` Tonic interleaves the two copies of each spike (times 2t, 2t+1 per spike),
    so its timestamps are not monotonic; events are stably sorted by time before ``transform``
    (the same events, in the time order every other dataset delivers).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        split: str = "train",
        duplicate: bool = True,
        num_neurons: int = 99,
        dt: float = 1000.0,
        limit: int | None = None,
        transform: Any = None,
        target_transform: Any = None,
    ) -> None:
        if num_neurons % 2 == 0 or num_neurons < 3:
            raise ValueError(f"num_neurons={num_neurons} must be odd and >= 3 (Tonic's encoder)")
        tonic.dataset.Dataset.__init__(self, str(root))  # transforms run after the sort
        self.user_transform = transform
        self.user_target_transform = target_transform
        self.location_on_system = os.path.join(str(root), FOLDER)
        self.train = split == "train"
        self.duplicate = duplicate
        self.sensor_size = (num_neurons, 1, 1)
        self.dt = dt
        images, labels = load_fashion_arrays(root, split, CARDS["fashion-smnist"])
        n = len(images) if limit is None else min(int(limit), len(images))
        self.image_data = images[:n].reshape(n, 28 * 28)
        self.label_data = labels[:n]
        self.classes = list(CLASSES)
        self.targets = [int(v) for v in self.label_data]

    def download(self) -> None:
        """Refused: Fashion-MNIST files are obtained by the user (see the dataset card)."""
        raise DatasetNotFoundError.for_card(
            CARDS["fashion-smnist"], Path(self.location_on_system).parent, "files missing"
        )

    def __getitem__(self, index: int) -> tuple[np.ndarray, Any]:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        events, target = super().__getitem__(index)
        events = events[np.argsort(events["t"], kind="stable")]
        if self.user_transform is not None:
            events = self.user_transform(events)
        target = int(target)
        if self.user_target_transform is not None:
            target = self.user_target_transform(target)
        return events, target


def load_fashion_dvs(
    root: Path, split: str = "train", download: bool = False, **options: Any
) -> FashionMNISTDVS:
    """Registry factory of ``fashion-mnist-dvs``."""
    if download:
        raise ValueError("fashion-mnist-dvs cannot be downloaded by spikeenergy; see its card")
    return FashionMNISTDVS(root, split, **options)


def load_fashion_smnist(
    root: Path, split: str = "train", download: bool = False, **options: Any
) -> SMNIST:
    """Registry factory of ``fashion-smnist``."""
    if download:
        raise ValueError("fashion-smnist cannot be downloaded by spikeenergy; see its card")
    return SMNIST(root, split, **options)
