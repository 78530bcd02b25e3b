"""Results store: one HDF5 record per run, written atomically, plus a consolidated table.

Layout of a results folder::

    runs/<run_id>.h5   one record per configuration (status "ok" or "failed"), written to a
                       hidden temporary name and renamed, so a reader never sees half a record
    results.h5         consolidated: /table/<column> and a copy of every record under /runs
    results.csv        the same flat table (one row per run)
    suite.json         the suite that produced the runs
    .lock              file lock that serialises rebuilding the consolidated files

Failed runs keep their error and traceback and have NaN metrics (never 0.0); re-running a
sweep skips "ok" records and retries failed ones. Two processes writing the same store never
corrupt it: records are atomic renames and consolidation runs under the lock.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
from filelock import FileLock

from spikeenergy.energy import BUILTIN_COST_MODELS

RECORD_SCHEMA = "spikeenergy.bench.run/1"
STATUSES = ("ok", "failed")

#: Ledger counts per inference in the table (test split), named as in the ledger.
COUNT_COLUMNS = ("acs", "macs", "graded_events", "dense_ops", "neuron_updates", "spikes")
#: Joules per inference (test split) on every built-in target: ``energy_j[<target>]``, and the
#: operations-only part ``compute_energy_j[<target>]`` beside it.
ENERGY_TARGETS = tuple(t.name for t in BUILTIN_COST_MODELS)
ENERGY_COLUMNS = tuple(
    f"{c}[{t}]" for t in ENERGY_TARGETS for c in ("energy_j", "compute_energy_j")
)

#: flat table columns in order (metrics are NaN for failed runs)
COLUMNS = (
    "run_id",
    "status",
    "dataset",
    "model",
    "family",
    "backend",
    "spiking",
    "lam",
    "seed",
    "energy_term",
    "target",
    "accuracy",
    "loss",
    "energy",
    "energy_j",
    "val_accuracy",
    "val_energy_j",
    *ENERGY_COLUMNS,
    "spike_rate",
    "activation_sparsity",
    *COUNT_COLUMNS,
    "parameters",
    "best_val_accuracy",
    "wall_time_s",
    "epochs",
    "steps",
    "time_to_target_s",
    "steps_to_target",
    "epochs_to_target",
    "n_train",
    "n_test",
    "attempts",
    "duration_s",
    "host",
    "finished_at",
    "error",
)


@dataclass(frozen=True)
class RunRecord:
    """Everything stored about one run: labels, config, metrics (or the error), provenance."""

    run_id: str
    status: str
    dataset: str
    model: str
    lam: float
    seed: int
    config: dict[str, Any]
    metrics: dict[str, Any] | None = None
    error: str | None = None
    traceback: str | None = None
    attempts: int = 1
    duration_s: float = float("nan")
    host: str = ""
    finished_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status={self.status!r}; use one of {STATUSES}")
        if self.status == "ok" and self.metrics is None:
            raise ValueError(f"run {self.run_id}: an 'ok' record needs metrics")
        if self.status == "failed" and not self.error:
            raise ValueError(f"run {self.run_id}: a 'failed' record needs its error message")


def _num(x: Any) -> float:
    """A metric as float; None (e.g. target never reached) becomes NaN, never 0."""
    return float("nan") if x is None else float(x)


def flat_row(rec: RunRecord) -> dict[str, Any]:
    """One table row of a record: labels, headline metrics, efficiency, provenance."""
    model = rec.config.get("model", {})
    train = rec.config.get("train", {})
    row: dict[str, Any] = {c: float("nan") for c in COLUMNS}
    spiking = model.get("family", "").startswith("snn-")
    row.update(
        run_id=rec.run_id,
        status=rec.status,
        dataset=rec.dataset,
        model=rec.model,
        family=model.get("family", ""),
        backend=model.get("backend", "") if spiking else "",
        spiking=spiking,
        lam=float(rec.lam),
        seed=int(rec.seed),
        energy_term=train.get("energy", ""),
        target=train.get("target", ""),
        attempts=rec.attempts,
        duration_s=rec.duration_s,
        host=rec.host,
        finished_at=rec.finished_at,
        error=rec.error or "",
    )
    m = rec.metrics
    if rec.status != "ok" or m is None:
        return row
    test, eff, val = m["test"], m.get("efficiency", {}), m.get("val")
    ledger = test["ledger"]
    target = row["target"]
    row.update(
        accuracy=_num(test["accuracy"]),
        loss=_num(test["loss"]),
        energy=_num(next(iter(test["energy"].values()))),
        energy_j=(
            _num(ledger["energy"][target]["energy_j"])
            if target in ledger["energy"]
            else float("nan")
        ),
        val_accuracy=_num(val["accuracy"]) if val else float("nan"),
        val_energy_j=(
            _num(val["ledger"]["energy"][target]["energy_j"])
            if val and target in val["ledger"]["energy"]
            else float("nan")
        ),
        spike_rate=_num(ledger["rates"].get("spike_rate")),
        activation_sparsity=_num(ledger["rates"].get("activation_sparsity")),
        **{k: _num(ledger["total"][k]) for k in COUNT_COLUMNS},
        **{
            f"{c}[{t}]": _num(ledger["energy"][t][c])
            for t in ENERGY_TARGETS
            if t in ledger["energy"]
            for c in ("energy_j", "compute_energy_j")
        },
        parameters=_num(m["model"]["parameters"]),
        best_val_accuracy=_num(m.get("best_val_accuracy")),
        wall_time_s=_num(eff.get("wall_time_s")),
        epochs=_num(eff.get("epochs")),
        steps=_num(eff.get("steps")),
        time_to_target_s=_num(eff.get("time_to_target_s")),
        steps_to_target=_num(eff.get("steps_to_target")),
        epochs_to_target=_num(eff.get("epochs_to_target")),
        n_train=_num(m["dataset"]["n_train"]),
        n_test=_num(m["dataset"]["n_test"]),
    )
    return row


def _json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def _write_record_group(g: h5py.Group, rec: RunRecord) -> None:
    """Write ``rec`` into an HDF5 group: attrs, JSON documents and curves as arrays."""
    g.attrs["schema"] = RECORD_SCHEMA
    for key in ("run_id", "status", "dataset", "model", "host", "finished_at"):
        g.attrs[key] = getattr(rec, key)
    g.attrs["lam"] = float(rec.lam)
    g.attrs["seed"] = int(rec.seed)
    g.attrs["attempts"] = int(rec.attempts)
    g.attrs["duration_s"] = float(rec.duration_s)
    g.attrs["error"] = rec.error or ""
    g.attrs["traceback"] = rec.traceback or ""
    str_dt = h5py.string_dtype()
    g.create_dataset("config_json", data=_json(rec.config), dtype=str_dt)
    g.create_dataset("extra_json", data=_json(rec.extra), dtype=str_dt)
    if rec.metrics is not None:
        g.create_dataset("metrics_json", data=_json(rec.metrics), dtype=str_dt)
        curves = g.create_group("curves")
        for name, values in rec.metrics.get("curves", {}).items():
            try:
                arr = np.asarray([_num(v) for v in values], dtype=np.float64)
            except (TypeError, ValueError):
                continue  # non-numeric column: kept in metrics_json only
            curves.create_dataset(name, data=arr)
        flat = g.create_group("flat")
        for k, v in flat_row(rec).items():
            flat.attrs[k] = v if isinstance(v, (str, bool, int, float)) else str(v)


def _read_record_group(g: h5py.Group) -> RunRecord:
    """Inverse of :func:`_write_record_group`."""
    if g.attrs.get("schema") != RECORD_SCHEMA:
        raise ValueError(
            f"{g.file.filename}: not a {RECORD_SCHEMA} record (schema={g.attrs.get('schema')!r})"
        )

    def text(name: str) -> str:
        return g[name][()].decode() if isinstance(g[name][()], bytes) else str(g[name][()])

    a = g.attrs
    return RunRecord(
        run_id=str(a["run_id"]),
        status=str(a["status"]),
        dataset=str(a["dataset"]),
        model=str(a["model"]),
        lam=float(a["lam"]),
        seed=int(a["seed"]),
        config=json.loads(text("config_json")),
        metrics=json.loads(text("metrics_json")) if "metrics_json" in g else None,
        error=str(a["error"]) or None,
        traceback=str(a["traceback"]) or None,
        attempts=int(a["attempts"]),
        duration_s=float(a["duration_s"]),
        host=str(a["host"]),
        finished_at=str(a["finished_at"]),
        extra=json.loads(text("extra_json")),
    )


def _atomic_target(path: Path) -> Path:
    """A hidden temporary sibling of ``path`` unique to this process and call."""
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


@dataclass(frozen=True)
class ResultsStore:
    """A results folder (see the module docstring); cheap to create, holds only the path."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    @property
    def runs_dir(self) -> Path:
        """Folder of the per-run records."""
        return self.root / "runs"

    @property
    def csv_path(self) -> Path:
        """The flat table (CSV)."""
        return self.root / "results.csv"

    @property
    def h5_path(self) -> Path:
        """The consolidated HDF5 file."""
        return self.root / "results.h5"

    def lock(self, timeout: float = 600.0) -> FileLock:
        """Inter-process lock of the consolidated files (``with store.lock(): ...``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".lock"), timeout=timeout)

    def record_path(self, run_id: str) -> Path:
        """Where the record of ``run_id`` lives."""
        return self.runs_dir / f"{run_id}.h5"

    def write(self, rec: RunRecord) -> Path:
        """Write (or replace) the record of one run atomically: temp file, fsync, rename."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        path = self.record_path(rec.run_id)
        tmp = _atomic_target(path)
        try:
            with h5py.File(tmp, "w") as f:
                _write_record_group(f, rec)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
        return path

    def read(self, run_id: str) -> RunRecord:
        """The record of ``run_id`` (FileNotFoundError when it has none)."""
        path = self.record_path(run_id)
        if not path.is_file():
            raise FileNotFoundError(f"no record for run {run_id} in {self.runs_dir}")
        with h5py.File(path, "r") as f:
            return _read_record_group(f)

    def run_ids(self) -> list[str]:
        """Ids of all stored records (temporary files of writes in flight are ignored)."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.stem for p in self.runs_dir.glob("*.h5") if not p.name.startswith("."))

    def records(self) -> Iterator[RunRecord]:
        """All stored records, in id order."""
        for rid in self.run_ids():
            yield self.read(rid)

    def statuses(self) -> dict[str, str]:
        """run_id -> "ok" / "failed" (reads only the attributes)."""
        out = {}
        for rid in self.run_ids():
            with h5py.File(self.record_path(rid), "r") as f:
                out[rid] = str(f.attrs["status"])
        return out

    def completed(self) -> set[str]:
        """Ids of runs that finished successfully (these are skipped on resume)."""
        return {rid for rid, s in self.statuses().items() if s == "ok"}

    def attempts(self, run_id: str) -> int:
        """How many times ``run_id`` was attempted so far (0 when it has no record)."""
        path = self.record_path(run_id)
        if not path.is_file():
            return 0
        with h5py.File(path, "r") as f:
            return int(f.attrs["attempts"])

    def write_json(self, name: str, obj: Any) -> Path:
        """Write a JSON side file (e.g. suite.json) atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / name
        tmp = _atomic_target(path)
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str))
        os.replace(tmp, path)
        return path

    def consolidate(self) -> pd.DataFrame:
        """Rebuild results.h5 and results.csv from the records, under the lock; return the table."""
        with self.lock():
            recs = list(self.records())
            table = pd.DataFrame([flat_row(r) for r in recs], columns=list(COLUMNS))
            tmp_csv = _atomic_target(self.csv_path)
            table.to_csv(tmp_csv, index=False)
            os.replace(tmp_csv, self.csv_path)
            tmp_h5 = _atomic_target(self.h5_path)
            try:
                with h5py.File(tmp_h5, "w") as f:
                    f.attrs["schema"] = "spikeenergy.bench.results/1"
                    tg = f.create_group("table")
                    for col in COLUMNS:
                        _write_column(tg, col, table[col])
                    rg = f.create_group("runs")
                    for rec in recs:
                        _write_record_group(rg.create_group(rec.run_id), rec)
                os.replace(tmp_h5, self.h5_path)
            finally:
                if tmp_h5.exists():
                    tmp_h5.unlink()
        return table

    def table(self) -> pd.DataFrame:
        """The flat table built from the records (consolidates first, so it is current)."""
        return self.consolidate()

    def curves(self) -> pd.DataFrame:
        """Training curves of all ok runs, long format: labels + epoch + one column per curve."""
        frames = []
        for rec in self.records():
            if rec.status != "ok" or rec.metrics is None:
                continue
            cur = pd.DataFrame(rec.metrics.get("curves", {}))
            if cur.empty:
                continue
            nested = [c for c in cur.columns if cur[c].map(lambda v: isinstance(v, dict)).any()]
            cur = cur.drop(columns=nested)
            cur.insert(0, "run_id", rec.run_id)
            for k in ("dataset", "model", "lam", "seed"):
                cur[k] = getattr(rec, k)
            frames.append(cur)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _write_column(g: h5py.Group, name: str, col: pd.Series) -> None:
    """One table column as an HDF5 dataset (strings as UTF-8, numbers as float64)."""
    if col.dtype == object or pd.api.types.is_string_dtype(col):
        g.create_dataset(
            name, data=np.asarray(col.astype(str).tolist(), dtype=object), dtype=h5py.string_dtype()
        )
    elif pd.api.types.is_bool_dtype(col):
        g.create_dataset(name, data=col.to_numpy(dtype=bool))
    else:
        g.create_dataset(name, data=col.to_numpy(dtype=np.float64))
