"""Results store: record round trip, failures kept as errors (NaN, never 0.0), consolidation,
atomic writes and concurrent writers."""

from __future__ import annotations

import math
import multiprocessing as mp
from pathlib import Path

import h5py
import pandas as pd
from bench_fakes import fake_metrics, tiny_suite

from spikeenergy.bench import ResultsStore, RunRecord, expand_grid, flat_row


def ok_record(i: int = 0) -> RunRecord:
    spec = expand_grid(tiny_suite())[i]
    return RunRecord(
        run_id=spec.run_id,
        status="ok",
        dataset=spec.dataset,
        model=spec.model,
        lam=spec.lam,
        seed=spec.seed,
        config=spec.config.to_dict(),
        metrics=fake_metrics(spec),
        duration_s=1.5,
        host="h",
        finished_at="2024-01-01T00:00:00+00:00",
        extra={"note": [1, 2]},
    )


def test_record_round_trip(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    rec = ok_record()
    path = store.write(rec)
    assert path == tmp_path / "runs" / f"{rec.run_id}.h5"
    back = store.read(rec.run_id)
    assert back == rec  # every field, nested metrics and config included
    with h5py.File(path, "r") as f:  # curves are plain arrays for other HDF5 tools
        assert f["curves/train_loss"][()].tolist() == [1.0, 0.5]
        assert f.attrs["status"] == "ok"
    assert store.completed() == {rec.run_id}


def test_failed_record_keeps_the_error_and_has_nan_metrics(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    spec = expand_grid(tiny_suite())[1]
    rec = RunRecord(
        run_id=spec.run_id,
        status="failed",
        dataset=spec.dataset,
        model=spec.model,
        lam=spec.lam,
        seed=spec.seed,
        config=spec.config.to_dict(),
        error="ValueError: boom",
        traceback="tb",
        attempts=2,
        duration_s=0.5,
    )
    store.write(rec)
    assert store.read(spec.run_id) == rec
    assert store.completed() == set()
    assert store.attempts(spec.run_id) == 2
    row = flat_row(rec)
    assert row["status"] == "failed"
    assert row["error"] == "ValueError: boom"
    # never 0.0
    assert math.isnan(row["accuracy"])
    assert math.isnan(row["energy"])


def test_flat_row_values() -> None:
    rec = ok_record()
    m = rec.metrics
    assert m is not None
    row = flat_row(rec)
    assert row["accuracy"] == m["test"]["accuracy"]
    assert row["energy"] == m["test"]["energy"]["joules"]
    led = m["test"]["ledger"]
    assert row["spike_rate"] == led["rates"]["spike_rate"]
    assert row["acs"] == led["total"]["acs"]
    # joules per inference on every built-in target, and on the run's own target
    assert row["energy_j[loihi]"] == led["energy"]["loihi"]["energy_j"]
    assert row["target"] == "cmos45"
    assert row["energy_j"] == row["energy_j[cmos45]"]
    assert row["val_energy_j"] == m["val"]["ledger"]["energy"]["cmos45"]["energy_j"]
    assert math.isnan(row["time_to_target_s"])  # target never reached: NaN, not 0


def test_consolidate_writes_csv_and_h5(tmp_path: Path) -> None:
    store = ResultsStore(tmp_path)
    recs = [ok_record(i) for i in range(3)]
    for r in recs:
        store.write(r)
    (tmp_path / "runs" / ".half-written.h5.123.tmp").write_bytes(b"\x00garbage")  # in flight
    table = store.consolidate()
    assert sorted(table["run_id"]) == sorted(r.run_id for r in recs)
    csv = pd.read_csv(tmp_path / "results.csv")
    assert sorted(csv["run_id"]) == sorted(table["run_id"])
    with h5py.File(tmp_path / "results.h5", "r") as f:
        assert sorted(k for k in f["runs"]) == sorted(r.run_id for r in recs)
        assert f["table/accuracy"].shape == (3,)
    assert len(store.curves()) == 6  # 3 runs x 2 epochs


def _writer(root: str, offset: int) -> None:
    store = ResultsStore(Path(root))
    for i in range(offset, offset + 4):
        store.write(ok_record(i))
        store.consolidate()


def test_two_processes_never_corrupt_the_store(tmp_path: Path) -> None:
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), k)) for k in (0, 4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = ResultsStore(tmp_path)
    table = store.consolidate()
    assert len(table) == 8
    assert table["run_id"].is_unique
    assert not list((tmp_path / "runs").glob(".*tmp"))  # no leftovers
    assert all(store.read(r).status == "ok" for r in table["run_id"])


def test_ok_record_factory_stamps_provenance_and_round_trips(tmp_path: Path) -> None:
    import datetime as dt
    import socket

    from spikeenergy.bench import ok_record as make_ok_record

    spec = expand_grid(tiny_suite())[0]
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    rec = make_ok_record(
        run_id="trial-00003",
        dataset=spec.dataset,
        model="#3 mlp",
        lam=spec.lam,
        seed=spec.seed,
        config=spec.config.to_dict(),
        metrics=fake_metrics(spec),
        duration_s=2,
    )
    assert rec.status == "ok"
    assert rec.host == socket.gethostname()
    assert before <= dt.datetime.fromisoformat(rec.finished_at) <= dt.datetime.now(dt.timezone.utc)
    assert isinstance(rec.duration_s, float)
    assert rec.suite == ""
    store = ResultsStore(tmp_path)
    assert store.put(rec)
    assert store.read("trial-00003") == rec
    assert flat_row(rec)["model"] == "#3 mlp"
