"""Measure a plain PyTorch model's joules per inference on hardware targets (core install only).

Needs nothing but ``pip install spikeenergy`` (torch, numpy): no snnTorch, Norse or Tonic. The
model is an ordinary ``nn.Sequential`` MLP applied to every time step of event frames at once
(time-major ``(T, B, features)``); the frames are random binary spike frames of an event camera's
size, so the script runs anywhere in seconds::

    python measure_pytorch_model.py --out mlp_energy.json

It prints the joules per inference on Intel Loihi and a 45 nm CMOS accelerator with the
operation counts behind them, and writes the per-layer report as JSON and CSV (read back to
check the round trip).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from spikeenergy.export import read_report, write_report
from spikeenergy.metrics import Harness

TARGETS = ["loihi", "cmos45"]


def spike_frames(
    samples: int, steps: int, features: int, rate: float, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random binary frames ``(T, N, features)`` (each pixel spikes with probability ``rate``
    per step) and random labels ``(N,)`` from 10 classes."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(steps, samples, features, generator=g) < rate).float()
    y = torch.randint(0, 10, (samples,), generator=g)
    return x, y


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Measure the MLP; returns the numbers it prints (J per inference, operation counts)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=256, help="frames to measure")
    ap.add_argument("--steps", type=int, default=10, help="time steps per sample")
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--rate", type=float, default=0.1, help="spike probability per pixel")
    ap.add_argument("--out", default="mlp_energy.json", help="JSON report (a .csv beside it)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    features = 2 * 34 * 34  # ON/OFF x 34 x 34 pixels (an N-MNIST-sized sensor)
    x, y = spike_frames(args.samples, args.steps, features, args.rate, args.seed)
    loader = [(x[:, i : i + 64], y[i : i + 64]) for i in range(0, args.samples, 64)]
    torch.manual_seed(args.seed)
    model = nn.Sequential(nn.Linear(features, args.hidden), nn.ReLU(), nn.Linear(args.hidden, 10))

    # the whole sequence per call: nn.Linear on (T, B, F) computes every step at once
    result = Harness(model, loader, targets=TARGETS, mode="sequence").run()
    report = result.report

    out = Path(args.out)
    write_report(report, out)
    write_report(report, out.with_suffix(".csv"))
    for path in (out, out.with_suffix(".csv")):
        back = read_report(path)
        for t in TARGETS:
            if back.energy_j(t) != report.energy_j(t):
                raise RuntimeError(f"{path}: read back {back.energy_j(t)} J on {t}")

    total = report.total
    print(f"{report.samples} samples, {args.steps} steps; per inference:")
    print(
        f"  {total['effective_acs']:.4g} synaptic accumulates (binary inputs), "
        f"{total['effective_macs']:.4g} multiply-accumulates (graded inputs)"
    )
    for t in TARGETS:
        print(f"  {t:<7} {report.energy_j(t):.4g} J per inference")
    print(f"wrote {out} and {out.with_suffix('.csv')}")
    return {
        "effective_acs": total["effective_acs"],
        "effective_macs": total["effective_macs"],
        **{f"energy_j[{t}]": report.energy_j(t) for t in TARGETS},
    }


if __name__ == "__main__":
    main()
