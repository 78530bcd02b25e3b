"""The event-dataset protocol every registered dataset satisfies, and dataset cards."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class EventDataset(Protocol):
    """Tonic-style dataset: ``ds[i] -> (events, label)``, with sensor size and class names."""

    sensor_size: tuple[int, int, int]
    classes: Sequence[Any]
    targets: Sequence[int]

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]: ...

    def __len__(self) -> int: ...


@dataclass(frozen=True)
class DatasetCard:
    """What a dataset is and how to get it: shown in errors when files are missing."""

    name: str
    sensor_size: tuple[int, int, int]
    n_classes: int
    layout: str  # expected on-disk layout below the data root
    obtain: str  # how to obtain the files
    #: the dataset card: for built-in datasets ``datasets/<name>/README.md`` relative to the
    #: package (shipped in it, see :func:`spikeenergy.resources.card_path`); for your own, a
    #: path or URL
    card: str

    def card_location(self) -> str:
        """Where to read the card: the installed file's path if it exists, else ``card``."""
        from spikeenergy.resources import card_path

        path = card_path(self.card)
        return str(path) if path is not None else self.card


class DatasetNotFoundError(FileNotFoundError):
    """Raised when a dataset's files are not on disk; the message names layout and source."""

    @classmethod
    def for_card(cls, card: DatasetCard, root: object, detail: str = "") -> DatasetNotFoundError:
        """Build the error for ``card`` looked up under ``root``."""
        extra = f" ({detail})" if detail else ""
        return cls(
            f"dataset {card.name!r} not found under data root {str(root)!r}{extra}.\n"
            f"Expected layout: {card.layout}\nHow to obtain: {card.obtain}\n"
            f"Set the root with --data-root, root=..., or the SPIKEENERGY_DATA variable; "
            f"see the dataset card {card.card_location()}. Nothing is downloaded unless you "
            "pass download=True / --download."
        )
