"""``spikeenergy train``: the training options a suite's [train] table has, TOML key names, and
a default run folder that keeps the trained model."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from spikeenergy.cli import build_parser, main
from spikeenergy.cli.common import train_config
from spikeenergy.cli.train import RUNS_DIR, default_run_dir
from spikeenergy.train import TrainConfig

TINY = "--train-per-class 1 --test-per-class 1 --epochs 1 --n-time-bins 2 --downsample 0.25 \
--hidden 4 --device cpu --no-progress".split()


def parse(*argv: str) -> argparse.Namespace:
    return build_parser("train").parse_args(["train", *argv])


def test_training_options_reach_the_config() -> None:
    cfg = train_config(
        parse(
            "--optimizer", "adam", "--weight-decay", "0.01", "--schedule", "step",
            "--step-size", "3", "--gamma", "0.2", "--grad-clip", "none",
            "--energy", "synops", "--energy-option", "weight_grad=false",
        )
    )  # fmt: skip
    assert (cfg.optimizer, cfg.weight_decay, cfg.schedule) == ("adam", 0.01, "step")
    assert (cfg.step_size, cfg.gamma, cfg.grad_clip) == (3, 0.2, None)
    assert dict(cfg.energy_options) == {"weight_grad": False}
    # without options, the library's defaults (those of a suite's [train] table left unset)
    default = train_config(parse())
    assert default == TrainConfig(device=None)
    assert train_config(parse("--grad-clip", "0.5")).grad_clip == 0.5


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--grad-clip", "0"], "must be > 0 (or 'none'"),
        (["--grad-clip", "x"], "'x' is not a number or 'none'"),
        (["--optimizer", "sgd"], "invalid choice: 'sgd'"),
    ],
)
def test_bad_training_options_are_refused(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2
    assert said in capsys.readouterr().err


def test_bad_energy_option_names_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--energy-option", "novalue", *TINY]) == 2
    err = capsys.readouterr().err
    assert err == (
        "spikeenergy train: error: --energy-option 'novalue' must be KEY=VALUE "
        "(e.g. --energy-option weight_grad=false)\n"
    )


def test_suite_key_names_and_old_aliases_agree() -> None:
    new = parse("--n-time-bins", "7", "--family", "mlp", "--conv-channels", "4", "8")
    old = parse("--time-bins", "7", "--model", "mlp", "--channels", "4", "8")
    assert vars(new) == vars(old)
    assert (new.time_bins, new.model, new.channels) == (7, "mlp", [4, 8])


def test_default_run_folder_follows_the_config() -> None:
    from spikeenergy.cli.common import data_config, model_spec
    from spikeenergy.train import ExperimentConfig

    def cfg(*argv: str) -> ExperimentConfig:
        a = parse(*argv)
        return ExperimentConfig(data=data_config(a), model=model_spec(a), train=train_config(a))

    a, b, c = cfg("--lr", "0.01"), cfg("--lr", "0.01"), cfg("--lr", "0.02")
    assert default_run_dir(a) == default_run_dir(b)  # same command, same folder: resumes
    assert default_run_dir(a) != default_run_dir(c)  # another config, another folder
    assert default_run_dir(a).parent == Path(RUNS_DIR)
    assert default_run_dir(a).name.startswith("digits-dvs-snn-mlp-")


def test_train_without_out_keeps_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", *TINY]) == 0
    (run,) = (tmp_path / RUNS_DIR).iterdir()
    assert (run / "model.pt").stat().st_size > 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["config"]["train"]["epochs"] == 1
    assert f"wrote {Path(RUNS_DIR) / run.name / 'model.pt'}" in capsys.readouterr().out
    # the same command again finds the finished run's folder (resumes, trains nothing new)
    assert main(["train", *TINY]) == 0
    assert [p.name for p in (tmp_path / RUNS_DIR).iterdir()] == [run.name]
