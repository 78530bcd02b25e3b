"""Run a suite's grid: skip completed runs, execute the rest on an executor, store every result.

Functions over frozen configs; nothing here changes a caller's model or config. A run that
raises is stored as a "failed" record with its error (and retried by the next sweep); a sweep
that is killed keeps every record written so far and loses only the runs in flight.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import socket
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from spikeenergy.bench.executors import (
    LocalExecutor,
    RayExecutor,
    threads_per_worker,
)
from spikeenergy.bench.store import ResultsStore, RunRecord
from spikeenergy.bench.suite import RunSpec, Suite, expand_grid
from spikeenergy.data import DatasetNotFoundError, FrameDataset, load_dataset
from spikeenergy.train import DataConfig, PreparedData, prepare_data, run_experiment

log = logging.getLogger(__name__)

#: a run function: one grid cell -> the metrics dict of ``run_experiment`` (schema metrics/1)
RunFn = Callable[[RunSpec], dict[str, Any]]


@dataclass(frozen=True)
class RunTask:
    """What a worker receives: the run and how many torch threads it may use."""

    spec: RunSpec
    threads: int | None = None  # None: leave torch's thread count alone (in-process runs)


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
    events = load_dataset(cfg.name, split, root=cfg.root, **cfg.options)
    return FrameDataset(events, replace(cfg.frames, cache="memory"))


def _shared_opener(cfg: DataConfig, split: str) -> FrameDataset:
    keep = {
        "name": cfg.name,
        "root": cfg.root,
        "options": cfg.options,
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


def train_run(spec: RunSpec) -> dict[str, Any]:
    """The default run function: train and test ``spec.config``; returns its metrics dict."""
    data = prepare_shared(spec.config.data, spec.seed)
    return run_experiment(spec.config, out_dir=None, progress=False, data=data)


def execute(task: RunTask, run_fn: RunFn = train_run) -> RunOutcome:
    """Run one task in a worker; any Exception becomes an outcome with the error, never 0.0."""
    if task.threads is not None:
        torch.set_num_threads(task.threads)
    start = time.perf_counter()
    metrics = err = tb = None
    try:
        metrics = run_fn(task.spec)
    except Exception as exc:  # noqa: BLE001 - stored as a failed record and retried later
        err, tb = f"{type(exc).__name__}: {exc}", traceback.format_exc()
    return RunOutcome(
        run_id=task.spec.run_id,
        metrics=metrics,
        error=err,
        traceback=tb,
        duration_s=time.perf_counter() - start,
        host=socket.gethostname(),
        finished_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
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
            load_dataset(ds.data.name, "train", root=ds.data.root, **ds.data.options)
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
    if isinstance(executor, LocalExecutor):
        return threads_per_worker(min(executor.workers, max(1, n_tasks)))
    if isinstance(executor, RayExecutor):
        return max(1, int(executor.cpus_per_task))
    return None


def _record(
    spec: RunSpec, out: RunOutcome | None, exc: BaseException | None, attempts: int
) -> RunRecord:
    """The store record of a finished (or crashed) run."""
    base: dict[str, Any] = dict(
        run_id=spec.run_id,
        dataset=spec.dataset,
        model=spec.model,
        lam=spec.lam,
        seed=spec.seed,
        config=spec.config.to_dict(),
        attempts=attempts,
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


def _label(acc: float, model: str, dataset: str, lam: float) -> str:
    return f"{acc:.3f} {model}@{dataset} lam={lam:g}"


def _initial_best(table: pd.DataFrame, ids: set[str]) -> tuple[float, str] | None:
    ok = table[(table["status"] == "ok") & table["run_id"].isin(ids)]
    if ok.empty:
        return None
    r = ok.loc[ok["accuracy"].idxmax()]
    return float(r["accuracy"]), _label(r["accuracy"], r["model"], r["dataset"], r["lam"])


def run_sweep(
    suite: Suite,
    store: ResultsStore,
    executor: Any = None,
    run_fn: RunFn = train_run,
    progress: bool = True,
) -> SweepResult:
    """Run every configuration of ``suite`` that has no "ok" record in ``store``.

    Completed runs are skipped and failed ones retried; each result is written as soon as it
    arrives. The progress bar shows runs done / total, the ETA and the best accuracy so far.
    """
    executor = executor if executor is not None else LocalExecutor()
    labels, skipped = available_datasets(suite)
    specs = expand_grid(suite, labels)
    store.write_json(
        "suite.json",
        {**suite.to_dict(), "skipped_datasets": skipped, "run_ids": [s.run_id for s in specs]},
    )
    table = store.consolidate()
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
    threads = _threads_for(executor, len(todo))
    tasks = [RunTask(s, threads) for s in todo]
    fn = functools.partial(execute, run_fn=run_fn)
    ok = failed = 0
    best = _initial_best(table, {s.run_id for s in specs})
    with tqdm(
        total=len(specs),
        initial=n_done,
        desc=f"bench {suite.name}",
        unit="run",
        disable=not progress,
        dynamic_ncols=True,
    ) as bar:
        bar.set_postfix_str(f"best {best[1] if best else '-'}")
        for task, out, exc in executor.map_unordered(fn, tasks):
            spec = task.spec
            rec = _record(spec, out, exc, store.attempts(spec.run_id) + 1)
            store.write(rec)
            if rec.status == "ok":
                ok += 1
                assert rec.metrics is not None
                acc = float(rec.metrics["test"]["accuracy"])
                if best is None or acc > best[0]:
                    best = acc, _label(acc, spec.model, spec.dataset, spec.lam)
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
            bar.set_postfix_str(
                f"best {best[1] if best else '-'}" + (f" failed {failed}" if failed else "")
            )
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
