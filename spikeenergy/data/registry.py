"""Named datasets: ``load_dataset("nmnist", split="test", root=...)`` -> an EventDataset."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from spikeenergy.data import emg, mnist10k, tonic_sets
from spikeenergy.data.base import DatasetCard, EventDataset
from spikeenergy.data.digits_dvs import SENSOR_SIZE, DigitsDVS
from spikeenergy.data.root import resolve_data_root
from spikeenergy.registry import Registry


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset's card and the factory ``(root, split, download, **options) -> dataset``."""

    card: DatasetCard
    factory: Callable[..., Any]


DATASETS: Registry[DatasetEntry] = Registry("dataset")

DIGITS_CARD = DatasetCard(
    name="digits-dvs",
    sensor_size=SENSOR_SIZE,
    n_classes=10,
    layout="(embedded: generated from scikit-learn's digits, no files needed)",
    obtain="ships with the package",
    card="datasets/digits-dvs/README.md",
)


def _digits(root: Path, split: str, download: bool, **options: Any) -> DigitsDVS:
    return DigitsDVS(split=split, **options)


def _roshambo(root: Path, split: str, download: bool, **options: Any) -> emg.RoshamboEMG:
    if download:
        raise ValueError("emg-roshambo cannot be downloaded by spikeenergy; see its dataset card")
    return emg.RoshamboEMG(root=root, split=split, **options)


def _mnist10k(root: Path, split: str, download: bool, **options: Any) -> mnist10k.MNIST10k:
    if download:
        raise ValueError("mnist10k cannot be downloaded by spikeenergy; see its dataset card")
    return mnist10k.MNIST10k(root=root, split=split, **options)


DATASETS.add("digits-dvs", DatasetEntry(DIGITS_CARD, _digits))
DATASETS.add("emg-roshambo", DatasetEntry(emg.CARD, _roshambo))
DATASETS.add("nmnist", DatasetEntry(tonic_sets.CARDS["nmnist"], tonic_sets.load_nmnist))
DATASETS.add("dvsgesture", DatasetEntry(tonic_sets.CARDS["dvsgesture"], tonic_sets.load_dvsgesture))
DATASETS.add("shd", DatasetEntry(tonic_sets.CARDS["shd"], tonic_sets.load_shd))
DATASETS.add("pokerdvs", DatasetEntry(tonic_sets.CARDS["pokerdvs"], tonic_sets.load_pokerdvs))
DATASETS.add("mnist10k", DatasetEntry(mnist10k.CARD, _mnist10k))


def load_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    **options: Any,
) -> EventDataset:
    """Open dataset ``name`` (see ``DATASETS.names()``) from files under the data root.

    Missing files raise ``DatasetNotFoundError`` naming the expected layout; nothing is
    downloaded unless ``download=True``.
    """
    entry = DATASETS.get(name)
    return entry.factory(resolve_data_root(root), split, download, **options)


def dataset_card(name: str) -> DatasetCard:
    """The card (sensor size, classes, layout, source) of dataset ``name``."""
    return DATASETS.get(name).card
