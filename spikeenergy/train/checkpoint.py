"""Checkpoints: model architecture + weights + config + metrics in one file, written atomically.

Loading never runs code from the file: ``torch.load(..., weights_only=True)`` accepts only
tensors and plain data (dicts, lists, strings, numbers), and everything spikeenergy saves is of
that kind (config and metrics pass through JSON types on save). A file that needs anything
else, e.g. a crafted pickle that would call a function, is refused with
:class:`UnsafeCheckpointError` before any of it runs.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import torch
from torch.torch_version import TorchVersion

from spikeenergy.io import atomic_write
from spikeenergy.models import SpikeEnergyModel, model_from_meta

FORMAT = "spikeenergy.checkpoint/1"

#: classes older checkpoints hold besides plain data: ``TorchVersion`` is a ``str`` subclass
#: (``torch.__version__``) with no code of its own, so allowing it runs nothing from the file
SAFE_GLOBALS: tuple[type, ...] = (TorchVersion,)


class UnsafeCheckpointError(ValueError):
    """A checkpoint holds objects that only an unrestricted unpickler could build (and that
    could therefore run code); it was refused without running any of it."""


def plain(obj: Any) -> Any:
    """``obj`` as JSON types (dict, list, str, int, float, bool, None; NaN kept), so that it
    loads with ``weights_only=True``: e.g. ``torch.__version__`` (a TorchVersion) becomes a
    str, tuples become lists, other objects their ``str``."""
    return json.loads(json.dumps(obj, default=str))


def save_checkpoint(
    path: str | os.PathLike[str],
    model: SpikeEnergyModel,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
) -> Path:
    """Save ``model`` (rebuildable from its spec) with the run's config and metrics.

    ``state`` (optional) is stored as is under ``"state"``: tensors and plain containers only
    (e.g. the training state that lets ``train --out`` resume); anything else would make the
    file unloadable, so it is checked here.
    """
    payload = {
        "format": FORMAT,
        "meta": plain(model.checkpoint_meta()),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": plain(config or {}),
        "metrics": plain(metrics or {}),
    }
    if state is not None:
        _check_tensors_and_plain(state, "state")
        payload["state"] = state
    target = Path(path)
    atomic_write(target, lambda f: torch.save(payload, f))
    return target


def _check_tensors_and_plain(obj: Any, where: str) -> None:
    """Raise TypeError when ``obj`` holds anything but tensors and plain data."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}; use str or int")
            _check_tensors_and_plain(v, f"{where}[{k!r}]")
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_tensors_and_plain(v, f"{where}[{i}]")
    elif not (obj is None or type(obj) in (str, int, float, bool) or isinstance(obj, torch.Tensor)):
        raise TypeError(
            f"{where} is a {type(obj).__name__}; checkpoints hold only tensors and plain data"
        )


def read_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """The payload saved at ``path``, read without running code (see the module docstring).

    Raises FileNotFoundError, :class:`UnsafeCheckpointError` (a file that needs more than
    tensors and plain data) or ValueError (not a readable spikeenergy checkpoint).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            payload = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _first_reason(str(exc))
        if "global" not in reason.lower():  # not an object refused: a damaged or foreign file
            raise ValueError(
                f"cannot read checkpoint {path}: {reason} (not a torch checkpoint, or damaged; "
                "it was read without running any of it)"
            ) from None
        raise UnsafeCheckpointError(
            f"refused to load {path}: it holds objects other than tensors and plain data "
            f"({reason}); building them could run code from the file, and spikeenergy "
            "checkpoints never need it. Nothing from the file was executed. Use a checkpoint "
            "written by `spikeenergy train`, from a source you trust"
        ) from None
    except Exception as exc:  # zip/pickle format errors: name the file
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a spikeenergy checkpoint (format {FORMAT})")
    for key in ("meta", "config", "metrics"):
        if key in payload:
            payload[key] = plain(payload[key])  # e.g. an old TorchVersion becomes a str
    return payload


def _first_reason(message: str) -> str:
    """What torch's weights-only refusal rejected, e.g. "Unsupported global: GLOBAL io.open"."""
    tail = message.split("WeightsUnpickler error:", 1)[-1]
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    if not lines:
        return "unsupported content"
    return lines[0].split(" was not an allowed global")[0].split(". Please")[0]


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> tuple[SpikeEnergyModel, dict[str, Any]]:
    """Rebuild the model saved at ``path``; returns (model, payload with config and metrics).

    The file is read with :func:`read_checkpoint`: nothing in it is executed.
    """
    path = Path(path)
    payload = read_checkpoint(path, map_location)
    for key in ("meta", "state_dict"):
        if not isinstance(payload.get(key), dict):
            raise ValueError(f"{path}: checkpoint has no {key!r} table")
    try:
        model = model_from_meta(payload["meta"], payload["state_dict"])
    except (KeyError, TypeError, RuntimeError) as exc:
        raise ValueError(f"{path}: cannot rebuild the model: {exc}") from exc
    model.eval()
    return model, payload
