"""Run a suite's grid: skip completed runs, execute the rest on an executor, store every result.

Functions over frozen configs; nothing here changes a caller's model or config. A run that
raises is stored as a "failed" record with its error (and retried by the next sweep); a sweep
that is killed keeps every record written so far and loses only the runs in flight.

One sweep at a time writes a store (:meth:`ResultsStore.sweep_lock`); results.csv is rewritten
as every run finishes; each run uses a fixed number of torch threads (default 1, recorded in
the record's ``extra``), so the numbers do not depend on how many workers run side by side.

Workers import the suite's ``modules`` (and the entry points of installed packages) before every
run, so datasets and metrics registered in user code reach local processes and Ray workers alike
(:mod:`spikeenergy.plugins`). With ``suite.keep_checkpoints`` (the default) a run function that
takes a ``checkpoint`` keyword (as :func:`train_run` does) saves the selected model in the
worker; its bytes come back with the outcome and are stored as ``runs/<run_id>.pt`` after the
record (so a Ray cluster needs no shared file system).

A suite is a protocol fixed before its runs: every record carries the suite's name and hash
(:attr:`Suite.suite_hash`), and a sweep of a suite whose name already has results of another
hash in the store is refused (:func:`check_protocol`). While a sweep runs, the progress bar
shows the best VALIDATION score; test numbers are for the report, after selection.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import inspect
import json
import logging
import signal
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Subset

from spikeenergy.bench.executors import (
    LocalExecutor,
    RayExecutor,
    threads_per_worker,
)
from spikeenergy.bench.store import COLUMNS, ResultsStore, RunRecord, flat_row
from spikeenergy.bench.suite import RunSpec, Suite, SuiteError, expand_grid
from spikeenergy.config_files import differences
from spikeenergy.data import DatasetNotFoundError, FrameDataset, load_dataset
from spikeenergy.plugins import user_code
from spikeenergy.progress import tqdm
from spikeenergy.train import (
    DataConfig,
    PreparedData,
    prepare_data,
    run_experiment,
    task_metric,
)

log = logging.getLogger(__name__)

#: a run function: one grid cell -> the metrics dict of ``run_experiment`` (schema metrics/2)
RunFn = Callable[[RunSpec], dict[str, Any]]


@dataclass(frozen=True)
class RunTask:
    """What a worker receives: the run and how many torch threads it may use."""

    spec: RunSpec
    threads: int | None = None  # torch threads for the run; None: leave torch's setting alone
    modules: tuple[str, ...] = ()  # user modules to import first (Suite.modules)
    keep_checkpoint: bool = False  # send the selected model back (run functions that can)


@dataclass(frozen=True)
class RunOutcome:
    """What a worker sends back: metrics, or the error that stopped the run."""

    run_id: str
    metrics: dict[str, Any] | None
    error: str | None
    traceback: str | None
    duration_s: float
    host: str
    finished_at: str
    threads: int = 0  # torch threads the run used
    checkpoint: bytes | None = None  # the selected model (a saved checkpoint file's bytes)


@dataclass
class SweepResult:
    """Summary of one sweep call: counts, skipped datasets and the consolidated table."""

    table: pd.DataFrame
    total: int
    already_done: int
    ran: int
    ok: int
    failed: int
    skipped_datasets: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- data per worker


@functools.lru_cache(maxsize=4)
def _memo_frames(cfg_json: str, split: str) -> FrameDataset:
    """A whole split's frames, made once per worker process (in memory) and shared by all of
    that worker's runs, whatever their model, lambda or seed."""
    cfg = DataConfig.from_dict(json.loads(cfg_json))
    events = load_dataset(cfg.name, split, root=cfg.root, **cfg.dataset_options())
    return FrameDataset(events, replace(cfg.frames, cache="memory"))


def _shared_opener(cfg: DataConfig, split: str) -> FrameDataset:
    keep = {
        "name": cfg.name,
        "root": cfg.root,
        "options": cfg.dataset_options(),
        "frames": asdict(cfg.frames),
    }
    return _memo_frames(json.dumps(keep, sort_keys=True, default=str), split)


def prepare_shared(cfg: DataConfig, seed: int) -> PreparedData:
    """:func:`spikeenergy.train.prepare_data` on per-worker memoised frames, all binned up front
    so that the training time recorded by ``fit`` measures training, not data preparation."""
    data = prepare_data(cfg, seed, opener=_shared_opener)
    for part in (data.train, data.val, data.test):
        if part is not None:
            for i in range(len(part)):
                _ = part[i]
    return data


