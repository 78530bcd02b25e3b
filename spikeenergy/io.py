"""Files written atomically, and the versions of the packages behind a result.

Every file spikeenergy writes (checkpoints, metrics, reports, run records, NIR graphs, plots'
tables) goes through :func:`atomic_write` or :func:`atomic_path`: the content is written to a
hidden temporary sibling ``.<name>.<pid>.<hex8>.tmp`` in the same folder, flushed and fsynced,
then renamed over the target with :func:`os.replace` (atomic on POSIX and Windows within one
file system). A reader therefore sees the old file or the new one, never half of one; on any
error the temporary file is removed and the target is left as it was. The pid in the name
(:data:`TMP_NAME`) lets a results store remove the temporaries of a killed writer whose
process is gone without touching those of a live one.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from importlib import metadata
from pathlib import Path
from typing import IO, Any

#: the name of a temporary file written by this module: ``.<name>.<pid>.<hex8>.tmp``
#: (group 1 is the writer's pid)
TMP_NAME = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")

#: the libraries whose versions determine spikeenergy's numbers (written into every result)
VERSION_PACKAGES = ("torch", "snntorch", "norse", "nir", "nirtorch", "numpy", "h5py", "tonic")

Writer = Callable[[IO[bytes]], Any]


def temp_sibling(path: str | os.PathLike[str]) -> Path:
    """A hidden temporary sibling of ``path`` unique to this process and call."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` through (for writers that take a file name,
    e.g. ``h5py.File(tmp, "w")``, ``nir.write(tmp, graph)``, ``frame.to_csv(tmp)``).

    When the ``with`` block ends normally the temporary file is fsynced (``fsync=True``) and
    renamed over ``path``; when it raises, the temporary file is removed, ``path`` is left
    untouched and the exception propagates. The parent folder is created if missing.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(target)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(
                f"the writer of {target} wrote nothing to the temporary file {tmp.name}; write "
                "to the path yielded by atomic_path"
            )
        if fsync:
            _fsync_path(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write(
    path: str | os.PathLike[str], data: bytes | bytearray | memoryview | str | Writer
) -> Path:
    """Write ``path`` atomically and return it as a :class:`~pathlib.Path`.

    ``data`` is the content (``bytes``-like, or ``str`` encoded as UTF-8) or a callback
    ``writer(binary_file)`` that writes it (e.g. ``lambda f: torch.save(obj, f)``).
    """
    target = Path(path)
    with atomic_path(target, fsync=False) as tmp, open(tmp, "wb") as f:
        if isinstance(data, str):
            f.write(data.encode("utf-8"))
        elif isinstance(data, bytes | bytearray | memoryview):
            f.write(data)
        elif callable(data):
            data(f)
        else:
            raise TypeError(
                f"atomic_write takes bytes, str or a writer callable, not {type(data).__name__}"
            )
        f.flush()
        os.fsync(f.fileno())
    return target


def package_versions(packages: Iterable[str] = VERSION_PACKAGES) -> dict[str, str]:
    """Versions of spikeenergy, Python and ``packages`` (``"not installed"`` when absent).

    Read from the installed distributions' metadata, so nothing is imported (importing norse or
    tonic takes seconds).
    """
    import spikeenergy

    out = {"spikeenergy": spikeenergy.__version__, "python": platform.python_version()}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


__all__ = [
    "TMP_NAME",
    "VERSION_PACKAGES",
    "atomic_path",
    "atomic_write",
    "package_versions",
    "temp_sibling",
]
