"""Checkpoints: model architecture + weights + config + metrics in one file, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from spikeenergy.models import SpikeEnergyModel, model_from_meta

FORMAT = "spikeenergy.checkpoint/1"


def atomic_write_bytes(path: Path, writer: Any) -> None:
    """Write a file through ``writer(fileobj)`` to a temp file, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            writer(f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: str | os.PathLike[str],
    model: SpikeEnergyModel,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Path:
    """Save ``model`` (rebuildable from its spec) with the run's config and metrics."""
    payload = {
        "format": FORMAT,
        "meta": model.checkpoint_meta(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": config or {},
        "metrics": metrics or {},
    }
    target = Path(path)
    atomic_write_bytes(target, lambda f: torch.save(payload, f))
    return target


def load_checkpoint(
    path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
) -> tuple[SpikeEnergyModel, dict[str, Any]]:
    """Rebuild the model saved at ``path``; returns (model, payload with config and metrics)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as exc:  # pickle/zip errors: name the file
        raise ValueError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"{path} is not a spikeenergy checkpoint (format {FORMAT})")
    model = model_from_meta(payload["meta"], payload["state_dict"])
    model.eval()
    return model, payload
