"""Checkpoints are read without running code: a crafted pickle is refused and never executed;
everything spikeenergy writes (metrics with torch's version, a training state) loads safely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from spikeenergy.cli import main as cli_main
from spikeenergy.models import ModelSpec
from spikeenergy.train import build_seeded_model, load_checkpoint, save_checkpoint
from spikeenergy.train.checkpoint import FORMAT, UnsafeCheckpointError, read_checkpoint


class _CreatesFile:
    """Unpickling this calls ``open(path, "w")``: the file appears only if the payload runs."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, tuple[str, str]]:
        return open, (self.path, "w")


def _malicious(path: Path, marker: Path) -> Path:
    model = build_seeded_model(ModelSpec(family="mlp", hidden=(4,)), (2, 9, 9), 10, seed=0)
    payload = {
        "format": FORMAT,
        "meta": model.checkpoint_meta(),
        "state_dict": model.state_dict(),
        "config": {"note": _CreatesFile(marker)},
        "metrics": {},
    }
    torch.save(payload, path)
    # the payload is live: an unrestricted load would create the marker
    assert b"_io\nopen" in path.read_bytes() or b"io\nopen" in path.read_bytes()
    return path


def test_crafted_checkpoint_is_refused_and_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = _malicious(tmp_path / "evil.pt", marker)
    with pytest.raises(UnsafeCheckpointError, match=r"refused to load .*evil\.pt.*io\.open"):
        load_checkpoint(path)
    assert not marker.exists()
    # sanity check of the attack itself: an unrestricted unpickler does run it
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_export_command_refuses_a_crafted_checkpoint_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    path = _malicious(tmp_path / "evil.pt", marker)
    rc = cli_main(["export", str(path), "--out", str(tmp_path / "r.json"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert not marker.exists()
    assert err.startswith("spikeenergy export: error: refused to load")
    assert err.count("\n") == 1
    assert not (tmp_path / "r.json").exists()


def test_saved_metrics_and_state_load_with_weights_only(tmp_path: Path) -> None:
    model = build_seeded_model(ModelSpec(family="snn-mlp", hidden=(4,)), (6,), 2, seed=1)
    metrics = {"versions": {"torch": torch.__version__}, "shape": (1, 2), "nan": float("nan")}
    state = {"optimizer": {"state": {0: {"step": torch.tensor(3.0)}}}, "history": [{"a": 1.0}]}
    path = save_checkpoint(tmp_path / "m.pt", model, {"k": 1}, metrics, state=state)
    # a plain weights-only load works: nothing but tensors and plain data inside
    raw = torch.load(path, weights_only=True)
    assert type(raw["metrics"]["versions"]["torch"]) is str  # not a TorchVersion object
    assert raw["metrics"]["versions"]["torch"] == str(torch.__version__)
    assert raw["metrics"]["shape"] == [1, 2]  # tuples stored as lists (JSON types)
    assert torch.equal(raw["state"]["optimizer"]["state"][0]["step"], torch.tensor(3.0))
    with pytest.raises(TypeError, match=r"state\['bad'\] is a object"):
        save_checkpoint(tmp_path / "x.pt", model, state={"bad": object()})


def test_checkpoint_of_an_older_version_still_loads(tmp_path: Path) -> None:
    """Before the fix metrics held ``torch.__version__`` as a TorchVersion; it is harmless (a
    str subclass), so those files load, and come back with a plain str."""
    model = build_seeded_model(ModelSpec(family="mlp", hidden=(4,)), (6,), 2, seed=0)
    payload = {
        "format": FORMAT,
        "meta": model.checkpoint_meta(),
        "state_dict": model.state_dict(),
        "config": {},
        "metrics": {"versions": {"torch": torch.__version__}},
    }
    torch.save(payload, tmp_path / "old.pt")
    loaded, back = load_checkpoint(tmp_path / "old.pt")
    assert type(back["metrics"]["versions"]["torch"]) is str
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])


def test_damaged_or_foreign_files_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "text.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"cannot read checkpoint .*text\.pt"):
        read_checkpoint(tmp_path / "text.pt")
    torch.save([1, 2], tmp_path / "list.pt")  # a torch file, but not a checkpoint
    with pytest.raises(ValueError, match=r"list\.pt is not a spikeenergy checkpoint"):
        read_checkpoint(tmp_path / "list.pt")
    torch.save({"format": FORMAT, "meta": {"spec": {}}}, tmp_path / "nostate.pt")
    with pytest.raises(ValueError, match=r"nostate\.pt: checkpoint has no 'state_dict'"):
        load_checkpoint(tmp_path / "nostate.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.pt")
