"""Fault injection on the benchmark store and sweep: concurrent writers and sweeps, dead
workers, damaged and stale files, interrupts, a full disk. Every fault must end with nothing
lost: one "ok" record per configuration, no failure written over a good result.

Process-level faults use the ``fork`` start method (no re-import: fast); the end-to-end
command-line versions with ``spawn`` workers live in test_bench_signals.py (slow).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import h5py
import pandas as pd
import pytest
from bench_fakes import (
    MARKERS_ENV,
    always_dies_run,
    die_once_run,
    failing_run,
    fake_metrics,
    fake_run,
    slow_fake_run,
    threads_run,
    tiny_suite,
)

from spikeenergy.bench import (
    LocalExecutor,
    ResultsStore,
    RunRecord,
    RunSpec,
    SerialExecutor,
    expand_grid,
    run_sweep,
)
from spikeenergy.bench import executors as executors_mod
from spikeenergy.bench.store import StoreBusyError, StoreWriteError

FORK = mp.get_context("fork")
SUITE12 = dict(n_models=2, lambdas=(0.0, 0.1, 1.0), seeds=(0, 1))  # 12 configurations


def record(spec: RunSpec, status: str = "ok", attempts: int = 1) -> RunRecord:
    metrics = fake_metrics(spec) if status == "ok" else None
    error = None if status == "ok" else "RuntimeError: broken machine"
    return RunRecord(
        run_id=spec.run_id,
        status=status,
        dataset=spec.dataset,
        model=spec.model,
        lam=spec.lam,
        seed=spec.seed,
        config=spec.config.to_dict(),
        metrics=metrics,
        error=error,
        attempts=attempts,
        duration_s=1.0,
    )


def counting(fn: Any, calls: list[str]) -> Any:
    def run(spec: RunSpec) -> dict[str, Any]:
        calls.append(spec.run_id)
        return fn(spec)

    return run


def child_pids(parent: int) -> list[int]:
    """Live processes whose parent is ``parent`` (from /proc; Linux)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def all_ok_once(store: ResultsStore, specs: list[RunSpec]) -> None:
    """Exactly one record per configuration, each "ok"."""
    assert sorted(store.run_ids()) == sorted(s.run_id for s in specs)
    for s in specs:
        assert store.read(s.run_id).status == "ok", s.run_id


# ----------------------------------------------------------------------------- replacement


