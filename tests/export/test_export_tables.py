"""JSON / CSV / HDF5 reports read back equal, with identity, versions and cost models."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spikeenergy.energy.cost_models import BUILTIN_COST_MODELS
from spikeenergy.export import (
    format_for,
    model_identity,
    package_versions,
    read_report,
    write_report,
)
from spikeenergy.metrics import measure
from spikeenergy.models import ModelSpec, build_model


@pytest.fixture(scope="module", params=["snn-mlp", "mlp"])
def report(request: pytest.FixtureRequest):  # noqa: ANN201
    torch.manual_seed(0)
    m = build_model(ModelSpec(family=request.param, hidden=(5,)), (4,), 3)
    x = torch.rand(3, 2, 4) * 2  # graded inputs: both ACs and MACs appear
    r = measure(m, [(x, None)], BUILTIN_COST_MODELS)
    return r.with_info({"model": model_identity(m), "dataset": {"name": "toy"}}, package_versions())


@pytest.mark.parametrize("suffix", [".json", ".csv", ".h5"])
def test_round_trip_equal(report, tmp_path: Path, suffix: str) -> None:  # noqa: ANN001
    path = write_report(report, tmp_path / f"report{suffix}")
    back = read_report(path)
    assert back == report  # rows (exact floats), columns, targets, identity, versions
    assert back.identity["model"]["spec"]["family"] == report.identity["model"]["spec"]["family"]
    assert back.versions["torch"] == torch.__version__
    assert {t["name"] for t in back.targets} == {cm.name for cm in BUILTIN_COST_MODELS}
    assert all(t["source"] for t in back.targets)


def test_dense_rows_lack_spiking_columns(report, tmp_path: Path) -> None:  # noqa: ANN001
    back = read_report(write_report(report, tmp_path / "r.csv"))
    is_dense = report.identity["model"]["spec"]["family"] == "mlp"
    assert ("spike_rate" in back.total) is not is_dense


def test_format_errors(report, tmp_path: Path) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="suffix"):
        format_for(tmp_path / "r.txt")
    with pytest.raises(ValueError, match="NIR needs the model"):
        write_report(report, tmp_path / "r.nir")
    with pytest.raises(FileNotFoundError):
        read_report(tmp_path / "missing.json")
