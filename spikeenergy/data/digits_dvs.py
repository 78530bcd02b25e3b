"""``digits-dvs``: the embedded default dataset, works offline on a fresh install.

scikit-learn's 1,797 handwritten 8x8 digits, upscaled to 26x26 and "recorded" the way N-MNIST
was: the image moves through three saccades in front of an emulated DVS pixel array (34x34, like
N-MNIST) that emits ON/OFF events on log-intensity change. Deterministic for a given seed: sample
``i`` always uses the generator seeded with ``(seed, i)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from spikeenergy.data.dvs_emulator import DVSConfig, emulate_dvs, saccade_video

SENSOR_SIZE = (34, 34, 2)
DIGIT_PIXELS = 26


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

    sensor_size: tuple[int, int, int] = SENSOR_SIZE
    classes: list[str] = field(default_factory=lambda: [str(d) for d in range(10)])

    def __post_init__(self) -> None:
        if self.split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test'; got {self.split!r}")
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
