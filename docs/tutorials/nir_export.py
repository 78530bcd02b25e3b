"""Tutorial 4: export your model to NIR for a neuromorphic chip, with its joules inside.

NIR (the Neuromorphic Intermediate Representation, https://neuroir.org) is the exchange format
that chips' toolchains read (Loihi via Lava, SpiNNaker2, Xylo, ...). spikeenergy writes your
snnTorch model as a NIR graph and stores the measured energy report in the graph's metadata (the
joules of every layer on every target), so the file a chip team receives says what it should
cost. Before the file is written, the graph is read back with snnTorch's and Norse's NIR
importers and run on real input: any spike that differs from your model's raises an error and
nothing is written. Needs the [nir] extra (``pip install 'spikeenergy[nir]'``)::

    python docs/tutorials/nir_export.py --out DIR      # --quick: seconds; writes DIR/model.nir

NIR's LIF neuron resets to zero, so the snnTorch neurons use ``reset_mechanism="zero"`` (the
export refuses snnTorch's default subtract reset, which NIR cannot express exactly).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import snntorch as snn
import torch
import torch.nn.functional as F
from snntorch import utils as snn_utils
from torch import nn

from spikeenergy.data import FrameConfig, FrameDataset, load_dataset, make_loader
from spikeenergy.export import export_nir, read_nir_metadata
from spikeenergy.metrics import Harness

TARGETS = ["loihi", "spinnaker2"]
FRAME = (2, 17, 17)


def build_net() -> nn.Sequential:
    """Your snnTorch network; NIR LIF neurons reset to zero."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(FRAME[0] * FRAME[1] * FRAME[2], 32),
        snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero"),
        nn.Linear(32, 10),
        snn.Leaky(beta=0.9, init_hidden=True, output=True, reset_mechanism="zero"),
    )


def train(net: nn.Module, loader, epochs: int) -> None:  # noqa: ANN001
    """Your training loop (plain snnTorch)."""
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for _ in range(epochs):
        for x, y in loader:
            snn_utils.reset(net)  # snnTorch's own state reset
            spikes = torch.stack([net(x_t)[0] for x_t in x])
            loss = F.cross_entropy(spikes.sum(0), y)
            opt.zero_grad()
            loss.backward()
            opt.step()


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Train, measure, export with the round-trip check, read the file back."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="nir-export")
    ap.add_argument("--quick", action="store_true", help="60 samples per split, 1 epoch")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)

    limit, epochs = (60, 1) if args.quick else (600, 5)
    frames = FrameConfig(n_time_bins=8, downsample=0.5)
    data = {
        s: FrameDataset(load_dataset("digits-dvs", s, limit=limit), frames)
        for s in ("train", "test")
    }
    net = build_net()
    train(net, make_loader(data["train"], 32, shuffle=True, seed=args.seed), epochs)
    test_loader = make_loader(data["test"], 32)
    measured = Harness(net, test_loader, TARGETS, mode="step").run()

    # the export: the graph, the energy report in its metadata, checked against two importers
    x, _ = next(iter(test_loader))
    path = out / "model.nir"
    export_nir(net, path, measured.report, input_shape=FRAME, check_input=x)

    # what the chip team reads: the graph's nodes and the joules stored with it
    graph, meta = read_nir_metadata(path)
    nodes = {name: type(node).__name__ for name, node in graph.nodes.items()}
    print(f"wrote {path}: {len(nodes)} nodes")
    for name, kind in nodes.items():
        print(f"  {name:<8} {kind}")
    for t in TARGETS:  # the graph metadata holds every column of the report's total row
        stored = float(meta[f"total.energy_j[{t}]"])
        print(f"  {t:<11} {stored:.4g} J per inference stored in the file")
        assert stored == measured.energy_j(t)
    summary = {
        "nodes": nodes,
        "metadata_keys": sorted(meta),
        **{f"energy_j[{t}]": measured.energy_j(t) for t in TARGETS},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
