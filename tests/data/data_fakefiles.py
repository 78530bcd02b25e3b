"""Writers of tiny fake dataset files in the real on-disk formats (for loader tests)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def write_nmnist_bin(path: Path, x, y, t_us, p) -> None:
    """N-MNIST 40-bit records: x (8 bit), y (8 bit), polarity (bit 7) + 23-bit timestamp."""
    x, y, t, p = (np.asarray(a, dtype=np.uint32) for a in (x, y, t_us, p))
    raw = np.zeros((len(x), 5), dtype=np.uint8)
    raw[:, 0] = x
    raw[:, 1] = y
    raw[:, 2] = (p << 7) | ((t >> 16) & 0x7F)
    raw[:, 3] = (t >> 8) & 0xFF
    raw[:, 4] = t & 0xFF
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw.tobytes())


def write_shd_h5(path: Path, times_s: list, units: list, labels: list, n_keys: int = 20) -> None:
    """SHD layout: ragged spikes/times (s) and spikes/units, labels, extra/keys, extra/speaker."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        ft = f.create_dataset("spikes/times", (len(times_s),), dtype=h5py.vlen_dtype(np.float32))
        fu = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u) in enumerate(zip(times_s, units, strict=True)):
            ft[i] = np.asarray(t, np.float32)
            fu[i] = np.asarray(u, np.uint16)
        f["labels"] = np.asarray(labels, np.uint16)
        f["extra/keys"] = np.array([f"word-{k}".encode() for k in range(n_keys)])
        f["extra/speaker"] = np.zeros(len(labels), np.uint16)


def write_gesture_npy(path: Path, x, y, p, t_ms) -> None:
    """DVS Gesture (Tonic's preprocessed release): N x 4 array of x, y, p, t in ms."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.stack([x, y, p, t_ms], axis=1).astype(np.int64))


def write_roshambo_session(folder: Path, subject: int, session: int, emg, labels) -> None:
    """A Roshambo session: int64 (samples, 8) EMG and a bytes label per sample."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"subject{subject:02d}_session{session:02d}"
    np.save(folder / f"{stem}_emg.npy", np.asarray(emg, np.int64))
    np.save(folder / f"{stem}_ann.npy", np.array([s.encode() for s in labels], dtype="S7"))
