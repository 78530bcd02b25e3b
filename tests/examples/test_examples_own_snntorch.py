"""examples/own_snntorch_model.py runs end to end on the embedded digits-dvs data (small)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

pytest.importorskip("snntorch")
pytest.importorskip("norse")
pytest.importorskip("nir")

from spikeenergy.export import read_nir_metadata  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "own_snntorch_model.py"


def _load_example():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("own_snntorch_model", EXAMPLE)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_own_snntorch_model_example(tmp_path: Path) -> None:
    example = _load_example()
    out = tmp_path / "own.nir"
    with torch.random.fork_rng():  # the script seeds the global RNG, as a user's script does
        summary = example.main(["--limit", "16", "--epochs", "2", "--bins", "6", "--out", str(out)])
    for t in example.TARGETS:
        assert summary[f"energy_j_before[{t}]"] > 0
        assert summary[f"energy_j_after[{t}]"] > 0
    # retraining with the joules term (and pruning) lowers the Loihi joules
    assert summary["energy_j_after[loihi]"] < summary["energy_j_before[loihi]"]
    assert 0 <= summary["accuracy_after"] <= 1
    # the NIR file was written (only after both importers reproduced every spike) with joules
    graph, meta = read_nir_metadata(out)
    assert {"1", "2", "3", "4"} <= set(graph.nodes)
    assert meta["total.energy_j[loihi]"] == pytest.approx(summary["energy_j_after[loihi]"])
    layer = graph.nodes["1"].metadata  # the input Linear: its own joules on each target
    assert layer["energy_j[loihi]"] > 0
    assert layer["energy_j[cmos45]"] > 0
