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
    assert 'metric = "balanced_accuracy"' in suite
    assert 'class_weights = "balanced"' in suite
    assert f'modules = ["{script}"]' in suite
    assert "suite burst-sensor: 4 runs (0 already done, 4 ok, 0 failed" in text

    from spikeenergy.bench import ResultsStore

    store = ResultsStore(out / "bench")
    recs = list(store.records())
    assert len(recs) == 4
    assert all(r.status == "ok" for r in recs)
    for rec in recs:
        assert rec.metrics is not None
        assert rec.metrics["metric"] == "balanced_accuracy"
        assert store.checkpoint_path(rec.run_id).stat().st_size > 0
    assert (out / "bench" / "report.md").stat().st_size > 0
    train = json.loads((out / "train" / "metrics.json").read_text())
    assert train["config"]["data"]["options"] == {"n": 100}
    assert train["config"]["train"]["class_weights"] == "balanced"
    energy = (out / "energy.json").read_text()
    assert '"burst-sensor"' in energy
    assert "cmos45" in energy
    assert "loihi" in energy


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
        # exactly 10 % events
        assert sum(ds.targets) == 4
        assert len(ds) == 40
        events, _ = ds[0]
        assert events.dtype.names == ("t", "x", "p")
        assert events["x"].max() < 4
        assert events["t"].max() <= 1_000_000  # inside the 1 s window of the fixed frames
    finally:
        from spikeenergy.data import DATASETS

        DATASETS.unregister("burst-sensor")
        sys.modules.pop("own_dataset", None)
        del own_dataset


def run_tutorial(name: str, tmp_path: Path) -> dict:
    """Run docs/tutorials/NAME --quick from another folder; its summary.json."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(TUTORIALS / name), "--out", "out", "--quick"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((tmp_path / "out" / "summary.json").read_text())


def test_measure_own_model_tutorial(tmp_path: Path) -> None:
    summary = run_tutorial("measure_own_model.py", tmp_path)
    from spikeenergy.data import FrameConfig, FrameDataset, load_dataset
    from spikeenergy.export import read_report

    # independent count: every input spike reaches the 64 units of the first layer (one AC
    # each), so its ACs per inference are (input spikes per sample) x 64
    frames = FrameConfig(n_time_bins=6, downsample=0.5, binarize=True)
    test = FrameDataset(load_dataset("digits-dvs", "test", limit=60), frames)
    spikes = sum(float(test[i][0].sum()) for i in range(len(test))) / len(test)
    mlp, snn, norse = summary["pytorch-mlp"], summary["snntorch"], summary["norse"]
    assert mlp["samples"] == snn["samples"] == norse["samples"] == 60
    # the MLP's second layer reads ReLU outputs (graded): MACs, no ACs
    assert mlp["effective_acs"] == pytest.approx(spikes * 64, rel=1e-9)
    assert mlp["effective_macs"] > 0
    # Norse: hidden spikes each reach the 10 outputs; no output neurons, so all spikes are hidden
    assert norse["effective_acs"] == pytest.approx(
        spikes * 64 + 10 * norse["spikes_per_sample"], rel=1e-9
    )
    assert snn["effective_acs"] >= spikes * 64
    assert snn["effective_macs"] == 0
    for name, row in summary.items():
        back = read_report(tmp_path / "out" / f"{name}.csv")
        assert back.energy_j("loihi") == pytest.approx(row["energy_j[loihi]"], rel=1e-12)
        # a GPU prices every dense op: it costs more than Loihi on the same counts
        assert row["energy_j[gpu]"] > row["energy_j[loihi]"] > 0


def test_energy_term_training_tutorial(tmp_path: Path) -> None:
    s = run_tutorial("energy_term_training.py", tmp_path)
    # lambda was set so that lambda x (measured pJ before) = 2; the term on the first training
    # batch measures the same model on other samples, so it is close to that
    assert s["lam_per_pj"] * s["energy_j_before"] * 1e12 == pytest.approx(2.0, rel=1e-9)
    assert s["lam_per_pj"] * s["term_pj_first_batch"] == pytest.approx(2.0, rel=0.3)
    # the term lowered the joules (measured on the test split by the Harness)
    assert s["energy_j_after"] < 0.9 * s["energy_j_before"]
    assert s["term_pj_last_batch"] < s["term_pj_first_batch"]


def test_nir_export_tutorial(tmp_path: Path) -> None:
    nir = pytest.importorskip("nir")
    s = run_tutorial("nir_export.py", tmp_path)
    graph = nir.read(tmp_path / "out" / "model.nir")  # read by NIR itself
    kinds = [type(graph.nodes[n]).__name__ for n in ("input", "1", "2", "3", "4", "output")]
    assert kinds == ["Input", "Affine", "LIF", "Affine", "LIF", "Output"]
    assert graph.nodes["1"].weight.shape == (32, 2 * 17 * 17)
    assert graph.nodes["3"].weight.shape == (10, 32)
    stored = float(graph.metadata["total.energy_j[loihi]"])
    assert stored == pytest.approx(s["energy_j[loihi]"], rel=1e-12)
    assert stored > 0
