"""A user dataset named by a suite's ``modules`` reaches the workers of a local Ray instance."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import plugin_fakes
import pytest

from spikeenergy.bench import ResultsStore
from spikeenergy.cli import main

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'spikeenergy[ray]')")


@pytest.fixture
def cleanup(tmp_path: Path) -> Iterator[list[str]]:
    names: list[str] = []
    yield names
    plugin_fakes.forget(tmp_path, names)


@pytest.mark.slow  # starting a local Ray instance takes ~10-30 s
def test_ray_workers_import_suite_modules(
    tmp_path: Path,
    cleanup: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    monkeypatch.setenv("WALK_MARKERS", str(markers))  # Ray's processes inherit the environment
    plugin_fakes.write_module(tmp_path / "mods", "walk_ray_mod", "walk-ray")
    cleanup.append("walk-ray")
    suite = tmp_path / "walk.toml"
    suite.write_text(
        plugin_fakes.suite_text(
            "walk-ray",
            ["walk-ray"],
            suite_extra='modules = ["mods/walk_ray_mod.py"]',
        ).replace("seeds = 1", "seeds = 2")  # two runs, one per Ray worker
    )
    out = tmp_path / "results"
    argv = ["bench", str(suite), "--executor", "ray", "--workers", "2", "--out", str(out)]
    assert main([*argv, "--device", "cpu", "--no-progress", "--no-report"]) == 0
    assert "suite walk-ray: 2 runs (0 already done, 2 ok, 0 failed" in capsys.readouterr().out
    assert not ray.is_initialized()  # the local instance is shut down
    store = ResultsStore(out)
    recs = list(store.records())
    assert [r.status for r in recs] == ["ok", "ok"]
    for rec in recs:
        assert store.checkpoint_path(rec.run_id).stat().st_size > 0
    pids = {int(p.name.rsplit(".", 1)[1]) for p in markers.glob("walk-ray.*")}
    assert pids - {os.getpid()}, pids  # Ray worker processes imported the module
