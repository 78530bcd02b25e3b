"""`train --out DIR` resumes from DIR/last.pt: the resumed run trains only the epochs that were
missing and ends with the same weights and metrics, bit for bit, as a run never interrupted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

import spikeenergy.train.experiment as experiment
from spikeenergy.cli import main as cli_main
from spikeenergy.data import FrameConfig
from spikeenergy.data.prepare import open_frames
from spikeenergy.models import ModelSpec
from spikeenergy.train import (
    DataConfig,
    ExperimentConfig,
    PreparedData,
    TrainConfig,
    prepare_data,
    run_experiment,
)

TIMINGS = ("wall_time_s", "time_to_target_s")


def config(**train: Any) -> ExperimentConfig:
    return ExperimentConfig(
        data=DataConfig(
            name="digits-dvs",
            frames=FrameConfig(n_time_bins=3, downsample=0.5),
            train_per_class=2,
            test_per_class=1,
            val_fraction=0.25,
            options={"limit": 60},
            augment_shift=1,  # its random generator must be resumed too
        ),
        model=ModelSpec(family="snn-mlp", hidden=(8,)),
        train=TrainConfig(**{"epochs": 3, "batch_size": 4, "device": "cpu", **train}),
    )


class Stop(BaseException):
    """Stands in for Ctrl-C right after an epoch's last.pt is written."""


def interrupt_after_epoch(monkeypatch: pytest.MonkeyPatch, stop_at: int | None) -> list[int]:
    """Count the epochs that write last.pt; raise Stop after epoch ``stop_at``."""
    real = experiment.save_checkpoint
    epochs: list[int] = []

    def save(path: Any, *args: Any, **kw: Any) -> Any:
        out = real(path, *args, **kw)
        if Path(path).name == "last.pt":
            epochs.append(args[2]["epoch"])
            if epochs[-1] == stop_at:
                raise Stop
        return out

    monkeypatch.setattr(experiment, "save_checkpoint", save)
    return epochs


def fresh_data(cfg: ExperimentConfig, frames: dict[str, Any]) -> PreparedData:
    """The run's data made anew (a new augmentation generator) on frames binned once."""

    def opener(data_cfg: DataConfig, split: str) -> Any:
        if split not in frames:
            frames[split] = open_frames(data_cfg, split)
        return frames[split]

    return prepare_data(cfg.data, cfg.train.seed, opener=opener)


def without_timings(metrics: dict[str, Any]) -> dict[str, Any]:
    m = json.loads(json.dumps(metrics, default=str))
    for key in TIMINGS:
        m["efficiency"].pop(key, None)
        m["curves"].pop(key, None)
    return m


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["state_dict"]


def test_resumed_run_equals_the_uninterrupted_run_bit_for_bit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = config(seed=3, lr=0.01)
    frames: dict[str, Any] = {}
    whole = run_experiment(cfg, tmp_path / "whole", False, fresh_data(cfg, frames))
    trained = interrupt_after_epoch(monkeypatch, stop_at=0)
    with pytest.raises(Stop):
        run_experiment(cfg, tmp_path / "cut", False, fresh_data(cfg, frames))
    assert trained == [0]
    resumed = run_experiment(cfg, tmp_path / "cut", False, fresh_data(cfg, frames))
    assert trained == [0, 1, 2]  # the second call trained epochs 1 and 2 only
    assert without_timings(resumed) == without_timings(whole)
    assert resumed["curves"]["epoch"] == [0, 1, 2]
    for name in ("model.pt", "last.pt"):
        a, b = weights(tmp_path / "whole" / name), weights(tmp_path / "cut" / name)
        assert a.keys() == b.keys(), name
        assert all(torch.equal(a[k], b[k]) for k in a), name
    # a finished run resumes to the same result without training again
    again = run_experiment(cfg, tmp_path / "cut", False, fresh_data(cfg, frames))
    assert trained == [0, 1, 2]
    assert without_timings(again) == without_timings(whole)


def test_last_checkpoint_of_another_configuration_is_refused(tmp_path: Path) -> None:
    frames: dict[str, Any] = {}
    cfg = config(epochs=1)
    run_experiment(cfg, tmp_path, False, fresh_data(cfg, frames))
    other = config(epochs=1, lr=0.02)
    with pytest.raises(
        ValueError,
        match=r"last\.pt belongs to a different configuration "
        r"\(train\.lr: 0\.001 there, 0\.02 now\)",
    ):
        run_experiment(other, tmp_path, False, fresh_data(other, frames))
    # where the data lives and the device do not matter
    moved = ExperimentConfig(
        data=DataConfig(**{**cfg.data.__dict__, "root": str(tmp_path)}),
        model=cfg.model,
        train=TrainConfig(**{**cfg.train.__dict__, "device": None}),
    )
    run_experiment(moved, tmp_path, False, fresh_data(moved, frames))


@pytest.mark.slow
def test_cli_train_interrupted_prints_one_line_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [
        "train",
        "--train-per-class",
        "2",
        "--test-per-class",
        "1",
        "--epochs",
        "2",
        "--time-bins",
        "3",
        "--downsample",
        "0.5",
        "--hidden",
        "8",
        "--batch-size",
        "4",
        "--device",
        "cpu",
        "--no-progress",
        "--out",
    ]
    real = experiment.save_checkpoint
    trained = interrupt_after_epoch(monkeypatch, stop_at=0)

    def save(path: Any, *args: Any, **kw: Any) -> Any:  # Ctrl-C right after epoch 0
        try:
            return saver(path, *args, **kw)
        except Stop:
            raise KeyboardInterrupt from None

    saver = experiment.save_checkpoint
    monkeypatch.setattr(experiment, "save_checkpoint", save)
    assert cli_main([*argv, str(tmp_path / "cut")]) == 130
    err = capsys.readouterr().err
    assert err == (
        "spikeenergy train: stopped by Ctrl-C; rerun the same command "
        "to resume from the last finished epoch\n"
    )
    assert cli_main([*argv, str(tmp_path / "cut")]) == 0
    assert trained == [0, 1]  # the rerun trained only epoch 1
    monkeypatch.setattr(experiment, "save_checkpoint", real)
    assert cli_main([*argv, str(tmp_path / "whole")]) == 0
    a, b = weights(tmp_path / "whole" / "model.pt"), weights(tmp_path / "cut" / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    ma = json.loads((tmp_path / "whole" / "metrics.json").read_text())
    mb = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert without_timings(ma) == without_timings(mb)
