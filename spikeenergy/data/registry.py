"""Named datasets: ``load_dataset("nmnist", split="test", root=...)`` -> an EventDataset.

Every dataset declares its options (the keyword arguments a suite file or caller may pass) and
a checker of their values; :func:`check_dataset_options` runs both, so an unknown or bad option
fails with a message naming it when a suite is loaded, before any data is read.

Your own dataset: build a :class:`DatasetEntry` (a :class:`DatasetCard` and a factory) and
:func:`register_dataset` it in a module, then make every process import that module (an entry
point of group ``spikeenergy.datasets``, ``--module``, or a suite's ``modules``; see
:mod:`spikeenergy.plugins` and docs/tutorials/own_dataset.py). An unknown name first loads the
entry points of installed packages, so ``load_dataset`` finds their datasets without an import.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tonic

from spikeenergy.data import digits_dvs, emg, fashion_mnist, mnist10k, tonic_sets
from spikeenergy.data.base import DatasetCard, EventDataset
from spikeenergy.data.digits_dvs import SENSOR_SIZE, DigitsDVS
from spikeenergy.data.root import resolve_data_root
from spikeenergy.plugins import load_entry_points
from spikeenergy.registry import Registry

#: accepted by every dataset: allow downloading missing files (see :func:`load_dataset`)
COMMON_OPTIONS = ("download",)


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset's card, the factory ``(root, split, download, **options) -> dataset``, the
    names of its options and a checker of their values (raises ValueError naming the option).

    ``options=None`` takes the option names from the factory's signature (its keyword
    parameters after ``root, split, download``); a factory with ``**kwargs`` then accepts any
    option. The factory is called with ``root`` (a Path: the data root), ``split`` ("train" or
    "test") and ``download`` (bool) positionally, and returns an
    :class:`~spikeenergy.data.base.EventDataset`.
    """

    card: DatasetCard
    factory: Callable[..., Any]
    options: tuple[str, ...] | None = None
    check: Callable[[Mapping[str, Any]], None] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.card, DatasetCard):
            raise TypeError(
                f"DatasetEntry.card must be a DatasetCard; got {type(self.card).__name__}"
            )
        if not callable(self.factory):
            raise TypeError("DatasetEntry.factory must be callable (root, split, download, **o)")
        if self.options is not None and (
            isinstance(self.options, str) or not all(isinstance(o, str) for o in self.options)
        ):
            raise TypeError(
                f"DatasetEntry.options must be a tuple of option names or None; "
                f"got {self.options!r}"
            )
        if self.check is not None and not callable(self.check):
            raise TypeError("DatasetEntry.check must be callable (options) -> None, or None")