def sample_ids(dataset: Any) -> list[int]:
    """Ids of ``dataset``'s samples in split order: positions in the dataset under its Subset
    wrappers (the whole split, or the pool of all recordings of a cross-validated dataset).

    Runs that test the same recordings get the same ids, so their per-sample predictions can
    be paired (seed, fold, sample) by the report's statistics.
    """
    ids = np.arange(len(dataset))
    while isinstance(dataset, Subset):
        ids = np.asarray(dataset.indices, dtype=np.int64)[ids]
        dataset = dataset.dataset
    return [int(i) for i in ids]


def train_run(spec: RunSpec, checkpoint: str | Path | None = None) -> dict[str, Any]:
    """The default run function: train and test ``spec.config``; returns its metrics dict,
    whose ``val`` and ``test`` records also hold ``sample_ids`` (see :func:`sample_ids`), and
    saves the selected model at ``checkpoint`` when given."""
    data = prepare_shared(spec.config.data, spec.seed)
    metrics = run_experiment(
        spec.config, out_dir=None, progress=False, data=data, checkpoint=checkpoint
    )
    for part in ("val", "test"):
        split = getattr(data, part)
        if split is not None and metrics.get(part) is not None:
            metrics[part]["sample_ids"] = sample_ids(split)
    return metrics


def _takes_checkpoint(run_fn: RunFn) -> bool:
    """Whether ``run_fn`` accepts a ``checkpoint`` keyword (a path to save the model at)."""
    try:
        return "checkpoint" in inspect.signature(run_fn).parameters
    except (TypeError, ValueError):
        return False


def execute(task: RunTask, run_fn: RunFn = train_run) -> RunOutcome:
    """Run one task in a worker; any Exception becomes an outcome with the error, never 0.0.

    The run uses ``task.threads`` torch threads (torch's previous setting is restored after,
    so an in-process run leaves the caller's process as it was). ``task.modules`` are imported
    first; an unknown name then says which modules this process imported and how to add one.
    """
    previous = torch.get_num_threads()
    if task.threads is not None:
        torch.set_num_threads(task.threads)
    threads = torch.get_num_threads()
    start = time.perf_counter()
    metrics = err = tb = None
    checkpoint: bytes | None = None
    try:
        with user_code(task.modules):
            if task.keep_checkpoint and _takes_checkpoint(run_fn):
                with tempfile.TemporaryDirectory(prefix="spikeenergy-run-") as tmp:
                    path = Path(tmp) / "model.pt"
                    metrics = run_fn(task.spec, checkpoint=path)  # type: ignore[call-arg]
                    checkpoint = path.read_bytes() if path.is_file() else None
            else:
                metrics = run_fn(task.spec)
    except Exception as exc:  # noqa: BLE001 - stored as a failed record and retried later
        err, tb = f"{type(exc).__name__}: {exc}", traceback.format_exc()
    finally:
        if task.threads is not None:
            torch.set_num_threads(previous)
    return RunOutcome(
        run_id=task.spec.run_id,
        metrics=metrics,
        error=err,
        traceback=tb,
        duration_s=time.perf_counter() - start,
        host=socket.gethostname(),
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        threads=threads,
        checkpoint=checkpoint if metrics is not None else None,
    )


# ----------------------------------------------------------------------------- the sweep


def available_datasets(suite: Suite) -> tuple[tuple[str, ...], dict[str, str]]:
    """(labels whose data can be opened, {label: reason} for the others).

    With ``suite.skip_missing`` a dataset whose files are absent is skipped (logged with the
    reason); otherwise the missing files raise.
    """
    ok: list[str] = []
    skipped: dict[str, str] = {}
    for ds in suite.datasets:
        try:
            load_dataset(ds.data.name, "train", root=ds.data.root, **ds.data.dataset_options())
        except DatasetNotFoundError as exc:
            if not suite.skip_missing:
                raise
            reason = str(exc).splitlines()[0]
            skipped[ds.label] = reason
            log.warning("skipping dataset %s: %s", ds.label, reason)
            continue
        ok.append(ds.label)
    return tuple(ok), skipped


def _threads_for(executor: Any, n_tasks: int) -> int | None:
    """The old automatic rule (``threads=None`` in :func:`run_sweep`): CPUs shared between
    the workers. Faster, but the numbers then depend on the worker count."""
    if isinstance(executor, LocalExecutor):
        return threads_per_worker(min(executor.workers, max(1, n_tasks)))
    if isinstance(executor, RayExecutor):
        return max(1, int(executor.cpus_per_task))
    return None


