"""Tutorial 2: add an energy term to your own training loop (L = CE + lambda * joules).

Your snnTorch model and your training loop stay as they are; three spikeenergy lines are added
(marked ``# spikeenergy``): an :class:`~spikeenergy.record.ActivityRecorder` around the model,
the differentiable :class:`~spikeenergy.energy.Joules` term (picojoules per inference on a
target, here Intel Loihi) added to the loss with a weight lambda in 1/pJ, and a
:class:`~spikeenergy.train.prune.Pruner` that removes the synapses the term pushed to zero (a
removed synapse costs nothing). The model is measured before and after with the
:class:`~spikeenergy.metrics.Harness` (tutorial 1). Runs offline on the embedded data::

    python docs/tutorials/energy_term_training.py --out DIR      # --quick: under a minute

Choosing lambda: the term is in pJ per inference, so lambda = 1 / (the model's pJ) makes the
term start at 1, the size of an untrained 10-class cross-entropy (2.3); here lambda is set so
that the term starts at 2. Writes DIR/summary.json.
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
from spikeenergy.metrics import Harness
from spikeenergy.record import ActivityRecorder, reset_states
from spikeenergy.train.prune import Pruner

TARGET = "loihi"
FRAME = (2, 17, 17)


def build_net() -> nn.Sequential:
    """Your network (snnTorch, neurons keep their own state, one call per time step)."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(FRAME[0] * FRAME[1] * FRAME[2], 64),
        snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(64, 10),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )


def forward(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Your time loop over x (T, B, ...): output spikes (T, B, 10)."""
    return torch.stack([net(x_t)[0] for x_t in x])


def train(net: nn.Module, loader, epochs: int, lam: float) -> list[float]:  # noqa: ANN001
    """Your training loop plus the energy term; returns the term's value (pJ) per batch."""
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    term = Joules(TARGET)  # spikeenergy: pJ per inference, differentiable
    pruner = Pruner(net, prune_below=0.3) if lam > 0 else None  # spikeenergy
    seen: list[float] = []
    with ActivityRecorder(net, needs=term.needs, time="step") as rec:  # spikeenergy
        for _ in range(epochs):
            for x, y in loader:
                reset_states(net)  # (or snntorch.utils.reset(net))
                rec.clear()
                loss = F.cross_entropy(forward(net, x).sum(0), y)
                energy_pj = term(rec.record())  # spikeenergy
                seen.append(float(energy_pj.detach()))
                loss = loss + lam * energy_pj  # spikeenergy
                opt.zero_grad()
                loss.backward()
                opt.step()
                if pruner is not None:
                    pruner.apply()  # keep removed synapses removed
            if pruner is not None:
                pruner.prune()  # remove synapses below 0.3 x the mean |weight|
    return seen


def main(argv: list[str] | None = None) -> dict[str, float]:
    """Train without, measure, train with the term, measure; returns the numbers printed."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="energy-term-training")
    ap.add_argument("--quick", action="store_true", help="100 samples per split, 2+2 epochs")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)

    limit, epochs, bins = (100, 2, 8) if args.quick else (600, 5, 10)
    frames = FrameConfig(n_time_bins=bins, downsample=0.5)
    data = {
        s: FrameDataset(load_dataset("digits-dvs", s, limit=limit), frames)
        for s in ("train", "test")
    }
    train_loader = make_loader(data["train"], 32, shuffle=True, seed=args.seed)
    test_loader = make_loader(data["test"], 64)

    net = build_net()
    train(net, train_loader, epochs, lam=0.0)  # your training as it was
    before = Harness(net, test_loader, [TARGET], mode="step").run()
    lam = 2.0 / (before.energy_j(TARGET) * 1e12)  # 1/pJ: the term starts at 2
    seen = train(net, train_loader, epochs, lam=lam)  # now with the energy term
    after = Harness(net, test_loader, [TARGET], mode="step").run()

    summary = {
        "lam_per_pj": lam,
        "accuracy_before": float(before.accuracy or 0.0),
        "accuracy_after": float(after.accuracy or 0.0),
        "energy_j_before": before.energy_j(TARGET),
        "energy_j_after": after.energy_j(TARGET),
        "term_pj_first_batch": seen[0],
        "term_pj_last_batch": seen[-1],
    }
    print(f"lambda = {lam:.3g} per pJ")
    print(
        f"before: accuracy {summary['accuracy_before']:.3f}, "
        f"{summary['energy_j_before']:.4g} J per inference on {TARGET}"
    )
    print(
        f"after:  accuracy {summary['accuracy_after']:.3f}, "
        f"{summary['energy_j_after']:.4g} J per inference on {TARGET} "
        f"({summary['energy_j_after'] / summary['energy_j_before']:.1%} of before)"
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
