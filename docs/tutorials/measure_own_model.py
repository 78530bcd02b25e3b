"""Tutorial 1: measure and export the joules of your own PyTorch, snnTorch or Norse model.

You have a model of your own and event data; you want its energy per inference on neuromorphic
and conventional hardware, with the operation counts behind the number, in a file you can share.
spikeenergy runs the model over your data (:class:`spikeenergy.metrics.Harness`), counts what it
did (synaptic accumulates for binary inputs, multiply-accumulates for graded ones, neuron
updates, spikes, memory traffic) and prices the counts with cost models of the targets.

Three models, the way their libraries write them, on the embedded ``digits-dvs`` data (works
offline): a plain PyTorch MLP (called once on the whole sequence), an snnTorch network (called
once per time step, neurons keep their own state) and a Norse ``SequentialState`` (the whole
sequence). Run it::

    python docs/tutorials/measure_own_model.py --out DIR          # --quick: a few seconds

It prints joules per inference on each target with the counts, and writes each model's
per-layer report as JSON and CSV in DIR (read back to check) plus DIR/summary.json. The
models are untrained here: energy depends on activity, so measure your trained model the same
way (tutorial 2 trains with an energy term).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from spikeenergy.data import FrameConfig, FrameDataset, load_dataset, make_loader
from spikeenergy.export import read_report, write_report
from spikeenergy.metrics import Harness

#: hardware targets (built-in cost models; `spikeenergy.energy.BUILTIN_COST_MODELS` lists all)
TARGETS = ["loihi", "spinnaker2", "cmos45", "gpu"]
#: one frame: ON/OFF x 17 x 17 pixels (the 34 x 34 sensor downsampled by 2)
FRAME = (2, 17, 17)
FEATURES = FRAME[0] * FRAME[1] * FRAME[2]
HIDDEN = 64


def pytorch_mlp() -> nn.Module:
    """A plain PyTorch MLP; nn.Linear on (T, B, F) computes every time step at once."""
    return nn.Sequential(
        nn.Flatten(start_dim=2), nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 10)
    )


def snntorch_net() -> nn.Module:
    """snnTorch's tutorial style: neurons built with init_hidden=True, one call per step."""
    import snntorch as snn

    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(FEATURES, HIDDEN),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(HIDDEN, 10),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )


def norse_net() -> nn.Module:
    """Norse's idiom: time-batched layers and LIF sequence modules in a SequentialState."""
    import norse.torch as norse

    return norse.SequentialState(
        nn.Flatten(start_dim=2), nn.Linear(FEATURES, HIDDEN), norse.LIF(), nn.Linear(HIDDEN, 10)
    )


#: name -> (builder, how the Harness calls it: "sequence" or "step")
MODELS = {
    "pytorch-mlp": (pytorch_mlp, "sequence"),
    "snntorch": (snntorch_net, "step"),
    "norse": (norse_net, "sequence"),
}


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Measure the three models; returns, per model, the numbers it prints."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="measure-own-model", help="folder for the reports")
    ap.add_argument("--quick", action="store_true", help="60 test samples, 6 time steps")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # 1. your data as time-major frames (T, B, 2, 17, 17); binarized: each entry is a spike
    limit, bins = (60, 6) if args.quick else (360, 20)
    frames = FrameConfig(n_time_bins=bins, downsample=0.5, binarize=True)
    test = FrameDataset(load_dataset("digits-dvs", "test", limit=limit), frames)
    loader = make_loader(test, batch_size=32)

    summary: dict[str, dict[str, float]] = {}
    for name, (build, mode) in MODELS.items():
        torch.manual_seed(args.seed)
        model = build()
        # 2. one call measures it: energy ledger per target and accuracy
        result = Harness(model, loader, targets=TARGETS, mode=mode).run()
        report = result.report
        # 3. export: JSON and CSV (HDF5 with the [hdf5] extra); read back to check
        for path in (out / f"{name}.json", out / f"{name}.csv"):
            write_report(report, path)
            back = read_report(path)
            assert all(back.energy_j(t) == report.energy_j(t) for t in TARGETS), path
        total = report.total
        summary[name] = {
            "samples": report.samples,
            "effective_acs": total["effective_acs"],
            "effective_macs": total["effective_macs"],
            "spikes_per_sample": total.get("spikes_per_sample", 0.0),
            **{f"energy_j[{t}]": report.energy_j(t) for t in TARGETS},
        }
        print(f"{name} ({mode} mode), {report.samples} samples, per inference:")
        print(
            f"  {total['effective_acs']:.4g} synaptic accumulates (binary inputs), "
            f"{total['effective_macs']:.4g} multiply-accumulates (graded inputs)"
        )
        for t in TARGETS:
            print(f"  {t:<11} {report.energy_j(t):.4g} J")
        for layer in report.layers:
            print(f"    {layer:<10} {report.energy_j('loihi', layer):.4g} J on loihi")
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {out}/<model>.json, <model>.csv and summary.json")
    return summary


if __name__ == "__main__":
    main()
