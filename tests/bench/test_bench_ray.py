"""The Ray executor goes through the same sweep code path (local Ray instance)."""

from __future__ import annotations

from pathlib import Path

import bench_fakes
import pytest

from spikeenergy.bench import RayExecutor, ResultsStore, SerialExecutor, run_sweep

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'spikeenergy[ray]')")


def test_ray_sweep_matches_serial(tmp_path: Path) -> None:
    from ray import cloudpickle

    cloudpickle.register_pickle_by_value(bench_fakes)  # the test helpers are not installed
    suite = bench_fakes.tiny_suite()
    res = run_sweep(
        suite,
        ResultsStore(tmp_path / "ray"),
        RayExecutor(n_workers=2),
        run_fn=bench_fakes.fake_run,
        progress=False,
    )
    assert (res.total, res.ok, res.failed) == (8, 8, 0)
    assert not ray.is_initialized()  # the local instance it started is shut down
    serial = run_sweep(
        suite,
        ResultsStore(tmp_path / "serial"),
        SerialExecutor(),
        run_fn=bench_fakes.fake_run,
        progress=False,
    )
    cols = ["run_id", "accuracy", "energy"]
    a = res.table[cols].sort_values("run_id").reset_index(drop=True)
    b = serial.table[cols].sort_values("run_id").reset_index(drop=True)
    assert a.equals(b)
    again = run_sweep(
        suite,
        ResultsStore(tmp_path / "ray"),
        RayExecutor(n_workers=2),
        run_fn=bench_fakes.fake_run,
        progress=False,
    )
    assert again.ran == 0  # resume works the same way (no Ray start needed for 0 tasks)
