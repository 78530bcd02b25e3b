"""``spikeenergy export CHECKPOINT ...`` end to end on the embedded digits-dvs data (no files)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nir
import pytest
import torch

from spikeenergy.cli import export as export_cmd
from spikeenergy.data import FrameConfig
from spikeenergy.energy.cost_models import get_cost_model
from spikeenergy.export import read_report
from spikeenergy.export.checkpoint import checkpoint_test_data
from spikeenergy.metrics import measure
from spikeenergy.models import ModelSpec, NeuronSpec
from spikeenergy.train import DataConfig, ExperimentConfig, build_seeded_model, save_checkpoint

DATA = DataConfig(
    name="digits-dvs", frames=FrameConfig(n_time_bins=4, downsample=0.25), test_per_class=1
)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="spikeenergy")
    sub = parser.add_subparsers(dest="command", required=True)
    export_cmd.add_parser(sub)
    return parser.parse_args(["export", *argv])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cfg = ExperimentConfig(data=DATA, model=ModelSpec(family="snn-mlp", hidden=(8,)))
    model = build_seeded_model(cfg.model, (2, 9, 9), 10, seed=0)
    path = tmp_path_factory.mktemp("ckpt") / "model.pt"
    save_checkpoint(path, model, cfg.to_dict(), {"test": {"accuracy": 0.5}})
    return path


@pytest.mark.parametrize("fmt", ["json", "csv", "hdf5"])
def test_cli_export_tables(checkpoint: Path, tmp_path: Path, fmt: str, capsys) -> None:  # noqa: ANN001
    out = tmp_path / f"report.{fmt}"
    args = parse(
        [
            str(checkpoint),
            "--target",
            "loihi",
            "--target",
            "cpu",
            "--format",
            fmt,
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert export_cmd.run(args) == 0
    rep = read_report(out, fmt)
    assert [t["name"] for t in rep.targets] == ["loihi", "cpu"]
    assert rep.samples == 10  # one test sample per class
    assert rep.identity["dataset"]["name"] == "digits-dvs"
    assert rep.identity["model"]["sha256"]
    assert rep.identity["test_accuracy"] == 0.5
    text = capsys.readouterr().out
    assert "J/inference" in text
    assert "loihi" in text
    # the CLI's numbers are the library's numbers on the same test data
    from spikeenergy.data import make_loader
    from spikeenergy.train import load_checkpoint

    model, payload = load_checkpoint(checkpoint)
    test, _ = checkpoint_test_data(payload)
    direct = measure(model, make_loader(test, batch_size=64), [get_cost_model("loihi")])
    assert rep.energy_j("loihi") == pytest.approx(direct.energy_j("loihi"), rel=1e-12)


@pytest.fixture(scope="module")
def zero_reset_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model NIR expresses exactly (reset to zero; the default subtract reset is refused)."""
    spec = ModelSpec(family="snn-mlp", hidden=(8,), neuron=NeuronSpec(reset="zero"))
    cfg = ExperimentConfig(data=DATA, model=spec)
    model = build_seeded_model(cfg.model, (2, 9, 9), 10, seed=0)
    path = tmp_path_factory.mktemp("ckpt0") / "model.pt"
    save_checkpoint(path, model, cfg.to_dict(), {"test": {"accuracy": 0.5}})
    return path


def test_cli_export_nir_refuses_subtract_reset_before_measuring(
    checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spikeenergy.export.checkpoint as ckpt

    def no_measure(*a: object, **k: object) -> None:
        raise AssertionError("measured although the export is refused")

    monkeypatch.setattr(ckpt, "measure_checkpoint", no_measure)
    with pytest.raises(ValueError, match="reset='zero'"):
        export_cmd.run(parse([str(checkpoint), "--out", str(tmp_path / "m.nir")]))
    assert not (tmp_path / "m.nir").exists()


def test_cli_export_nir_and_user_targets(
    zero_reset_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import spikeenergy.export.nir_check as check

    checked = []  # the CLI verifies the graph on a test batch with both importers
    verify = check.verify_nir
    monkeypatch.setattr(check, "verify_nir", lambda *a, **k: checked.append(verify(*a, **k)))
    checkpoint = zero_reset_checkpoint
    toml = tmp_path / "t.toml"
    toml.write_text(
        "[targets.mine]\npj_per_ac = 1.0\npj_per_neuron_update = 2.0\n"
        'source = "s"\nverified = "measured by us"\n'
    )
    out = tmp_path / "m.nir"
    args = parse(
        [
            str(checkpoint),
            "--target",
            "mine",
            "--cost-models",
            str(toml),
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert export_cmd.run(args) == 0
    g = nir.read(out)
    assert "energy_j[mine]" in g.nodes["fc.0"].metadata
    assert json.loads(g.metadata["targets_json"])[0]["name"] == "mine"
    assert [[r.backend for r in rs if r.ok] for rs in checked] == [["snntorch", "norse"]]


def test_cli_errors(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(KeyError, match="known"):
        export_cmd.run(
            parse([str(checkpoint), "--target", "nope", "--out", str(tmp_path / "a.json")])
        )
    bare = tmp_path / "bare.pt"
    save_checkpoint(bare, build_seeded_model(ModelSpec(hidden=(4,)), (2, 9, 9), 10, seed=0))
    with pytest.raises(ValueError, match="no data config"):
        export_cmd.run(parse([str(bare), "--out", str(tmp_path / "b.json")]))
    assert torch.__version__  # keep torch import used for readability of failures
