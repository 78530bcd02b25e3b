"""The tutorials run end to end (small sizes) and are listed in docs/tutorials/README.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TUTORIALS = REPO / "docs" / "tutorials"


def test_every_tutorial_is_listed() -> None:
    listed = (TUTORIALS / "README.md").read_text()
    scripts = sorted(p.name for p in TUTORIALS.glob("*.py"))
    assert scripts, "no tutorials found"
    for name in scripts:
        assert f"]({name})" in listed, f"{name} is not listed in docs/tutorials/README.md"


def test_own_dataset_tutorial_runs(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    script = TUTORIALS / "own_dataset.py"
    # from another folder, as a user would run it: every path must hold from there
    proc = subprocess.run(
        [sys.executable, str(script), "--out", "out", "--quick", "--workers", "2"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = proc.stdout
    # the test split of --quick holds 100 windows, 10 of them events (n * 0.1, exactly); the
    # "always normal" answer is right on 90: accuracy 90/100 = 0.900, recalls 1 (normal) and
    # 0 (event): balanced accuracy 0.500; F1 normal 2*90/(90+100) = 0.947, event 0: macro 0.474
    assert "always 'normal': accuracy 0.900  balanced accuracy 0.500  macro-F1 0.474" in text
    out = tmp_path / "out"
    suite = (out / "suite.toml").read_text()
    assert 'metric = "balanced_accuracy"' in suite and 'class_weights = "balanced"' in suite
    assert f'modules = ["{script}"]' in suite
    assert "suite burst-sensor: 4 runs (0 already done, 4 ok, 0 failed" in text

    from spikeenergy.bench import ResultsStore

    store = ResultsStore(out / "bench")
    recs = list(store.records())
    assert len(recs) == 4 and all(r.status == "ok" for r in recs)
    for rec in recs:
        assert rec.metrics is not None and rec.metrics["metric"] == "balanced_accuracy"
        assert store.checkpoint_path(rec.run_id).stat().st_size > 0
    assert (out / "bench" / "report.md").stat().st_size > 0
    train = json.loads((out / "train" / "metrics.json").read_text())
    assert train["config"]["data"]["options"] == {"n": 100}
    assert train["config"]["train"]["class_weights"] == "balanced"
    energy = (out / "energy.json").read_text()
    assert '"burst-sensor"' in energy and "cmos45" in energy and "loihi" in energy


def test_own_dataset_options_are_checked() -> None:
    """The tutorial's option checker refuses bad values, naming the option."""
    sys.path.insert(0, str(TUTORIALS))
    try:
        import own_dataset
    finally:
        sys.path.remove(str(TUTORIALS))
    try:
        from spikeenergy.data import load_dataset

        with pytest.raises(
            ValueError, match=r"event_fraction=0\.9 must be a number in \(0, 0\.5\]"
        ):
            load_dataset("burst-sensor", n=40, event_fraction=0.9)
        ds = load_dataset("burst-sensor", "test", n=40)
        assert sum(ds.targets) == 4 and len(ds) == 40  # exactly 10 % events
        events, _ = ds[0]
        assert events.dtype.names == ("t", "x", "p") and events["x"].max() < 4
        assert events["t"].max() <= 1_000_000  # inside the 1 s window of the fixed frames
    finally:
        from spikeenergy.data import DATASETS

        DATASETS.unregister("burst-sensor")
        sys.modules.pop("own_dataset", None)
        del own_dataset
