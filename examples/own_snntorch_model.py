"""Bring your own snnTorch model: train it your way, measure its joules, retrain with a joules
term, export it to NIR with the joules of every layer.

The model and both training loops are plain snnTorch / PyTorch; the spikeenergy calls are marked
``# spikeenergy``. Runs offline on the embedded ``digits-dvs`` data::

    python examples/own_snntorch_model.py --limit 200 --epochs 5 --out own_model.nir
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import snntorch as snn
import torch
import torch.nn.functional as F
from torch import nn

from spikeenergy.data import FrameConfig, FrameDataset, load_dataset, make_loader
from spikeenergy.energy import Joules
from spikeenergy.export import export_nir
from spikeenergy.metrics import Harness
from spikeenergy.record import ActivityRecorder, reset_states
from spikeenergy.train.prune import Pruner

TARGETS = ["loihi", "cmos45"]
FRAME = (2, 17, 17)  # ON/OFF x 17 x 17 pixels per time bin (34 x 34 sensor, downsampled by 2)


def build_net() -> nn.Sequential:
    """The user's network: snnTorch's tutorial style, neurons keep their own state.

    reset_mechanism="zero": a NIR LIF resets to zero; snnTorch's default subtract reset cannot
    be written exactly, so spikeenergy's NIR export would refuse it.
    """
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(FRAME[0] * FRAME[1] * FRAME[2], 64),
        snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero"),
        nn.Linear(64, 10),
        snn.Leaky(beta=0.9, init_hidden=True, output=True, reset_mechanism="zero"),
    )


def forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The user's time loop: one call per step of x (T, B, ...); output spikes (T, B, 10)."""
    spikes = []
    for x_t in x:
        spk, _mem = net(x_t)
        spikes.append(spk)
    return torch.stack(spikes)


def train(net: nn.Module, loader, epochs: int, lam: float = 0.0) -> None:  # noqa: ANN001
    """The user's training loop; with ``lam > 0`` the loss adds lam * joules on Loihi (in pJ).

    Most of this model's joules are the input layer's synaptic operations, which spikes do not
    change: the joules term lowers them by pushing the weights of costly synapses towards zero,
    and the pruner makes those zeros real (removed synapses cost nothing and stay removed).
    """
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    term = Joules("loihi")  # spikeenergy: pJ per inference, differentiable
    pruner = Pruner(net, prune_below=0.3) if lam > 0 else None  # spikeenergy
    with ActivityRecorder(net, needs=term.needs, time="step") as rec:  # spikeenergy
        for _ in range(epochs):
            for x, y in loader:
                reset_states(net)  # spikeenergy (or snntorch.utils.reset(net))
                rec.clear()  # spikeenergy
                loss = F.cross_entropy(forward(net, x).sum(0), y)
                if lam > 0:
                    loss = loss + lam * term(rec.record())  # spikeenergy
                opt.zero_grad()
                loss.backward()
                opt.step()
                if pruner is not None:
                    pruner.apply()  # spikeenergy: removed synapses stay removed
            if pruner is not None:
                pruner.prune()  # spikeenergy: remove weights below 0.3 x mean magnitude


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=200, help="samples per split")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--bins", type=int, default=10, help="time steps per sample")
    ap.add_argument("--out", default="own_model.nir")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.manual_seed(args.seed)

    frames = FrameConfig(n_time_bins=args.bins, downsample=0.5)
    splits = {
        s: FrameDataset(load_dataset("digits-dvs", s, limit=args.limit), frames)  # spikeenergy
        for s in ("train", "test")
    }
    train_loader = make_loader(splits["train"], 32, shuffle=True, seed=args.seed)  # spikeenergy
    test_loader = make_loader(splits["test"], 64)  # spikeenergy

    net = build_net()
    train(net, train_loader, args.epochs)  # the user's own training, no energy term
    before = Harness(net, test_loader, TARGETS, mode="step").run()  # spikeenergy

    # lam in 1/pJ: the energy term starts at 2, about an untrained 10-class cross-entropy (2.3)
    lam = 2.0 / (before.energy_j("loihi") * 1e12)
    train(net, train_loader, args.epochs, lam=lam)  # retrain with the joules term
    after = Harness(net, test_loader, TARGETS, mode="step").run()  # spikeenergy

    x, _ = next(iter(test_loader))
    # spikeenergy: written only if snnTorch's and Norse's importers reproduce every spike on x
    export_nir(net, args.out, after.report, input_shape=FRAME, check_input=x)

    summary = {
        "accuracy_before": before.accuracy,
        "accuracy_after": after.accuracy,
        **{f"energy_j_before[{t}]": before.energy_j(t) for t in TARGETS},
        **{f"energy_j_after[{t}]": after.energy_j(t) for t in TARGETS},
        "lam_per_pj": lam,
    }
    print(json.dumps(summary, indent=2))
    print(f"NIR graph with per-layer joules written to {Path(args.out).resolve()}")
    return summary  # type: ignore[return-value]


if __name__ == "__main__":
    main()
