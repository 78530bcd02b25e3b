"""Command-line errors: bad options, devices, busy or read-only stores and interrupts each give
one line on stderr (``spikeenergy CMD: ...``) and an exit code, never a traceback."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import torch

from spikeenergy.bench import ResultsStore
from spikeenergy.cli import main
from spikeenergy.cli import train as train_cmd
from spikeenergy.cli.common import check_device
from spikeenergy.models import ModelSpec
from spikeenergy.train import build_seeded_model, save_checkpoint

SUITE = """
[suite]
name = "one"
seeds = 1
lambdas = [0.0]

[train]
epochs = 1

[[datasets]]
name = "digits-dvs"
options = { limit = 20 }

[[models]]
family = "mlp"
hidden = [4]
"""

TRAIN = [
    "train",
    "--train-per-class",
    "1",
    "--test-per-class",
    "1",
    "--epochs",
    "1",
    "--time-bins",
    "2",
    "--hidden",
    "4",
    "--no-progress",
]


def one_line(capsys: pytest.CaptureFixture[str], start: str) -> str:
    err = capsys.readouterr().err
    # the embedded dataset's one-time generation (when its disk cache is new) is progress, not
    # an error message: its lines are left out
    err = "".join(ln for ln in err.splitlines(True) if not ln.startswith("digits-dvs: generating"))
    assert err.startswith(start), err
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("command", ["train", "bench", "export"])
def test_device_cuda_without_cuda_is_one_line(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    suite = tmp_path / "one.toml"
    suite.write_text(SUITE)
    argv = {
        "train": [*TRAIN, "--device", "cuda"],
        "bench": ["bench", str(suite), "--out", str(tmp_path / "r"), "--device", "cuda"],
        "export": [
            "export",
            str(tmp_path / "m.pt"),
            "--out",
            str(tmp_path / "r.json"),
            "--device",
            "cuda",
        ],
    }[command]
    if command == "export":  # a real checkpoint, so that the device is what fails
        model = build_seeded_model(ModelSpec(family="mlp", hidden=(4,)), (2, 9, 9), 10, seed=0)
        save_checkpoint(tmp_path / "m.pt", model, {"data": {"name": "digits-dvs"}})
    assert main(argv) == 2
    err = one_line(capsys, f"spikeenergy {command}: error: --device cuda: CUDA is not available")
    assert "use --device cpu" in err
    assert not (tmp_path / "r").exists()  # refused before anything was written


@pytest.mark.parametrize(
    ("name", "message"),
    [("gpu", "not a device; use cpu, cuda, mps"), ("cuda:x", "not a device"), ("meta", "use one")],
)
def test_bad_device_names_are_refused(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_device(name)
    assert check_device("cpu") == "cpu"
    assert check_device(None) is None


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["bench", "{suite}", "--workers", "-1"], "spikeenergy bench: error: --workers -1"),
        (["bench", "{suite}", "--seeds", "0"], "spikeenergy bench: error: seeds=0"),
        (["bench", "{dir}/nope.toml"], "spikeenergy bench: error: suite"),
        ([*TRAIN, "--epochs", "0"], "spikeenergy train: error: epochs and batch_size"),
        ([*TRAIN, "--dataset", "nope"], "spikeenergy train: error: unknown dataset 'nope'"),
        (["report", "{dir}/no-results"], "spikeenergy report: error: "),
        (["export", "{dir}/missing.pt", "--out", "{dir}/x.json"], "spikeenergy export: error: "),
    ],
)
def test_bad_options_give_one_line(
    argv: list[str], start: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "one.toml").write_text(SUITE)
    argv = [
        a.replace("{suite}", str(tmp_path / "one.toml")).replace("{dir}", str(tmp_path))
        for a in argv
    ]
    assert main(argv) == 2
    one_line(capsys, start)


def test_out_that_is_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "one.toml").write_text(SUITE)
    (tmp_path / "file").write_text("not a folder")
    rc = main(
        [
            "bench",
            str(tmp_path / "one.toml"),
            "--out",
            str(tmp_path / "file"),
            "--device",
            "cpu",
            "--executor",
            "serial",
            "--no-progress",
        ]
    )
    assert rc == 2
    one_line(capsys, "spikeenergy bench: error: ")


def test_a_busy_store_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "one.toml").write_text(SUITE)
    store = ResultsStore(tmp_path / "r")
    with store.sweep_lock():  # another sweep holds the store
        rc = main(
            [
                "bench",
                str(tmp_path / "one.toml"),
                "--out",
                str(store.root),
                "--device",
                "cpu",
                "--executor",
                "serial",
                "--no-progress",
            ]
        )
    assert rc == 2
    err = one_line(capsys, f"spikeenergy bench: error: {store.root} is being written by another")
    assert f"pid {os.getpid()}" in err


def test_report_on_a_read_only_store_without_out_says_where_to_write(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ResultsStore(tmp_path).runs_dir.mkdir(parents=True)
    monkeypatch.setattr(ResultsStore, "writable", lambda self: False)
    assert main(["report", str(tmp_path)]) == 2
    one_line(capsys, f"spikeenergy report: error: {tmp_path} is read-only: pass --out DIR")


@pytest.mark.parametrize(
    ("how", "code", "said"),
    [("interrupt", 130, "Ctrl-C"), ("sigterm", 143, "SIGTERM")],
)
def test_interrupts_print_one_line(
    how: str,
    code: int,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def run(args: Any) -> int:
        if how == "interrupt":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)  # delivered to this process's handler
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(train_cmd, "run", run)
    before = signal.getsignal(signal.SIGTERM)
    assert main(TRAIN) == code
    err = one_line(capsys, f"spikeenergy train: stopped by {said}; rerun the same command")
    assert "resume" in err
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is put back