def test_a_failure_never_replaces_an_ok_record(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    a, b = expand_grid(tiny_suite())[:2]
    good = record(a)
    assert store.put(good)
    assert not store.put(record(a, "failed", attempts=2))  # refused: ok is final
    assert store.read(a.run_id) == good
    # a failure is replaced by a newer failure, and that by an ok
    assert store.put(record(b, "failed", attempts=1))
    assert store.put(record(b, "failed", attempts=2))
    assert store.read(b.run_id).attempts == 2
    assert store.put(record(b, "ok", attempts=3))
    assert store.read(b.run_id).status == "ok"


def _write_all(root: str, recs: list[RunRecord], passes: int) -> None:
    store = ResultsStore(Path(root))
    for _ in range(passes):
        for rec in recs:
            store.write(rec)


def test_concurrent_writers_of_the_same_runs_never_turn_ok_into_failed(tmp_path: Path) -> None:
    specs = expand_grid(tiny_suite())  # 8 runs
    good = FORK.Process(target=_write_all, args=(str(tmp_path), [record(s) for s in specs], 1))
    bad_recs = [record(s, "failed", attempts=2) for s in specs]
    bad = FORK.Process(target=_write_all, args=(str(tmp_path), bad_recs, 3))
    for p in (good, bad):
        p.start()
    for p in (good, bad):
        p.join(60)
        assert p.exitcode == 0
    _write_all(str(tmp_path), bad_recs, 1)  # and once more after the good writer finished
    all_ok_once(ResultsStore(tmp_path), specs)


# ----------------------------------------------------------------------------- two sweeps


def _first_sweep(root: str) -> None:
    run_sweep(
        tiny_suite(**SUITE12),
        ResultsStore(Path(root)),
        SerialExecutor(),
        run_fn=slow_fake_run,
        progress=False,
    )


def _wait_for_records(store: ResultsStore, n: int, proc: Any, timeout: float = 60) -> None:
    deadline = time.time() + timeout
    while len(store.run_ids()) < n and time.time() < deadline and proc.is_alive():
        time.sleep(0.02)
    assert len(store.run_ids()) >= n, "the first sweep did not start"


def test_a_second_sweep_is_refused_and_a_failing_one_loses_nothing(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    first = FORK.Process(target=_first_sweep, args=(str(tmp_path),))
    first.start()
    _wait_for_records(store, 1, first)
    # the second sweep would fail every run: it is refused before it runs any
    with pytest.raises(StoreBusyError, match=rf"being written by another sweep \(pid {first.pid}"):
        run_sweep(
            tiny_suite(**SUITE12), store, SerialExecutor(), run_fn=failing_run, progress=False
        )
    first.join(60)
    assert first.exitcode == 0
    specs = expand_grid(tiny_suite(**SUITE12))
    all_ok_once(store, specs)
    assert all(store.read(s.run_id).attempts == 1 for s in specs)  # nothing ran twice


def test_a_second_sweep_can_wait_and_then_finds_everything_done(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    first = FORK.Process(target=_first_sweep, args=(str(tmp_path),))
    first.start()
    _wait_for_records(store, 1, first)
    calls: list[str] = []
    res = run_sweep(
        tiny_suite(**SUITE12),
        store,
        SerialExecutor(),
        run_fn=counting(fake_run, calls),
        progress=False,
        lock_timeout=60,
    )
    first.join(60)
    assert (res.already_done, res.ran, calls) == (12, 0, [])
    all_ok_once(store, expand_grid(tiny_suite(**SUITE12)))


def test_a_sigkilled_sweep_does_not_block_the_next_one(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    first = FORK.Process(target=_first_sweep, args=(str(tmp_path),))
    first.start()
    _wait_for_records(store, 2, first)
    os.kill(first.pid, signal.SIGKILL)  # its lock dies with it
    first.join(10)
    res = run_sweep(tiny_suite(**SUITE12), store, SerialExecutor(), run_fn=fake_run, progress=False)
    assert res.already_done >= 2
    assert res.ok == 12 - res.already_done
    all_ok_once(store, expand_grid(tiny_suite(**SUITE12)))


# ----------------------------------------------------------------------------- dead workers


def test_a_worker_killed_mid_sweep_is_replaced_and_every_run_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv(MARKERS_ENV, str(markers))  # read by die_once_run in the workers
    store = ResultsStore(tmp_path / "out")
    with caplog.at_level(logging.WARNING):
        res = run_sweep(
            tiny_suite(**SUITE12),
            store,
            LocalExecutor(2, start_method="fork"),
            run_fn=die_once_run,
            progress=False,
        )
    assert len(list(markers.iterdir())) == 2  # two worker processes really died (SIGKILL)
    assert "a worker process died" in caplog.text
    assert (res.ok, res.failed) == (12, 0)  # neither the dead runs nor the healthy ones failed
    all_ok_once(store, expand_grid(tiny_suite(**SUITE12)))


def test_a_worker_sigkilled_from_outside_is_replaced(tmp_path: Path) -> None:
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc")
    store = ResultsStore(tmp_path)
    killed: list[int] = []
    me = os.getpid()

    def killer() -> None:
        deadline = time.time() + 60
        while not killed and time.time() < deadline:
            workers = child_pids(me)
            if workers and store.run_ids():  # mid-sweep: some runs done, workers busy
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
            time.sleep(0.02)

    t = threading.Thread(target=killer)
    t.start()
    res = run_sweep(
        tiny_suite(**SUITE12),
        store,
        LocalExecutor(2, start_method="fork"),
        run_fn=slow_fake_run,
        progress=False,
    )
    t.join()
    assert killed
    assert (res.ok, res.failed) == (12, 0)
    all_ok_once(store, expand_grid(tiny_suite(**SUITE12)))


def test_a_run_that_always_kills_its_worker_is_given_up_after_bounded_retries(
    tmp_path: Path,
) -> None:
    store = ResultsStore(tmp_path)
    suite = tiny_suite(n_models=1, lambdas=(0.0,), seeds=(0, 1))  # seed 1 is poisonous
    res = run_sweep(
        suite,
        store,
        LocalExecutor(1, start_method="fork", max_retries=2),
        run_fn=always_dies_run,
        progress=False,
    )
    assert (res.ok, res.failed) == (1, 1)
    bad = res.table[res.table["status"] == "failed"].iloc[0]
    assert bad["seed"] == 1
    assert "WorkerDiedError: the worker process died 3 times" in bad["error"]


# ----------------------------------------------------------------------------- damaged files


def _sweep8(store: ResultsStore, fn: Any = fake_run) -> Any:
    return run_sweep(tiny_suite(), store, SerialExecutor(), run_fn=fn, progress=False)


def test_a_truncated_record_is_named_quarantined_and_rerun(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = ResultsStore(tmp_path)
    _sweep8(store)
    victim_id = sorted(store.run_ids())[3]
    victim = store.record_path(victim_id)
    half = victim.read_bytes()[: victim.stat().st_size // 2]
    victim.write_bytes(half)
    calls: list[str] = []
    with caplog.at_level(logging.WARNING):
        res = _sweep8(store, counting(fake_run, calls))
    assert f"unreadable record {victim}" in caplog.text
    assert "moved to" in caplog.text
    assert calls == [victim_id]  # only the damaged run is re-run
    moved = list(store.quarantine_dir.glob(f"{victim_id}.*.h5"))
    # kept aside, not deleted
    assert len(moved) == 1
    assert moved[0].read_bytes() == half
    assert len(res.table) == 8
    assert (res.table["status"] == "ok").all()
    all_ok_once(store, expand_grid(tiny_suite()))


def test_report_names_an_unreadable_record_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from spikeenergy.bench import write_report

    store = ResultsStore(tmp_path)
    _sweep8(store)
    victim = store.record_path(sorted(store.run_ids())[0])
    victim.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 40)  # an HDF5 signature, then nothing
    with caplog.at_level(logging.WARNING):
        path = write_report(tmp_path)
    assert f"unreadable record {victim}" in caplog.text
    text = path.read_text()
    assert "(7 runs: 7 ok, 0 failed)" in text
    assert "1 of the grid's 8 runs have no record yet" in text


def _report_as_nobody(store_dir: str, out_dir: str) -> None:
    from spikeenergy.cli import main

    os.setgid(65534)
    os.setuid(65534)
    os._exit(main(["report", store_dir, "--out", out_dir]))


@pytest.mark.slow  # two reports with plots (about 12 s on 2 busy cores)
def test_report_works_on_a_read_only_store(tmp_path: Path) -> None:
    import tempfile

    from spikeenergy.bench import write_report

    base = Path(tempfile.mkdtemp(prefix="ro-store-"))  # outside pytest's private tmp folder
    try:
        store = ResultsStore(base / "store")
        _sweep8(store)
        write_report(store.root, tmp_path / "warm-up")  # imports everything the report needs
        out = base / "report"
        out.mkdir()
        os.chmod(out, 0o777)
        before = {p: p.stat().st_mtime_ns for p in store.root.rglob("*")}
        for p in [base, *store.root.rglob("*"), store.root]:
            if p != out:
                os.chmod(p, 0o555 if p.is_dir() else 0o444)
        if os.geteuid() == 0:  # root writes anywhere: report as an unprivileged user
            child = FORK.Process(target=_report_as_nobody, args=(str(store.root), str(out)))
            child.start()
            child.join(120)
            assert child.exitcode == 0
        else:
            from spikeenergy.cli import main

            assert main(["report", str(store.root), "--out", str(out)]) == 0
        assert "(8 runs: 8 ok, 0 failed)" in (out / "report.md").read_text()
        assert {p: p.stat().st_mtime_ns for p in store.root.rglob("*")} == before  # untouched
    finally:
        for p in [base, *base.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
        import shutil

        shutil.rmtree(base)


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    _sweep8(store)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    stale = store.runs_dir / f".abc.h5.{dead_pid}.0123abcd.tmp"
    live = store.runs_dir / f".def.h5.{os.getpid()}.0123abcd.tmp"  # a write in flight
    stale_root = tmp_path / f".results.csv.{dead_pid}.89abcdef.tmp"
    for p in (stale, live, stale_root):
        p.write_bytes(b"half")
    _sweep8(store)
    assert not stale.exists()
    assert not stale_root.exists()
    assert live.exists()


# ----------------------------------------------------------------------------- live table


def test_results_csv_is_updated_as_runs_finish(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    rows_seen: list[int] = []

    def run(spec: RunSpec) -> dict[str, Any]:
        rows_seen.append(len(pd.read_csv(store.csv_path)))
        return fake_run(spec)

    _sweep8(store, run)
    assert rows_seen == list(range(8))  # every finished run is in the table before the next


# ----------------------------------------------------------------------------- threads


def test_the_worker_count_does_not_change_the_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # on a 4-CPU machine the old rule gave 4 threads to 1 worker and 2 to each of 2 workers
    monkeypatch.setattr(executors_mod, "cpu_count", lambda: 4)
    tables = []
    for workers in (1, 2):
        store = ResultsStore(tmp_path / f"w{workers}")
        res = run_sweep(
            tiny_suite(),
            store,
            LocalExecutor(workers, start_method="fork"),
            run_fn=threads_run,
            progress=False,
        )
        tables.append(res.table.sort_values("run_id").reset_index(drop=True))
        rid = res.table["run_id"].iloc[0]
        assert store.read(rid).extra["torch_threads"] == 1  # recorded with the run
    assert tables[0]["accuracy"].tolist() == tables[1]["accuracy"].tolist()
    assert (tables[0]["accuracy"] == 0.01).all()  # threads_run reports threads / 100


# ----------------------------------------------------------------------------- interrupts


def sleepy_run(spec: RunSpec) -> dict[str, Any]:
    """Seed 0 finishes at once; seed 1 would take a minute (in flight when interrupted)."""
    if spec.seed == 1:
        time.sleep(60)
    return fake_run(spec)


def test_an_interrupt_stops_the_workers_at_once_and_keeps_finished_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ResultsStore(tmp_path)
    real_put = ResultsStore.put
    puts: list[str] = []

    def put_then_interrupt(self: ResultsStore, rec: RunRecord) -> bool:
        done = real_put(self, rec)
        puts.append(rec.run_id)
        if len(puts) == 2:
            raise KeyboardInterrupt  # stands in for Ctrl-C / SIGTERM in the sweep process
        return done

    monkeypatch.setattr(ResultsStore, "put", put_then_interrupt)
    start = time.time()
    with pytest.raises(KeyboardInterrupt):
        run_sweep(
            tiny_suite(lambdas=(0.0,), seeds=(0, 1), n_models=4),
            store,
            LocalExecutor(2, start_method="fork"),
            run_fn=sleepy_run,
            progress=False,
        )
    assert time.time() - start < 30  # the minute-long runs in flight were stopped, not awaited
    if Path("/proc/self/stat").exists():
        assert child_pids(os.getpid()) == []  # no worker left behind
    assert sorted(store.run_ids()) == sorted(puts)  # both finished runs are stored
    assert not list(tmp_path.rglob(".*.tmp"))
    assert len(pd.read_csv(store.csv_path)) == 2


# ----------------------------------------------------------------------------- full disk


def files_too_large_after(n: int, limit: int = 4096) -> Any:
    """A run function that, after ``n`` runs, limits the files this process may write to
    ``limit`` bytes (RLIMIT_FSIZE: writes then fail as on a full disk)."""
    calls = [0]

    def run(spec: RunSpec) -> dict[str, Any]:
        calls[0] += 1
        if calls[0] == n + 1:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a fatal signal
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        return fake_run(spec)

    return run


def _sweep_on_full_disk(root: str, queue: Any) -> None:
    try:
        _sweep8(ResultsStore(Path(root)), files_too_large_after(2))
        queue.put("finished")
    except StoreWriteError as exc:
        queue.put(f"StoreWriteError: {exc}")
    except BaseException as exc:  # noqa: BLE001 - reported to the test
        queue.put(f"{type(exc).__name__}: {exc}")


def test_a_full_disk_stops_the_sweep_with_one_clear_error(tmp_path: Path) -> None:
    queue = FORK.Queue()
    child = FORK.Process(target=_sweep_on_full_disk, args=(str(tmp_path), queue))
    child.start()
    child.join(60)
    assert child.exitcode == 0  # no crash
    message = queue.get(timeout=5)
    assert message.startswith("StoreWriteError: ")
    assert "File too large" in message
    assert "runs/" in message
    assert message.count("\n") == 0
    store = ResultsStore(tmp_path)
    assert len(store.run_ids()) == 2  # the records written before are intact
    for rid in store.run_ids():
        assert store.read(rid).status == "ok"
    assert not list(tmp_path.rglob(".*.tmp"))
    with h5py.File(store.record_path(store.run_ids()[0]), "r") as f:
        assert f.attrs["status"] == "ok"


@pytest.mark.slow
def test_real_runs_give_identical_numbers_on_one_and_two_workers(tmp_path: Path) -> None:
    from spikeenergy.bench import Suite, SuiteDataset, SuiteModel
    from spikeenergy.data import FrameConfig
    from spikeenergy.models import ModelSpec
    from spikeenergy.train import DataConfig, TrainConfig

    suite = Suite(
        name="threads",
        datasets=(
            SuiteDataset(
                "d",
                DataConfig(
                    options={"limit": 40},
                    train_per_class=2,
                    test_per_class=1,
                    frames=FrameConfig(n_time_bins=3, downsample=0.5),
                ),
            ),
        ),
        models=(
            SuiteModel("mlp", ModelSpec(family="mlp", hidden=(16,))),
            SuiteModel("snn", ModelSpec(family="snn-mlp", hidden=(16,))),
        ),
        lambdas=(0.0, 0.1),
        seeds=(0,),
        train=TrainConfig(epochs=2, batch_size=4, device="cpu"),
    )
    cols = ["run_id", "accuracy", "loss", "energy", "synops_per_sample", "best_val_accuracy"]
    tables = []
    for workers in (1, 2):
        res = run_sweep(
            suite, ResultsStore(tmp_path / f"w{workers}"), LocalExecutor(workers), progress=False
        )
        assert res.ok == 4
        tables.append(res.table[cols].sort_values("run_id").reset_index(drop=True))
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)