def _record(
    spec: RunSpec,
    out: RunOutcome | None,
    exc: BaseException | None,
    attempts: int,
    threads: int | None = None,
    suite: Suite | None = None,
) -> RunRecord:
    """The store record of a finished (or crashed) run (with its suite's name and hash)."""
    used = out.threads if out is not None and out.threads else threads
    base: dict[str, Any] = dict(
        run_id=spec.run_id,
        dataset=spec.dataset,
        model=spec.model,
        lam=spec.lam,
        seed=spec.seed,
        fold=spec.fold,
        config=spec.config.to_dict(),
        attempts=attempts,
        extra={"torch_threads": used} if used else {},
        suite=suite.name if suite is not None else "",
        suite_hash=suite.suite_hash if suite is not None else "",
    )
    if out is None:  # the worker itself died (crash, lost node): keep what we know
        return RunRecord(
            status="failed",
            error=f"worker error: {type(exc).__name__}: {exc}",
            finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            **base,
        )
    status = "ok" if out.error is None else "failed"
    return RunRecord(
        status=status,
        metrics=out.metrics,
        error=out.error,
        traceback=out.traceback,
        duration_s=out.duration_s,
        host=out.host,
        finished_at=out.finished_at,
        **base,
    )


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while a finished run is stored; they take effect right after, so a
    signal never costs a result that has already arrived."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        caught.append(signum)

    old = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if caught:
            signal.raise_signal(caught[0])


class SuiteChangedError(SuiteError):
    """A suite was changed after results exist under its name (a new protocol needs a new
    name)."""


def check_protocol(suite: Suite, store: ResultsStore) -> None:
    """Refuse to run ``suite`` into ``store`` when results of a suite of the same name but
    another protocol hash are there (:class:`SuiteChangedError`, naming what changed when
    the store's suite.json still holds the old protocol). Records of older versions (without
    a hash) cannot be checked and are let through with a warning."""
    new = suite.suite_hash
    hashes = store.suite_hashes()
    mine = {h: n for (name, h), n in hashes.items() if name == suite.name}
    unhashed = sum(n for (name, h), n in hashes.items() if not name and not h)
    if unhashed:
        log.warning(
            "%s: %d result(s) carry no suite hash (older spikeenergy); they cannot be checked "
            "against suite %s",
            store.root,
            unhashed,
            suite.name,
        )
    others = {h: n for h, n in mine.items() if h != new}
    if not others:
        return
    old, n_old = max(others.items(), key=lambda kv: kv[1])
    changed = ""
    try:
        saved = json.loads((store.root / "suite.json").read_text())
    except (OSError, ValueError):
        saved = {}
    if isinstance(saved, dict) and saved.get("suite_hash") == old:
        diff = [
            f"{k}: {a!r} -> {b!r}"
            for k, a, b in differences(saved.get("canonical"), suite.canonical())
        ]
        if diff:
            more = f"; and {len(diff) - 3} more" if len(diff) > 3 else ""
            changed = f" (changed: {'; '.join(diff[:3])}{more})"
    raise SuiteChangedError(
        f"suite {suite.name!r} has {n_old} result(s) in {store.root} under protocol "
        f"{old[:12]}, but this suite is protocol {new[:12]}{changed}: a pre-registered suite "
        "cannot change after results exist: give the edited suite a new name ([suite] name = "
        "...; its results then go to results/<new name>), or restore the original settings "
        "(command-line overrides such as --seeds count as changes)"
    )


def _val_score(metrics: dict[str, Any] | None, metric: str) -> float | None:
    """The validation ``metric`` of a run's metrics dict (None: no validation split)."""
    val = (metrics or {}).get("val")
    if not val:
        return None
    scores = val.get("scores") or {}
    if metric in scores:
        return float(scores[metric])
    return float(val["accuracy"]) if metric == "accuracy" and "accuracy" in val else None


def progress_text(best: tuple[float, str] | None, metric: str, failed: int = 0) -> str:
    """The progress bar's postfix: the best VALIDATION ``metric`` so far and where (test
    numbers are never shown while a sweep runs: selection looks at validation only)."""
    text = f"best val {metric} {best[1]}" if best else f"best val {metric} -"
    return text + (f" failed {failed}" if failed else "")


def _label(score: float, model: str, dataset: str, lam: float) -> str:
    return f"{score:.3f} {model}@{dataset} lam={lam:g}"


def _better(metric: str, a: float, b: float) -> bool:
    return task_metric(metric).is_better(a, b)


def _initial_best(table: pd.DataFrame, ids: set[str], metric: str) -> tuple[float, str] | None:
    ok = table[(table["status"] == "ok") & table["run_id"].isin(ids)]
    ok = ok[np.isfinite(ok["val_score"].astype(float))]
    best: tuple[float, str] | None = None
    for _, r in ok.iterrows():
        v = float(r["val_score"])
        if best is None or _better(metric, v, best[0]):
            best = v, _label(v, r["model"], r["dataset"], r["lam"])
    return best


