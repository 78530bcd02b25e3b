"""JSON / CSV / HDF5 files of an :class:`~spikeenergy.metrics.EnergyReport`, and reading them back.

Every file carries the per-layer table (one row per layer plus ``total``), the column units,
the cost models used (with their sources), the model and dataset identity and the package
versions. ``read_report(write_report(r, path))`` equals ``r``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spikeenergy.extras import require_extra
from spikeenergy.io import atomic_path, atomic_write

if TYPE_CHECKING:
    from spikeenergy.metrics.meter import EnergyReport

FORMATS = ("json", "csv", "hdf5", "nir")
_SUFFIXES = {".json": "json", ".csv": "csv", ".h5": "hdf5", ".hdf5": "hdf5", ".nir": "nir"}


def model_identity(model: Any) -> dict[str, Any]:
    """JSON-friendly identity of a model: class, architecture (spec) and parameter count."""
    ident: dict[str, Any] = {"class": type(model).__name__}
    meta = getattr(model, "checkpoint_meta", None)
    if callable(meta):
        ident.update(json.loads(json.dumps(meta())))
    ident["parameters"] = int(sum(p.numel() for p in model.parameters()))
    return ident


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file (identifies the exact checkpoint a report was measured from)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def format_for(path: str | os.PathLike[str], fmt: str | None = None) -> str:
    """The export format: ``fmt`` if given, else from the file suffix."""
    if fmt is not None:
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r} is not supported; use one of {', '.join(FORMATS)}")
        return fmt
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(
            f"cannot tell the format of {path} from its suffix; pass format= one of "
            f"{', '.join(FORMATS)} or use {', '.join(_SUFFIXES)}"
        )
    return _SUFFIXES[suffix]


def _meta(report: EnergyReport) -> dict[str, Any]:
    d = report.to_dict()
    d.pop("rows")
    return d


def _column_order(report: EnergyReport) -> list[str]:
    cols = list(report.columns)
    for row in report.rows.values():
        cols.extend(c for c in row if c not in cols)
    return cols


def write_json(report: EnergyReport, path: str | os.PathLike[str]) -> Path:
    """Write the report as one JSON document (floats round-trip exactly)."""
    p = Path(path)
    atomic_write(p, json.dumps(report.to_dict(), indent=2, allow_nan=False))
    return p


def write_csv(report: EnergyReport, path: str | os.PathLike[str]) -> Path:
    """One row per layer; line 1 is ``# {json metadata}``; an empty cell is "not applicable"."""
    p = Path(path)
    cols = _column_order(report)
    buf = io.StringIO()
    buf.write("# " + json.dumps(_meta(report), allow_nan=False) + "\n")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["layer", *cols])
    for name, row in report.rows.items():
        w.writerow([name, *(repr(row[c]) if c in row else "" for c in cols)])
    atomic_write(p, buf.getvalue())
    return p


def write_hdf5(report: EnergyReport, path: str | os.PathLike[str]) -> Path:
    """Datasets ``layers``, ``columns`` and ``table`` (float64, NaN = not applicable); metadata
    as a JSON string in the file attribute ``meta``."""
    require_extra("hdf5", "HDF5 export")
    import h5py

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    cols = _column_order(report)
    layers = list(report.rows)
    table = np.full((len(layers), len(cols)), np.nan, dtype=np.float64)
    for i, name in enumerate(layers):
        for j, c in enumerate(cols):
            if c in report.rows[name]:
                table[i, j] = report.rows[name][c]
    with atomic_path(p) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["schema"] = report.schema
        f.attrs["meta"] = json.dumps(_meta(report), allow_nan=False)
        f.create_dataset("layers", data=layers, dtype=h5py.string_dtype())
        f.create_dataset("columns", data=cols, dtype=h5py.string_dtype())
        f.create_dataset("table", data=table)
    return p


def write_report(
    report: EnergyReport, path: str | os.PathLike[str], fmt: str | None = None
) -> Path:
    """Write ``report`` as JSON, CSV or HDF5 (``fmt`` or the suffix of ``path``)."""
    f = format_for(path, fmt)
    if f == "nir":
        raise ValueError("NIR needs the model too: use spikeenergy.export.export_nir(model, ...)")
    writer = {"json": write_json, "csv": write_csv, "hdf5": write_hdf5}[f]
    return writer(report, path)


def _report(meta: Mapping[str, Any], rows: dict[str, dict[str, float]] | None) -> EnergyReport:
    """The report of ``meta`` (with its ``rows`` when ``rows`` is None); the metrics module is
    imported here, not at the top, so that reading :data:`FORMATS` needs no torch."""
    from spikeenergy.metrics.meter import EnergyReport

    if rows is None:
        return EnergyReport.from_dict(dict(meta))
    return EnergyReport.from_dict({**meta, "rows": [{"layer": n, **r} for n, r in rows.items()]})


def read_report(path: str | os.PathLike[str], fmt: str | None = None) -> EnergyReport:
    """Read a report written by :func:`write_report` (JSON, CSV or HDF5)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no report at {p}")
    f = format_for(p, fmt)
    if f == "json":
        return _report(json.loads(p.read_text()), None)
    if f == "csv":
        text = p.read_text()
        first, _, body = text.partition("\n")
        if not first.startswith("# "):
            raise ValueError(f"{p}: first line must be '# {{json metadata}}' (a spikeenergy CSV)")
        reader = csv.reader(io.StringIO(body))
        header = next(reader)
        rows = {
            r[0]: {c: float(v) for c, v in zip(header[1:], r[1:], strict=True) if v != ""}
            for r in reader
        }
        return _report(json.loads(first[2:]), rows)
    if f == "hdf5":
        require_extra("hdf5", "reading HDF5 reports")
        import h5py

        with h5py.File(p, "r") as h:
            meta = json.loads(h.attrs["meta"])
            layers = [s.decode() if isinstance(s, bytes) else s for s in h["layers"][()]]
            cols = [s.decode() if isinstance(s, bytes) else s for s in h["columns"][()]]
            table = h["table"][()]
        rows = {
            name: {c: float(v) for c, v in zip(cols, table[i], strict=True) if not math.isnan(v)}
            for i, name in enumerate(layers)
        }
        return _report(meta, rows)
    raise ValueError("read NIR files with nir.read (see spikeenergy.export.read_nir_metadata)")
