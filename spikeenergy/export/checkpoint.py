"""Measure a saved checkpoint on its own test data and export the report (what the CLI calls)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from spikeenergy.data.frames import make_loader
from spikeenergy.data.prepare import DataConfig, frame_split
from spikeenergy.data.registry import check_dataset_options
from spikeenergy.energy.cost_models import DEFAULT_POLICY, CostModel
from spikeenergy.export.nir_export import check_nir_exportable, export_nir
from spikeenergy.export.tables import (
    file_sha256,
    format_for,
    model_identity,
    write_report,
)
from spikeenergy.io import package_versions
from spikeenergy.metrics.meter import EnergyReport, measure
from spikeenergy.train.checkpoint import load_checkpoint
from spikeenergy.train.config import default_device


def checkpoint_test_data(
    payload: dict[str, Any],
    data_root: str | None = None,
    dataset_options: Mapping[str, Any] | None = None,
) -> tuple[Any, dict[str, Any]]:
    """The test frames a checkpoint was evaluated on, rebuilt from its stored data config.

    Uses ``spikeenergy.data.frame_split`` (the same code as training) for the test split;
    ``data_root`` overrides the stored root, ``dataset_options`` override (or add to) the
    stored dataset options (checked; the report's dataset config shows the result).
    """
    cfg = dict(payload.get("config", {}).get("data") or {})
    if not cfg:
        raise ValueError(
            "the checkpoint stores no data config (saved without config=); measure it with "
            "spikeenergy.metrics.measure(model, loader) instead"
        )
    seed = int(payload.get("config", {}).get("train", {}).get("seed", 0))
    if data_root is not None:
        cfg["root"] = data_root
    if dataset_options:
        cfg["options"] = {**(cfg.get("options") or {}), **dataset_options}
        check_dataset_options(str(cfg.get("name")), cfg["options"])
    test = frame_split(DataConfig.from_dict(cfg), "test", seed)
    info = {"name": cfg["name"], "split": "test", "n_samples": len(test), "config": cfg}
    return test, info


def measure_checkpoint(
    path: str | os.PathLike[str],
    targets: Sequence[CostModel],
    *,
    data_root: str | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    batch_size: int = 64,
    device: str | None = None,
    policy: str = DEFAULT_POLICY,
    max_batches: int | None = None,
    progress: bool = False,
) -> tuple[Any, EnergyReport]:
    """Load a checkpoint, measure it on its test data; returns (model, report with identity).

    ``device=None`` measures on :func:`spikeenergy.train.config.default_device` (CUDA when
    available, else CPU), like training."""
    model, payload = load_checkpoint(path)
    test, data_info = checkpoint_test_data(payload, data_root, dataset_options)
    loader = make_loader(test, batch_size=batch_size, shuffle=False)
    report = measure(
        model,
        loader,
        targets,
        device=device if device is not None else default_device(),
        policy=policy,
        max_batches=max_batches,
        progress=progress,
    )
    model_id = model_identity(model)
    model_id.update({"checkpoint": str(Path(path)), "sha256": file_sha256(path)})
    test_metrics = (payload.get("metrics") or {}).get("test") or {}
    identity = {
        "model": model_id,
        "dataset": data_info,
        "test_accuracy": test_metrics.get("accuracy"),
    }
    return model, report.with_info(identity, package_versions())


def export_checkpoint(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    targets: Sequence[CostModel],
    fmt: str | None = None,
    **measure_kwargs: Any,
) -> EnergyReport:
    """Measure checkpoint ``path`` and write ``out`` as json / csv / hdf5 / nir.

    NIR: a model NIR cannot express is refused before the measurement, and the graph is
    checked on one test batch (re-imported with snnTorch and Norse, spikes compared) before
    it is written.
    """
    f = format_for(out, fmt)  # fail on a bad format before the (slow) measurement
    if f == "nir":
        check_nir_exportable(load_checkpoint(path)[0])
    model, report = measure_checkpoint(path, targets, **measure_kwargs)
    if f == "nir":
        export_nir(model, out, report, check_input=_first_test_batch(path, measure_kwargs))
    else:
        write_report(report, out, f)
    return report


def _first_test_batch(path: str | os.PathLike[str], measure_kwargs: dict[str, Any]) -> Any:
    """The first batch (time-major frames, on CPU) of the checkpoint's test data."""
    _, payload = load_checkpoint(path)
    test, _ = checkpoint_test_data(
        payload, measure_kwargs.get("data_root"), measure_kwargs.get("dataset_options")
    )
    loader = make_loader(test, batch_size=int(measure_kwargs.get("batch_size", 64)))
    return next(iter(loader))[0]