def _dataclass_options(cls: Any, exclude: set[str]) -> tuple[str, ...]:
    """The init fields of dataclass ``cls`` except ``exclude`` (set by the loader)."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.init and f.name not in exclude)


def _factory_options(factory: Callable[..., Any]) -> tuple[str, ...] | None:
    """The keyword parameters of ``factory`` after ``root, split, download`` (its options);
    None when it takes ``**kwargs`` or has no readable signature (anything passes)."""
    try:
        params = list(inspect.signature(factory).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    positional = [
        p
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    set_by_loader = {p.name for p in positional[:3]}  # root, split, download
    return tuple(
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and p.name not in set_by_loader
    )


def dataset_entry(name: str) -> DatasetEntry:
    """The entry of dataset ``name``. An unknown name first loads the entry points of
    installed packages (group ``spikeenergy.datasets``), then raises listing the known ones."""
    if name not in DATASETS:
        load_entry_points()
    return DATASETS.get(name)


def register_dataset(entry: DatasetEntry, *, replace: bool = False) -> DatasetEntry:
    """Register ``entry`` under its card's name (case-insensitive); returns it.

    A name that is taken raises, unless ``replace=True`` (for notebooks: re-running the cell
    that registers). Call it in a module that every process imports (see
    :mod:`spikeenergy.plugins`).
    """
    if not isinstance(entry, DatasetEntry):
        raise TypeError(f"register_dataset takes a DatasetEntry; got {type(entry).__name__}")
    if replace:
        DATASETS.replace(entry.card.name, entry)
        return entry
    return DATASETS.add(entry.card.name, entry)


def check_dataset_options(name: str, options: Mapping[str, Any]) -> None:
    """Raise ValueError when ``options`` of dataset ``name`` has an unknown key (listing the
    known ones, with a close match) or a bad value (naming the option and the fix)."""
    entry = dataset_entry(name)
    if not isinstance(options, Mapping):
        raise ValueError(f"dataset {name!r}: options must be a table, got {options!r}")
    download = options.get("download", False)
    if not isinstance(download, bool):
        raise ValueError(f"dataset {name!r}: option download={download!r} must be true or false")
    declared = entry.options if entry.options is not None else _factory_options(entry.factory)
    if declared is not None:
        known = sorted({*declared, *COMMON_OPTIONS})
        for key in options:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise ValueError(
                    f"dataset {name!r} has no option {key!r}{hint}; its options: {known}"
                )
    if entry.check is not None:
        own = {k: v for k, v in options.items() if k not in COMMON_OPTIONS}
        try:
            entry.check(own)
        except ValueError as exc:
            msg = str(exc)
            raise ValueError(msg if msg.startswith(name) else f"dataset {name!r}: {msg}") from None


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
    return DigitsDVS(split=split, root=root, **options)  # recordings cached below the root


def _roshambo(root: Path, split: str, download: bool, **options: Any) -> emg.RoshamboEMG:
    if download:
        raise ValueError("emg-roshambo cannot be downloaded by spikeenergy; see its dataset card")
    return emg.RoshamboEMG(root=root, split=split, **options)


_EMG_OPTIONS = _dataclass_options(emg.RoshamboEMG, {"root", "split", "sensor_size", "classes"})


def _tonic(name: str, loader: Callable[..., Any], cls: type, **extra: Any) -> DatasetEntry:
    options = (*tonic_sets.tonic_options(cls), *extra)
    return DatasetEntry(
        tonic_sets.CARDS[name], loader, options, tonic_sets.check_tonic_options(name, cls, extra)
    )


DATASETS.add(
    "digits-dvs",
    DatasetEntry(DIGITS_CARD, _digits, digits_dvs.OPTIONS, digits_dvs.check_options),
)
# EMG option values are checked by RoshamboEMG itself when the dataset is opened
DATASETS.add("emg-roshambo", DatasetEntry(emg.CARD, _roshambo, _EMG_OPTIONS))
DATASETS.add(
    "nmnist",
    _tonic("nmnist", tonic_sets.load_nmnist, tonic.datasets.NMNIST, **tonic_sets.NMNIST_EXTRA),
)
DATASETS.add(
    "dvsgesture", _tonic("dvsgesture", tonic_sets.load_dvsgesture, tonic.datasets.DVSGesture)
)
DATASETS.add("shd", _tonic("shd", tonic_sets.load_shd, tonic.datasets.SHD))
DATASETS.add("pokerdvs", _tonic("pokerdvs", tonic_sets.load_pokerdvs, tonic.datasets.POKERDVS))


def _signature_options(fn: Callable[..., Any], exclude: set[str]) -> tuple[str, ...]:
    """The keyword parameters of ``fn`` (a loader class) except ``exclude``."""
    params = inspect.signature(fn).parameters.values()
    return tuple(p.name for p in params if p.name not in exclude and p.kind != p.VAR_KEYWORD)


DATASETS.add(
    "fashion-mnist-dvs",
    DatasetEntry(
        fashion_mnist.CARDS["fashion-mnist-dvs"],
        fashion_mnist.load_fashion_dvs,
        _signature_options(fashion_mnist.FashionMNISTDVS, {"self", "root", "split"}),
    ),
)
DATASETS.add(
    "fashion-smnist",
    DatasetEntry(
        fashion_mnist.CARDS["fashion-smnist"],
        fashion_mnist.load_fashion_smnist,
        _signature_options(fashion_mnist.SMNIST, {"self", "root", "split"}),
    ),
)


def _mnist10k(root: Path, split: str, download: bool, **options: Any) -> mnist10k.MNIST10k:
    if download:
        raise ValueError("mnist10k cannot be downloaded by spikeenergy; see its dataset card")
    return mnist10k.MNIST10k(root=root, split=split, **options)


DATASETS.add(
    "mnist10k",
    DatasetEntry(
        mnist10k.CARD,
        _mnist10k,
        _dataclass_options(mnist10k.MNIST10k, {"root", "split", "sensor_size", "classes"}),
    ),
)


def load_dataset(
    name: str,
    split: str = "train",
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    **options: Any,
) -> EventDataset:
    """Open dataset ``name`` (see ``DATASETS.names()``) from files under the data root.

    Missing files raise ``DatasetNotFoundError`` naming the expected layout; nothing is
    downloaded unless ``download=True``. Options are checked first
    (:func:`check_dataset_options`).
    """
    entry = dataset_entry(name)
    check_dataset_options(name, {"download": download, **options})
    return entry.factory(resolve_data_root(root), split, download, **options)


def dataset_card(name: str) -> DatasetCard:
    """The card (sensor size, classes, layout, source) of dataset ``name``."""
    return dataset_entry(name).card
