"""The sweep: skips completed runs, retries failed ones, survives being killed, and runs the
same through the serial and local-process executors."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from bench_fakes import fake_run, kill_script, tiny_suite

from spikeenergy.bench import (
    ResultsStore,
    RunSpec,
    SerialExecutor,
    expand_grid,
    prepare_shared,
    run_sweep,
    threads_per_worker,
)
from spikeenergy.data import FrameConfig
from spikeenergy.train import DataConfig, prepare_data


class Killed(BaseException):
    """Stands in for SIGINT/SIGKILL: not an Exception, so it is not stored as a failure."""


def counting(fn: Any, calls: list[str], kill_after: int | None = None) -> Any:
    def run(spec: RunSpec) -> dict[str, Any]:
        if kill_after is not None and len(calls) == kill_after:
            raise Killed
        calls.append(spec.run_id)
        return fn(spec)

    return run


def test_sweep_runs_every_configuration_once(tmp_path: Path) -> None:
    suite = tiny_suite()  # 1 dataset x 2 models x 2 lambdas x 2 seeds = 8 runs
    calls: list[str] = []
    res = run_sweep(
        suite,
        ResultsStore(tmp_path),
        SerialExecutor(),
        run_fn=counting(fake_run, calls),
        progress=False,
    )
    assert (res.total, res.ran, res.ok, res.failed) == (8, 8, 8, 0)
    assert sorted(calls) == sorted(s.run_id for s in expand_grid(suite))
    again = run_sweep(
        suite,
        ResultsStore(tmp_path),
        SerialExecutor(),
        run_fn=counting(fake_run, calls),
        progress=False,
    )
    # nothing re-run
    assert (again.already_done, again.ran) == (8, 0)
    assert len(calls) == 8


def test_killed_sweep_resumes_with_one_record_per_configuration(tmp_path: Path) -> None:
    suite = tiny_suite(n_models=2, lambdas=(0.0, 0.01, 0.1), seeds=(0, 1))  # 12 runs
    store = ResultsStore(tmp_path)
    calls: list[str] = []
    with pytest.raises(Killed):
        run_sweep(
            suite, store, SerialExecutor(), run_fn=counting(fake_run, calls, 5), progress=False
        )
    assert len(store.run_ids()) == 5  # the runs finished before the kill are kept
    res = run_sweep(
        suite, store, SerialExecutor(), run_fn=counting(fake_run, calls), progress=False
    )
    assert (res.already_done, res.ran) == (5, 7)
    ids = [s.run_id for s in expand_grid(suite)]
    assert sorted(calls) == sorted(ids)  # each configuration ran exactly once overall
    table = res.table
    assert len(table) == 12
    assert sorted(table["run_id"]) == sorted(ids)
    assert (table["status"] == "ok").all()


def test_sigkilled_process_resumes(tmp_path: Path) -> None:
    script = tmp_path / "sweep.py"
    out = tmp_path / "results"
    script.write_text(kill_script(out))
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    store = ResultsStore(out)
    deadline = time.time() + 60
    while len(store.run_ids()) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # no clean-up: whatever was in flight is lost
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode() if proc.stderr else ""
    n_before = len(store.run_ids())
    assert 3 <= n_before < 12
    suite = tiny_suite(n_models=2, lambdas=(0.0, 0.1, 1.0), seeds=(0, 1))
    calls: list[str] = []
    res = run_sweep(
        suite, store, SerialExecutor(), run_fn=counting(fake_run, calls), progress=False
    )
    assert res.already_done == n_before
    assert len(calls) == 12 - n_before
    assert sorted(store.run_ids()) == sorted(s.run_id for s in expand_grid(suite))


def test_failures_are_recorded_with_their_error_and_retried(tmp_path: Path) -> None:
    suite = tiny_suite()
    store = ResultsStore(tmp_path)

    def flaky(spec: RunSpec) -> dict[str, Any]:
        if spec.lam > 0 and spec.model == "mlp":
            raise ValueError("lr too high for this lambda")
        return fake_run(spec)

    res = run_sweep(suite, store, SerialExecutor(), run_fn=flaky, progress=False)
    assert (res.ok, res.failed) == (6, 2)
    bad = res.table[res.table["status"] == "failed"]
    assert set(bad["error"]) == {"ValueError: lr too high for this lambda"}
    assert bad["accuracy"].map(math.isnan).all()  # a failure is not an accuracy of 0
    rec = store.read(bad["run_id"].iloc[0])
    assert rec.traceback is not None
    assert "lr too high" in rec.traceback
    calls: list[str] = []
    res2 = run_sweep(
        suite, store, SerialExecutor(), run_fn=counting(fake_run, calls), progress=False
    )
    assert sorted(calls) == sorted(bad["run_id"])
    assert res2.failed == 0
    assert store.read(bad["run_id"].iloc[0]).attempts == 2
    assert (res2.table["status"] == "ok").all()
    assert len(res2.table) == 8


def test_threads_per_worker() -> None:
    assert threads_per_worker(2, cpus=2) == 1
    assert threads_per_worker(1, cpus=2) == 2
    assert threads_per_worker(4, cpus=16) == 4
    assert threads_per_worker(8, cpus=2) == 1  # never zero


def test_prepare_shared_matches_prepare_data() -> None:
    cfg = DataConfig(
        options={"limit": 40},
        frames=FrameConfig(n_time_bins=4, downsample=0.5),
        train_per_class=3,
        val_fraction=0.25,
    )
    for seed in (0, 1):
        a, b = prepare_shared(cfg, seed), prepare_data(cfg, seed)
        for part in ("train", "val", "test"):
            pa, pb = getattr(a, part), getattr(b, part)
            ia = list(getattr(pa, "indices", range(len(pa))))
            assert ia == list(getattr(pb, "indices", range(len(pb))))
            assert pa.targets == pb.targets
            assert pa[0][0].equal(pb[0][0])
        assert a.frame_shape == b.frame_shape
        assert a.num_classes == b.num_classes


def test_checkpoints_are_kept_beside_ok_records_unless_the_suite_opts_out(tmp_path: Path) -> None:
    from dataclasses import replace

    def saving_run(spec: RunSpec, checkpoint: Path | None = None) -> dict[str, Any]:
        if checkpoint is not None:  # a run function that can save its model is given a path
            Path(checkpoint).write_bytes(f"model of {spec.run_id}".encode())
        return fake_run(spec)

    def failing_saving_run(spec: RunSpec, checkpoint: Path | None = None) -> dict[str, Any]:
        if checkpoint is not None:
            Path(checkpoint).write_bytes(b"half-trained")
        raise RuntimeError("diverged")

    suite = tiny_suite(n_models=1, lambdas=(0.0,), seeds=(0, 1))  # 2 runs
    kept = ResultsStore(tmp_path / "kept")
    assert run_sweep(suite, kept, SerialExecutor(), run_fn=saving_run, progress=False).ok == 2
    for spec in expand_grid(suite):
        assert kept.checkpoint_path(spec.run_id).read_bytes() == f"model of {spec.run_id}".encode()
    assert not list(kept.runs_dir.glob(".*"))  # written atomically: no temporary files left
    off = ResultsStore(tmp_path / "off")
    run_sweep(
        replace(suite, keep_checkpoints=False),
        off,
        SerialExecutor(),
        run_fn=saving_run,
        progress=False,
    )
    assert len(off.run_ids()) == 2
    assert not list(off.runs_dir.glob("*.pt"))
    plain = ResultsStore(tmp_path / "plain")  # a run function without the keyword keeps none
    assert run_sweep(suite, plain, SerialExecutor(), run_fn=fake_run, progress=False).ok == 2
    assert not list(plain.runs_dir.glob("*.pt"))
    failed = ResultsStore(tmp_path / "failed")  # a failed run keeps none
    res = run_sweep(suite, failed, SerialExecutor(), run_fn=failing_saving_run, progress=False)
    assert res.failed == 2
    assert not list(failed.runs_dir.glob("*.pt"))
