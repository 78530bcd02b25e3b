"""End to end: `spikeenergy bench` with real tiny runs on worker processes, then `report`."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
import pytest

from spikeenergy.cli import bench as bench_cli
from spikeenergy.cli import report as report_cli

SUITE = """
[suite]
name = "e2e"
seeds = 1
lambdas = [0.0, 0.5]
target_accuracy = 0.2

[train]
epochs = 1
batch_size = 16

[frames]
n_time_bins = 4
downsample = 0.5

[[datasets]]
name = "digits-dvs"
options = { limit = 24 }

[[datasets]]
name = "emg-roshambo"
root = "{missing}"

[[models]]
family = "snn-mlp"
hidden = [16]

[[models]]
family = "mlp"
hidden = [16]
"""


def parse(module: object, argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    module.add_parser(parser.add_subparsers())  # type: ignore[attr-defined]
    return parser.parse_args(argv)


def test_bench_and_report_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = SUITE.replace("{missing}", str(tmp_path / "no-data"))
    suite = tmp_path / "e2e.toml"
    suite.write_text(text.replace('name = "e2e"', 'name = "e2e"\nskip_missing = true'))
    out = tmp_path / "results"
    args = parse(
        bench_cli,
        [
            "bench",
            str(suite),
            "--out",
            str(out),
            "--workers",
            "2",
            "--device",
            "cpu",
            "--no-progress",
        ],
    )
    assert bench_cli.run(args) == 0
    printed = capsys.readouterr().out
    assert "skipped dataset emg-roshambo: dataset 'emg-roshambo' not found" in printed
    assert "suite e2e: 4 runs (0 already done, 4 ok, 0 failed" in printed
    assert "snn-mlp/snntorch" in printed
    assert "rel. energy" in printed
    assert f"report: {out / 'report.md'}" in printed
    table = pd.read_csv(out / "results.csv")
    assert len(table) == 4
    assert (table["status"] == "ok").all()
    assert table["accuracy"].between(0, 1).all()
    assert (table["energy"] > 0).all()
    assert not table["spike_rate"][table["family"] == "mlp"].map(math.isfinite).any()
    report = (out / "report.md").read_text()
    for part in (
        "## Summary",
        "## ANOVA",
        "## Pareto",
        "sweep_digits-dvs.png",
        "pareto_digits-dvs.svg",
        "curves_digits-dvs.png",
    ):
        assert part in report
    for name in ("sweep", "pareto", "curves"):
        for ext in ("png", "svg"):
            assert (out / "figures" / f"{name}_digits-dvs.{ext}").stat().st_size > 1000

    args.no_report = True
    assert bench_cli.run(args) == 0  # resume: everything is already done
    assert "(4 already done, 0 ok, 0 failed" in capsys.readouterr().out

    rargs = parse(report_cli, ["report", str(out), "--out", str(tmp_path / "rep")])
    assert report_cli.run(rargs) == 0
    assert (tmp_path / "rep" / "report.md").is_file()

    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("[train]", "[train]\nlearning_rate = 1"))
    with pytest.raises(ValueError, match=f"{bad}: unknown key"):
        bench_cli.run(parse(bench_cli, ["bench", str(bad), "--out", str(out)]))
