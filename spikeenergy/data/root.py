"""Where datasets live on disk: an explicit argument, then ``SPIKEENERGY_DATA``, then a per-user
default. Nothing is ever downloaded implicitly."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "SPIKEENERGY_DATA"


def default_data_root() -> Path:
    """The per-user default data folder (``$XDG_DATA_HOME/spikeenergy`` or ``~/.local/share``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "spikeenergy"


def resolve_data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """Resolve the data root: ``root`` if given, else ``$SPIKEENERGY_DATA``, else the default.

    An empty or non-path ``root`` is refused (``Path("")`` would silently mean the current
    folder).
    """
    if root is not None:
        if not isinstance(root, (str, os.PathLike)) or not str(root).strip():
            raise ValueError(f"data root {root!r} must be a non-empty path")
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return default_data_root()
