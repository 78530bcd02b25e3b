"""Real event datasets through Tonic's own classes and readers, reading files already on disk.

Tonic's stock classes check for the downloaded archives and a minimum file count before they
skip their download; we keep their readers and folder layout (Tonic keys the folder on the class
name) but replace that check with "the data folder holds files", and refuse to download unless
the caller asks for it. So a subset such as the N-MNIST recordings in ``../shared/data`` loads
through the same code path as a full download.

Options are the keyword arguments of the Tonic class (:func:`tonic_options`), checked by
:func:`check_tonic_options`; N-MNIST adds ``max_events``, a cap on the events of one file (an
empty file, or one larger than the cap, is refused naming the file).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import tonic

from spikeenergy.data.base import DatasetCard, DatasetNotFoundError

N_MNIST_EVENT_BYTES = 5  # x (8 bit), y (8 bit), polarity (1 bit) + timestamp (23 bit)
#: default cap on the events of one N-MNIST file (real samples hold about 4,000 - 10,000)
N_MNIST_MAX_EVENTS = 1_000_000

CARDS = {
    "nmnist": DatasetCard(
        name="nmnist",
        sensor_size=(34, 34, 2),
        n_classes=10,
        layout="<root>/NMNIST/{Train,Test}/<digit>/<id>.bin (original 40-bit N-MNIST events)",
        obtain="N-MNIST (Orchard et al. 2015, CC BY 4.0): unzip Train.zip/Test.zip from the "
        "dataset's Mendeley page into <root>/NMNIST/, or pass download=True",
        card="datasets/nmnist/README.md",
    ),
    "dvsgesture": DatasetCard(
        name="dvsgesture",
        sensor_size=(128, 128, 2),
        n_classes=11,
        layout="<root>/DVSGesture/{ibmGestureTrain,ibmGestureTest}/user<NN>_<lighting>/<label>.npy "
        "(N x 4 arrays: x, y, p, t in ms, as Tonic's preprocessed release)",
        obtain="IBM DVS128 Gesture (Amir et al. 2017), Tonic's preprocessed npy release, "
        "or pass download=True",
        card="datasets/dvsgesture/README.md",
    ),
    "shd": DatasetCard(
        name="shd",
        sensor_size=(700, 1, 1),
        n_classes=20,
        layout="<root>/SHD/shd_{train,test}.h5 (spikes/times [s], spikes/units, labels, "
        "extra/keys, extra/speaker)",
        obtain="Spiking Heidelberg Digits (Cramer et al. 2020): unzip shd_train.h5.zip and "
        "shd_test.h5.zip into <root>/SHD/, or pass download=True",
        card="datasets/shd/README.md",
    ),
    "pokerdvs": DatasetCard(
        name="pokerdvs",
        sensor_size=(35, 35, 2),
        n_classes=4,
        layout="<root>/POKERDVS/{pips_train,pips_test}/{cl,he,di,sp}/*.npy (N x 4: t, x, y, p)",
        obtain="POKER-DVS (Serrano-Gotarredona & Linares-Barranco 2015), Tonic's npy release",
        card="datasets/pokerdvs/README.md",
    ),
}


def _has_files(folder: str, suffix: str) -> bool:
    if not os.path.isdir(folder):
        return False
    return any(name.endswith(suffix) for _, _, files in os.walk(folder) for name in files)


def _refuse_download(self: Any) -> None:
    raise DatasetNotFoundError.for_card(
        self._card, Path(self.location_on_system).parent, "files missing"
    )


def _local_class(
    base: type, card_name: str, check: Any, allow_download: bool, **extra: Any
) -> type:
    """A subclass of a Tonic dataset with the same name (Tonic keys its folder on it)."""
    attrs: dict[str, Any] = {"_card": CARDS[card_name], "_check_exists": check, **extra}
    if not allow_download:
        attrs["download"] = _refuse_download
    return type(base.__name__, (base,), attrs)


def _check_folder(suffix: str) -> Any:
    def check(self: Any) -> bool:
        return _has_files(os.path.join(self.location_on_system, self.folder_name), suffix)

    return check


def _check_h5(self: Any) -> bool:
    return os.path.isfile(os.path.join(self.location_on_system, self.data_filename))


def _read_nmnist_checked(self: Any, index: int) -> tuple[np.ndarray, int]:
    path = self.data[index]
    size = os.path.getsize(path)
    if size == 0:
        raise ValueError(
            f"empty N-MNIST file {path}: 0 bytes, no events (truncated download?); "
            "replace or delete it"
        )
    if size % N_MNIST_EVENT_BYTES:
        raise ValueError(
            f"corrupt N-MNIST file {path}: {size} bytes is not a multiple of the "
            f"{N_MNIST_EVENT_BYTES}-byte event record (truncated download?)"
        )
    n = size // N_MNIST_EVENT_BYTES
    if n > self._max_events:
        raise ValueError(
            f"N-MNIST file {path} holds {n} events, above the cap max_events="
            f"{self._max_events} (real samples hold about 4,000 - 10,000); a damaged file? "
            "Raise the option max_events if it is genuine"
        )
    return tonic.datasets.NMNIST.__getitem__(self, index)


#: arguments of the Tonic classes that the loader sets itself
_SET_BY_LOADER = {"self", "save_to", "train"}


def tonic_options(cls: type) -> dict[str, Any]:
    """Options of a Tonic dataset class: its keyword arguments (name -> annotation)."""
    params = inspect.signature(cls.__init__).parameters  # type: ignore[misc]
    return {
        name: p.annotation
        for name, p in params.items()
        if name not in _SET_BY_LOADER and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
    }


def check_tonic_options(
    name: str, cls: type, extra: Mapping[str, tuple[Callable[[Any], bool], str]] | None = None
) -> Callable[[Mapping[str, Any]], None]:
    """A checker of the options of dataset ``name`` (Tonic class ``cls``): bool options must
    be true/false, transforms callables; ``extra`` adds options of our own
    (name -> (test, rule))."""
    annotations = tonic_options(cls)
    extra = dict(extra or {})

    def check(options: Mapping[str, Any]) -> None:
        known = sorted({*annotations, *extra})
        for key, value in options.items():
            if key in extra:
                test, rule = extra[key]
                if not test(value):
                    raise ValueError(f"{name}: option {key}={value!r} must be {rule}")
                continue
            if key not in annotations:
                raise ValueError(f"{name} has no option {key!r}; its options: {known}")
            ann = str(annotations[key])
            if ann in ("bool", "<class 'bool'>") and not isinstance(value, bool):
                raise ValueError(f"{name}: option {key}={value!r} must be true or false")
            if "Callable" in ann and value is not None and not callable(value):
                raise ValueError(f"{name}: option {key}={value!r} must be a callable (or absent)")

    return check


def _positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 1


NMNIST_EXTRA: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_events": (_positive_int, "an integer >= 1")
}


def _split_flag(split: str) -> bool:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    return split == "train"


def _open(cls: type, card: str, root: Path, split: str, **kwargs: Any) -> Any:
    if not root.is_dir():
        raise DatasetNotFoundError.for_card(CARDS[card], root, "data root does not exist")
    return cls(str(root), train=_split_flag(split), **kwargs)


def load_nmnist(root: Path, split: str = "train", download: bool = False, **kwargs: Any) -> Any:
    """N-MNIST through ``tonic.datasets.NMNIST`` and ``tonic.io.read_mnist_file``."""
    max_events = kwargs.pop("max_events", N_MNIST_MAX_EVENTS)
    if not _positive_int(max_events):
        raise ValueError(f"nmnist: max_events={max_events!r} must be an integer >= 1")
    cls = _local_class(
        tonic.datasets.NMNIST,
        "nmnist",
        _check_folder(".bin"),
        download,
        __getitem__=_read_nmnist_checked,
        _max_events=max_events,
    )
    return _open(cls, "nmnist", root, split, **kwargs)


def load_dvsgesture(root: Path, split: str = "train", download: bool = False, **kwargs: Any) -> Any:
    """DVS128 Gesture through ``tonic.datasets.DVSGesture`` (preprocessed npy layout)."""
    cls = _local_class(tonic.datasets.DVSGesture, "dvsgesture", _check_folder(".npy"), download)
    return _open(cls, "dvsgesture", root, split, **kwargs)


def load_pokerdvs(root: Path, split: str = "train", download: bool = False, **kwargs: Any) -> Any:
    """POKER-DVS through ``tonic.datasets.POKERDVS``."""
    # Tonic's POKERDVS "downloads" by copying archives from its package folder: refuse that too
    extra = {} if download else {"_copy_and_extract_local_data": _refuse_download}
    cls = _local_class(
        tonic.datasets.POKERDVS, "pokerdvs", _check_folder(".npy"), download, **extra
    )
    return _open(cls, "pokerdvs", root, split, **kwargs)


def load_shd(root: Path, split: str = "train", download: bool = False, **kwargs: Any) -> Any:
    """Spiking Heidelberg Digits through ``tonic.datasets.SHD`` (HDF5 files)."""
    cls = _local_class(tonic.datasets.SHD, "shd", _check_h5, download)
    ds = _open(cls, "shd", root, split, **kwargs)
    ds.sensor_size = CARDS["shd"].sensor_size
    ds.classes = [k.decode() if isinstance(k, bytes) else str(k) for k in ds.classes]
    import h5py

    with h5py.File(os.path.join(ds.location_on_system, ds.data_filename), "r") as f:
        ds.targets = [int(v) for v in f["labels"][()]]
    return ds