def run_sweep(
    suite: Suite,
    store: ResultsStore,
    executor: Any = None,
    run_fn: RunFn = train_run,
    progress: bool = True,
    threads: int | None = 1,
    lock_timeout: float = 0.0,
) -> SweepResult:
    """Run every configuration of ``suite`` that has no "ok" record in ``store``.

    Completed runs are skipped and failed ones retried; each result is written as soon as it
    arrives, and results.csv with it. The progress bar shows runs done / total, the ETA and the
    best validation score (the suite's metric) so far; never a test number.

    A suite whose name has results of another protocol hash in ``store`` is refused before
    anything runs (:func:`check_protocol`).

    ``threads`` torch threads per run (recorded in each record): a fixed number makes the
    results independent of the number of workers; ``None`` shares the CPUs between the
    workers instead. The sweep holds ``store``'s sweep lock: a second sweep on the same store
    waits ``lock_timeout`` seconds, then raises :class:`~spikeenergy.bench.store.StoreBusyError`.
    """
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(f"threads={threads!r} must be an integer >= 1 (or None)")
    executor = executor if executor is not None else LocalExecutor()
    labels, skipped = available_datasets(suite)
    specs = expand_grid(suite, labels)
    with store.sweep_lock(lock_timeout):
        check_protocol(suite, store)
        store.remove_stale_temps()
        return _sweep_locked(suite, store, executor, run_fn, progress, threads, specs, skipped)


def _sweep_locked(
    suite: Suite,
    store: ResultsStore,
    executor: Any,
    run_fn: RunFn,
    progress: bool,
    threads: int | None,
    specs: list[RunSpec],
    skipped: dict[str, str],
) -> SweepResult:
    store.write_json(
        "suite.json",
        {
            **suite.to_dict(),
            "suite_hash": suite.suite_hash,
            "canonical": suite.canonical(),
            "skipped_datasets": skipped,
            "run_ids": [s.run_id for s in specs],
        },
    )
    table = store.consolidate()  # also quarantines unreadable records (named in a warning)
    done = store.completed()
    todo = [s for s in specs if s.run_id not in done]
    n_done = len(specs) - len(todo)
    log.info(
        "suite %s: %d runs, %d already done, %d to run on %s",
        suite.name,
        len(specs),
        n_done,
        len(todo),
        type(executor).__name__,
    )
    if threads is None:
        threads = _threads_for(executor, len(todo))
    tasks = [RunTask(s, threads, suite.modules, suite.keep_checkpoints) for s in todo]
    fn = functools.partial(execute, run_fn=run_fn)
    ok = failed = 0
    metric = suite.metric
    best = _initial_best(table, {s.run_id for s in specs}, metric)
    rows = {r["run_id"]: r for r in table.to_dict("records")}
    try:
        with (
            tqdm(
                total=len(specs),
                initial=n_done,
                desc=f"bench {suite.name}",
                unit="run",
                disable=not progress,
                dynamic_ncols=True,
            ) as bar,
            contextlib.closing(executor.map_unordered(fn, tasks)) as results,
        ):
            bar.set_postfix_str(progress_text(best, metric))
            for task, out, exc in results:
                spec = task.spec
                with _signals_deferred():
                    rec = _record(
                        spec, out, exc, store.attempts(spec.run_id) + 1, task.threads, suite
                    )
                    if store.put(rec):
                        if rec.status == "ok" and out is not None and out.checkpoint is not None:
                            store.write_checkpoint(rec.run_id, out.checkpoint)
                        rows[rec.run_id] = flat_row(rec)
                        store.write_csv(
                            pd.DataFrame([rows[k] for k in sorted(rows)], columns=list(COLUMNS))
                        )
                if rec.status == "ok":
                    ok += 1
                    score = _val_score(rec.metrics, metric)
                    if score is not None and (best is None or _better(metric, score, best[0])):
                        best = score, _label(score, spec.model, spec.dataset, spec.lam)
                else:
                    failed += 1
                    log.warning(
                        "run %s (%s, %s, lam=%g, seed=%d) failed: %s",
                        spec.run_id,
                        spec.dataset,
                        spec.model,
                        spec.lam,
                        spec.seed,
                        rec.error,
                    )
                bar.update(1)
                bar.set_postfix_str(progress_text(best, metric, failed))
    except BaseException:
        # interrupted or failed: leave results.csv/results.h5 matching the stored records
        # (best effort; a second Ctrl-C only stops this, atomic writes keep the files whole)
        with contextlib.suppress(Exception):
            store.consolidate()
        raise
    table = store.consolidate()
    return SweepResult(
        table=table,
        total=len(specs),
        already_done=n_done,
        ran=len(todo),
        ok=ok,
        failed=failed,
        skipped_datasets=skipped,
    )
