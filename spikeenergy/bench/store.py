"""Results store: one HDF5 record per run, written atomically, plus a consolidated table.

Layout of a results folder::

    runs/<run_id>.h5   one record per configuration (status "ok" or "failed"), written to a
                       hidden temporary name and renamed, so a reader never sees half a record
    runs/<run_id>.pt   the run's selected model (a spikeenergy checkpoint, for ``spikeenergy
                       export``), beside every ok record unless the suite opts out; atomic too
    results.h5         consolidated: /table/<column> and a copy of every record under /runs
    results.csv        the same flat table (one row per run)
    suite.json         the suite that produced the runs
    quarantine/        records that could not be read, moved aside (their runs are re-run)
    .lock              file lock that serialises record replacement and consolidation
    .sweep.lock        file lock held by the one sweep that writes this store (see
                       :meth:`ResultsStore.sweep_lock`); ``.sweep.owner`` names its holder

Failed runs keep their error and traceback and have NaN metrics (never 0.0); re-running a
sweep skips "ok" records and retries failed ones. A record is only ever replaced by a better or
newer outcome: an "ok" record is final, a failure may be replaced by a later failure or by an
"ok" (:meth:`ResultsStore.put`), so no writer can turn a good result into a failure. A record
that cannot be read is named in a warning and moved to ``quarantine/`` (when the store is
writable; a read-only store is read around it), and its run counts as not done.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import io
import json
import logging
import os
import socket
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
from filelock import FileLock, Timeout

from spikeenergy.energy import BUILTIN_COST_MODELS
from spikeenergy.io import TMP_NAME, Writer, atomic_write
from spikeenergy.models.families import is_spiking_family

log = logging.getLogger(__name__)

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


class UnreadableRecordError(ValueError):
    """A record file exists but cannot be read (truncated, damaged, or not a record)."""


class StoreBusyError(RuntimeError):
    """Another sweep holds the store: only one sweep may write a results folder at a time."""


class StoreWriteError(OSError):
    """A record or table could not be written (disk full, permissions); names the file."""


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
    "fold",
    "energy_term",
    "target",
    "accuracy",
    "loss",
    "energy",
    "energy_j",
    "val_accuracy",
    "val_energy_j",
    "metric",
    "score",
    "val_score",
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
    "n_val",
    "n_test",
    "suite",
    "suite_hash",
    "attempts",
    "duration_s",
    "host",
    "finished_at",
    "error",
)


@dataclass(frozen=True)
class RunRecord:
    """Everything stored about one run: labels, config, metrics (or the error), provenance.

    ``fold``: the test fold of a cross-validated dataset (None: a fixed test split);
    ``suite`` and ``suite_hash``: the suite (name and protocol hash) that produced the run
    ("" for runs stored outside a suite, e.g. by a search, or by an older spikeenergy).
    """

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
    fold: int | None = None
    suite: str = ""
    suite_hash: str = ""

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


def _score(split: dict[str, Any], metric: str) -> float:
    """The task ``metric`` of an evaluated split (its ``scores``; accuracy also from
    ``accuracy`` for records written before scores existed); NaN when it was not recorded."""
    scores = split.get("scores") or {}
    if metric in scores:
        return _num(scores[metric])
    if metric == "accuracy":
        return _num(split.get("accuracy"))
    return float("nan")


def flat_row(rec: RunRecord) -> dict[str, Any]:
    """One table row of a record: labels, headline metrics, efficiency, provenance."""
    model = rec.config.get("model", {})
    train = rec.config.get("train", {})
    row: dict[str, Any] = {c: float("nan") for c in COLUMNS}
    spiking = is_spiking_family(model.get("family", ""))
    if spiking is None:
        log.warning(
            "run %s: model family %r is not registered here, so its 'spiking' column is False; "
            "import the module that registers it (suite modules / --module)",
            rec.run_id,
            model.get("family", ""),
        )
        spiking = False
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
        fold=float("nan") if rec.fold is None else int(rec.fold),
        energy_term=train.get("energy", ""),
        target=train.get("target", ""),
        metric=train.get("metric", "accuracy"),
        suite=rec.suite,
        suite_hash=rec.suite_hash,
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
        score=_score(test, row["metric"]),
        val_score=_score(val, row["metric"]) if val else float("nan"),
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
        n_val=_num(m["dataset"].get("n_val")),
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
    g.attrs["fold"] = -1 if rec.fold is None else int(rec.fold)  # -1: a fixed test split
    g.attrs["suite"] = rec.suite
    g.attrs["suite_hash"] = rec.suite_hash
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
        fold=int(a["fold"]) if int(a.get("fold", -1)) >= 0 else None,
        suite=str(a.get("suite", "")),
        suite_hash=str(a.get("suite_hash", "")),
    )


def ok_record(
    *,
    run_id: str,
    dataset: str,
    model: str,
    lam: float,
    seed: int,
    config: Mapping[str, Any],
    metrics: dict[str, Any],
    duration_s: float,
    fold: int | None = None,
    suite: str = "",
    suite_hash: str = "",
    extra: Mapping[str, Any] | None = None,
) -> RunRecord:
    """The record of a run that finished here and now: status "ok", stamped with this host and
    the current UTC time (what :meth:`ResultsStore.put` stores and ``spikeenergy report``
    reads). Producers of runs outside a sweep (e.g. a search's trials) build their records
    with it, so every record carries the same provenance."""
    return RunRecord(
        run_id=run_id,
        status="ok",
        dataset=dataset,
        model=model,
        lam=float(lam),
        seed=int(seed),
        config=dict(config),
        metrics=metrics,
        duration_s=float(duration_s),
        host=socket.gethostname(),
        finished_at=_now(),
        extra=dict(extra or {}),
        fold=fold,
        suite=suite,
        suite_hash=suite_hash,
    )


def _store_write(path: Path, data: bytes | memoryview | str | Writer) -> Path:
    """:func:`spikeenergy.io.atomic_write`, an OSError raised as :class:`StoreWriteError`."""
    try:
        return atomic_write(path, data)
    except OSError as exc:
        raise StoreWriteError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from None


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a process we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _is_read_only_error(exc: OSError) -> bool:
    return exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)


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
    def quarantine_dir(self) -> Path:
        """Where unreadable records are moved (their runs are re-run)."""
        return self.root / "quarantine"

    @property
    def csv_path(self) -> Path:
        """The flat table (CSV)."""
        return self.root / "results.csv"

    @property
    def h5_path(self) -> Path:
        """The consolidated HDF5 file."""
        return self.root / "results.h5"

    def writable(self) -> bool:
        """Whether this process may change the store (False on a read-only folder or mount)."""
        folder = self.root if self.root.exists() else self.root.parent
        if not os.access(folder, os.W_OK):
            return False
        return not self.runs_dir.is_dir() or os.access(self.runs_dir, os.W_OK)

    def lock(self, timeout: float = 600.0) -> FileLock:
        """Inter-process lock of record replacement and consolidation (``with store.lock():``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.root / ".lock"), timeout=timeout)

    @contextlib.contextmanager
    def sweep_lock(self, timeout: float = 0.0) -> Iterator[None]:
        """Hold the store for one sweep: a second sweep on the same folder waits ``timeout``
        seconds (0: not at all), then raises :class:`StoreBusyError` naming the holder.

        The lock is an OS file lock, so it is released when its process ends, even by SIGKILL:
        a crashed sweep never blocks the next one.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = FileLock(str(self.root / ".sweep.lock"), timeout=timeout)
            lock.acquire()
        except Timeout:
            raise StoreBusyError(
                f"{self.root} is being written by another sweep ({self._owner()}); wait for it "
                "to finish, or write to another results folder (--out)"
            ) from None
        except OSError as exc:
            raise StoreWriteError(
                exc.errno, f"cannot write to results folder {self.root}: {exc.strerror}"
            ) from None
        owner = self.root / ".sweep.owner"
        try:
            info = {"pid": os.getpid(), "host": socket.gethostname(), "since": _now()}
            atomic_write(owner, json.dumps(info))
            yield
        finally:
            owner.unlink(missing_ok=True)
            lock.release()

    def _owner(self) -> str:
        try:
            info = json.loads((self.root / ".sweep.owner").read_text())
            return f"pid {info['pid']} on {info['host']}, since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "holder unknown"

    def record_path(self, run_id: str) -> Path:
        """Where the record of ``run_id`` lives."""
        return self.runs_dir / f"{run_id}.h5"

    def checkpoint_path(self, run_id: str) -> Path:
        """Where the selected model of ``run_id`` is kept (``runs/<run_id>.pt``)."""
        return self.runs_dir / f"{run_id}.pt"

    def write_checkpoint(self, run_id: str, data: bytes) -> Path:
        """Write a run's checkpoint file (bytes of a saved checkpoint) atomically: a hidden
        temporary sibling (fsync) renamed over ``runs/<run_id>.pt``."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        return _store_write(self.checkpoint_path(run_id), data)

    def _write_atomic_h5(self, path: Path, fill: Any) -> None:
        """``fill(h5file)`` into memory, then to a hidden temp file (fsync) renamed over
        ``path``. HDF5 never writes the disk itself, so a full disk is one clean OSError (not
        a cascade of HDF5 errors from half-written objects)."""
        buf = io.BytesIO()
        with h5py.File(buf, "w") as f:
            fill(f)
        _store_write(path, buf.getbuffer())

    def put(self, rec: RunRecord) -> bool:
        """Store ``rec`` unless that would lose a better outcome; True when it was written.

        An existing "ok" record is final (a later failure, e.g. of a second sweep or a broken
        machine, never replaces it); a failed record is replaced by the newer outcome; an
        unreadable record is quarantined first. Check and replace happen under the store lock,
        so concurrent writers of the same run cannot interleave.
        """
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        path = self.record_path(rec.run_id)
        with self.lock():
            old = self._status_at(path)
            if old == "ok":
                log.info(
                    "run %s already has an ok record; the %s outcome is not stored",
                    rec.run_id,
                    rec.status,
                )
                return False
            self._write_atomic_h5(path, lambda f: _write_record_group(f, rec))
        return True

    def write(self, rec: RunRecord) -> Path:
        """Store ``rec`` by :meth:`put` (which keeps a better existing outcome); its path."""
        self.put(rec)
        return self.record_path(rec.run_id)

    def _open_record(self, path: Path) -> h5py.File:
        # no HDF5 file locking: records are immutable once renamed, and locking fails on
        # read-only and some network file systems
        return h5py.File(path, "r", locking=False)

    def _read_path(self, path: Path) -> RunRecord:
        try:
            with self._open_record(path) as f:
                return _read_record_group(f)
        except FileNotFoundError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as exc:
            raise UnreadableRecordError(f"unreadable record {path}: {_reason(exc)}") from exc

    def _status_at(self, path: Path) -> str | None:
        """Status "ok" / "failed" of the record at ``path``; None when absent or unreadable (an
        unreadable one is quarantined when the store is writable)."""
        if not path.is_file():
            return None
        try:
            with self._open_record(path) as f:
                status = str(f.attrs["status"])
                if f.attrs.get("schema") != RECORD_SCHEMA or status not in STATUSES:
                    raise ValueError(f"not a {RECORD_SCHEMA} record")
                return status
        except (OSError, KeyError, ValueError, TypeError) as exc:
            self._unreadable(path, exc)
            return None

    def _unreadable(self, path: Path, exc: BaseException) -> None:
        """Name an unreadable record and move it to quarantine/ (its run is then re-run)."""
        if not self.writable():
            log.warning(
                "unreadable record %s (%s): skipped (the store is read-only)", path, _reason(exc)
            )
            return
        self.quarantine_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        target = self.quarantine_dir / f"{path.stem}.{stamp}.{uuid.uuid4().hex[:6]}{path.suffix}"
        try:
            os.replace(path, target)
        except FileNotFoundError:
            return  # another process moved it already
        log.warning(
            "unreadable record %s (%s): moved to %s; its run will be re-run",
            path,
            _reason(exc),
            target,
        )

    def read(self, run_id: str) -> RunRecord:
        """The record of ``run_id`` (FileNotFoundError when it has none,
        :class:`UnreadableRecordError` naming the file when it cannot be read)."""
        path = self.record_path(run_id)
        if not path.is_file():
            raise FileNotFoundError(f"no record for run {run_id} in {self.runs_dir}")
        return self._read_path(path)

    def run_ids(self) -> list[str]:
        """Ids of all stored records (temporary files of writes in flight are ignored)."""
        if not self.runs_dir.is_dir():
            return []
        return sorted(p.stem for p in self.runs_dir.glob("*.h5") if not p.name.startswith("."))

    def records(self) -> Iterator[RunRecord]:
        """All readable records, in id order; unreadable ones are named and quarantined (or
        skipped on a read-only store)."""
        for rid in self.run_ids():
            path = self.record_path(rid)
            try:
                yield self._read_path(path)
            except FileNotFoundError:
                continue  # quarantined by another process meanwhile
            except UnreadableRecordError as exc:
                self._unreadable(path, exc.__cause__ or exc)

    def statuses(self) -> dict[str, str]:
        """run_id -> "ok" / "failed" (reads only the attributes; unreadable records left out)."""
        out = {}
        for rid in self.run_ids():
            status = self._status_at(self.record_path(rid))
            if status is not None:
                out[rid] = status
        return out

    def completed(self) -> set[str]:
        """Ids of runs that finished successfully (these are skipped on resume)."""
        return {rid for rid, s in self.statuses().items() if s == "ok"}

    def suite_hashes(self) -> dict[tuple[str, str], int]:
        """(suite name, suite hash) -> number of "ok" records made under it (reads only the
        attributes; records of older versions count under ("", ""))."""
        out: dict[tuple[str, str], int] = {}
        for rid in self.run_ids():
            path = self.record_path(rid)
            try:
                with self._open_record(path) as f:
                    if str(f.attrs.get("status")) != "ok":
                        continue
                    key = (str(f.attrs.get("suite", "")), str(f.attrs.get("suite_hash", "")))
            except (OSError, KeyError, ValueError, TypeError):
                continue  # unreadable: named and quarantined by the sweep's consolidation
            out[key] = out.get(key, 0) + 1
        return out

    def attempts(self, run_id: str) -> int:
        """How many times ``run_id`` was attempted so far (0 when it has no readable record)."""
        path = self.record_path(run_id)
        if not path.is_file():
            return 0
        try:
            with self._open_record(path) as f:
                return int(f.attrs["attempts"])
        except (OSError, KeyError, ValueError, TypeError):
            return 0

    def remove_stale_temps(self) -> list[Path]:
        """Delete hidden temporary files left by writers that died (their pid is gone);
        returns what was removed. Files of live processes are left alone."""
        removed = []
        for folder in (self.root, self.runs_dir):
            if not folder.is_dir():
                continue
            for p in folder.glob(".*.tmp"):
                m = TMP_NAME.match(p.name)
                if m is None or _pid_alive(int(m.group(1))):
                    continue
                p.unlink(missing_ok=True)
                removed.append(p)
        if removed:
            log.info("removed %d temporary file(s) of interrupted writers", len(removed))
        return removed

    def write_json(self, name: str, obj: Any) -> Path:
        """Write a JSON side file (e.g. suite.json) atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        return _store_write(
            self.root / name, json.dumps(obj, indent=2, sort_keys=True, default=str)
        )

    def write_csv(self, table: pd.DataFrame) -> Path:
        """Write ``table`` as results.csv atomically (the sweep calls it as runs finish)."""
        return _store_write(self.csv_path, table.to_csv(index=False))

    def consolidate(self) -> pd.DataFrame:
        """Rebuild results.h5 and results.csv from the records, under the lock; return the table.

        On a read-only store nothing is written: the table is built from the records as they
        are (unreadable ones named and skipped).
        """
        if not self.writable():
            log.info("%s is read-only: results.csv/results.h5 are not rebuilt", self.root)
            return self._table(list(self.records()))
        try:
            lock = self.lock()
            lock.acquire()
        except OSError as exc:
            if not _is_read_only_error(exc):
                raise
            return self._table(list(self.records()))
        try:
            recs = list(self.records())
            table = self._table(recs)
            self.write_csv(table)

            def fill(f: h5py.File) -> None:
                f.attrs["schema"] = "spikeenergy.bench.results/1"
                tg = f.create_group("table")
                for col in COLUMNS:
                    _write_column(tg, col, table[col])
                rg = f.create_group("runs")
                for rec in recs:
                    _write_record_group(rg.create_group(rec.run_id), rec)

            self._write_atomic_h5(self.h5_path, fill)
        finally:
            lock.release()
        return table

    @staticmethod
    def _table(recs: list[RunRecord]) -> pd.DataFrame:
        return pd.DataFrame([flat_row(r) for r in recs], columns=list(COLUMNS))

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


def _reason(exc: BaseException) -> str:
    """A one-line reason for an unreadable file."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


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
