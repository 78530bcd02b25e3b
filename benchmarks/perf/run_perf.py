"""Time one training step (forward + loss + backward) of spiking networks, side by side.

Variants, all on the same input batch in one run:
  snntorch-loop       snnTorch Leaky neurons stepped in a Python loop (the usual tutorial code)
  snntorch-compile    the same per-step function through torch.compile
  norse-loop          Norse LIFBoxCell stepped in a Python loop
  library-engine      spikeenergy SpikingNet, engine="library" (snnTorch backend)
  fast                spikeenergy fast engine, fp32 dense input, ActivityRecorder + SpikeRate
  fast-no-recorder    the same without the recorder (cross-entropy only)
  fast-recorder-only  recorder on, cross-entropy only (recorder cost without the energy term)
  fast-sparse         fast engine on the sparse COO input (event frames)
  fast-bf16           fast engine with the projections under bf16 autocast
  floor               the projections alone (matmuls / convolutions, forward + backward)
for the reference network 2312 -> 256 LIF -> 10 LIF and a convolutional network, at
(T=100, B=64) and (T=25, B=128); then one training epoch on the N-MNIST subset
(../shared/data/NMNIST) with the snnTorch library engine and the fast engine (dense, sparse).

Usage:  python benchmarks/perf/run_perf.py [--quick] [--device cpu|cuda] [--threads N]
        [--out results.json]
Loss everywhere: cross-entropy on the output spike counts + 0.1 * mean spike rate.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikeenergy.energy import EnergyRegularizedLoss, SpikeRate
from spikeenergy.models import ModelSpec, NeuronSpec, build_model
from spikeenergy.record import ActivityRecorder

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
SHAPE = (2, 34, 34)
BETA, LAM = 0.9, 0.1
NEURON = NeuronSpec(beta=BETA)  # leaky, subtract reset, fast_sigmoid slope 1
NETS = {
    "mlp 2312-256-10": ModelSpec("snn-mlp", hidden=(256,), readout="spike_count", neuron=NEURON),
    "cnn c8-c16-64-10": ModelSpec(
        "snn-cnn", hidden=(64,), conv_channels=(8, 16), readout="spike_count", neuron=NEURON
    ),
}

# --------------------------------------------------------------------------- input


def load_batch(steps: int, batch: int, device: torch.device) -> tuple[Tensor, Tensor, str]:
    """Real N-MNIST frames (first ``batch`` training samples) or synthetic 2 % events."""
    if (DATA / "NMNIST").is_dir():
        from spikeenergy.data import FrameConfig, FrameDataset, collate_time_major
        from spikeenergy.data.registry import load_dataset

        ds = FrameDataset(
            load_dataset("nmnist", "train", root=DATA), FrameConfig(n_time_bins=steps, cache=None)
        )
        stride = max(1, len(ds) // batch)
        x, y = collate_time_major([ds[i * stride % len(ds)] for i in range(batch)])
        src = f"N-MNIST subset, {batch} samples"
    else:
        print(f"(N-MNIST subset not found at {DATA}; using synthetic events, 2 % dense)")
        g = torch.Generator().manual_seed(0)
        x = (torch.rand(steps, batch, *SHAPE, generator=g) < 0.02).float()
        y = torch.arange(batch) % 10
        src = "synthetic Bernoulli(0.02) events"
    return x.to(device), y.to(device), src


# --------------------------------------------------------------------------- reference loops


def _loop_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The per-step layer list of a SpikingNet's weights: conv/pool/flatten/linear/neuron."""
    layers: list[tuple[str, nn.Module]] = []
    for conv in model.conv:  # type: ignore[union-attr]
        layers += [("proj", conv), ("neuron", nn.Identity()), ("proj", model.pool)]  # type: ignore[list-item]
    layers.append(("flatten", nn.Flatten()))
    for fc in model.fc:  # type: ignore[union-attr]
        layers += [("proj", fc), ("neuron", nn.Identity())]
    layers += [("proj", model.readout), ("neuron", nn.Identity())]  # type: ignore[list-item]
    return layers


def snntorch_loop(model: nn.Module) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """Plain snnTorch: one snn.Leaky per spiking layer, stepped with explicit membranes."""
    import snntorch as snn
    from snntorch import surrogate

    layers = _loop_layers(model)
    neurons = [
        snn.Leaky(beta=BETA, spike_grad=surrogate.fast_sigmoid(slope=1.0))
        for k, _ in layers
        if k == "neuron"
    ]

    def step(x_t: Tensor, mems: list[Tensor | None]) -> tuple[Tensor, list[Tensor], Tensor]:
        h, new, rate, j = x_t, [], x_t.new_zeros(()), 0
        for kind, mod in layers:
            if kind == "neuron":
                mem = mems[j] if mems[j] is not None else torch.zeros_like(h)
                h, mem = neurons[j](h, mem)
                new.append(mem)
                rate = rate + h.mean()
                j += 1
            else:
                h = mod(h)
        return h, new, rate

    def forward(x: Tensor, fn: Callable[..., Any] = step) -> tuple[Tensor, Tensor]:
        mems: list[Tensor | None] = [None] * len(neurons)
        if fn is not step:  # compiled: same argument types on every step (no recompiles)
            with torch.no_grad():
                _, shapes, _ = step(torch.zeros_like(x[0]), mems)
            mems = [torch.zeros_like(m) for m in shapes]
        count, rate = None, x.new_zeros(())
        for x_t in x.unbind(0):
            s, mems, r = fn(x_t, mems)  # type: ignore[assignment]
            count = s if count is None else count + s
            rate = rate + r
        assert count is not None
        return count, rate / (x.shape[0] * len(neurons))

    forward.step = step  # type: ignore[attr-defined]
    return forward


def snntorch_compiled(model: nn.Module) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """The snnTorch loop with its per-step function compiled by torch.compile."""
    base = snntorch_loop(model)
    torch._dynamo.reset()  # each network/shape compiles afresh (no recompile-limit fallback)
    compiled = torch.compile(base.step, dynamic=False)  # type: ignore[attr-defined]
    return lambda x: base(x, compiled)  # type: ignore[call-arg]


def norse_loop(model: nn.Module) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """Plain Norse: LIFBoxCell (dt = 1, tau_mem_inv = 1 - beta) stepped in a loop."""
    from norse.torch import LIFBoxCell, LIFBoxParameters

    layers = _loop_layers(model)
    p = LIFBoxParameters(tau_mem_inv=torch.as_tensor(1 - BETA), v_th=torch.as_tensor(1.0))
    cells = [LIFBoxCell(p, dt=1.0) for k, _ in layers if k == "neuron"]

    def forward(x: Tensor) -> tuple[Tensor, Tensor]:
        states: list[Any] = [None] * len(cells)
        count, rate = None, x.new_zeros(())
        for x_t in x.unbind(0):
            h, j = x_t, 0
            for kind, mod in layers:
                if kind == "neuron":
                    h, states[j] = cells[j](h * (1 / (1 - BETA)), states[j])
                    rate = rate + h.mean()
                    j += 1
                else:
                    h = mod(h)
            count = h if count is None else count + h
        assert count is not None
        return count, rate / (x.shape[0] * len(cells))

    return forward


def projections_only(model: nn.Module) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """The arithmetic floor: every projection over all T*B rows, no neuron, no recurrence."""

    def forward(x: Tensor) -> tuple[Tensor, Tensor]:
        steps, batch = x.shape[:2]
        h = x.flatten(0, 1)  # (T*B, ...)
        for conv in model.conv:  # type: ignore[union-attr]
            h = model.pool(conv(h))  # type: ignore[operator]
        h = h.flatten(1)
        for fc in model.fc:  # type: ignore[union-attr]
            h = fc(h)
        out = model.readout(h).view(steps, batch, -1)  # type: ignore[operator]
        return out.sum(0), out.new_zeros(())

    return forward


# --------------------------------------------------------------------------- timing


def make_step(
    forward: Callable[[Tensor], tuple[Tensor, Tensor]], model: nn.Module, x: Tensor, y: Tensor
) -> Callable[[], None]:
    """One training step of a (counts, rate) forward: CE(counts) + LAM * rate, backward."""

    def step() -> None:
        model.zero_grad(set_to_none=True)
        counts, rate = forward(x)
        (F.cross_entropy(counts, y) + LAM * rate).backward()

    return step


def fast_step(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    recorder: bool = True,
    bf16: bool = False,
    energy: bool = True,
) -> Callable[[], None]:
    """One training step of a spikeenergy model with the recorder and a SpikeRate term.

    ``energy=False`` with ``recorder=True`` records the spikes but trains on cross-entropy only:
    the cost of the recorder itself, without the energy term's arithmetic.
    """
    loss_fn = EnergyRegularizedLoss(F.cross_entropy, SpikeRate(), LAM)
    dev = x.device.type

    def step() -> None:
        model.zero_grad(set_to_none=True)
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=bf16):
            if recorder:
                with ActivityRecorder(model, needs=loss_fn.needs) as rec:
                    logits = model(x)
                    record = rec.record()
                    if energy:
                        total = loss_fn(logits.float(), y, record).total
                    else:
                        total = F.cross_entropy(logits.float(), y)
            else:
                total = F.cross_entropy(model(x).float(), y)
        total.backward()

    return step


def time_it(
    step: Callable[[], None], repeats: int, device: torch.device, warmup: bool = True
) -> list[float]:
    """Wall times (ms) of ``repeats`` calls (after one untimed warm-up call)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if warmup:
        step()
        sync()
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        sync()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def _summary(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=4) if len(ms) >= 2 else [ms[0]] * 3
    return {"median_ms": statistics.median(ms), "p25_ms": q[0], "p75_ms": q[2], "n": len(ms)}


def bf16_accuracy(model: nn.Module, x: Tensor) -> dict[str, float]:
    """Accuracy cost of bf16 projections: logit error, hidden spike agreement, grad cosine."""
    res = {}
    outs, grads, spikes = [], [], []
    for bf16 in (False, True):
        model.zero_grad(set_to_none=True)
        with (
            torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16),
            ActivityRecorder(model, needs={"spikes"}) as rec,
        ):
            logits = model(x).float()
            spikes.append(rec.record().spiking()[0].spikes.detach())
        logits.sum().backward()
        outs.append(logits.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    res["logit_max_abs_err"] = float((outs[1] - outs[0]).abs().max())
    res["hidden_spike_agreement"] = float((spikes[1] == spikes[0]).float().mean())
    res["grad_cosine"] = float(F.cosine_similarity(grads[0], grads[1], dim=0))
    return res


def bench_net(
    name: str, spec: ModelSpec, steps: int, batch: int, args: argparse.Namespace
) -> dict[str, Any]:
    """Time every variant for one network and shape."""
    dev = torch.device(args.device)
    x, y, src = load_batch(steps, batch, dev)
    xs = x.to_sparse()
    torch.manual_seed(0)
    fast = build_model(spec, SHAPE, 10).to(dev)
    lib = build_model(replace(spec, engine="library"), SHAPE, 10).to(dev)
    lib.load_state_dict(fast.state_dict())
    variants: dict[str, Callable[[], None]] = {
        "snntorch-loop": make_step(snntorch_loop(fast), fast, x, y),
    }
    if not args.no_compile:
        variants["snntorch-compile"] = make_step(snntorch_compiled(fast), fast, x, y)
    variants["norse-loop"] = make_step(norse_loop(fast), fast, x, y)
    if not args.quick:
        variants["library-engine"] = fast_step(lib, x, y)
    variants["fast"] = fast_step(fast, x, y)
    variants["fast-no-recorder"] = fast_step(fast, x, y, recorder=False)
    variants["fast-recorder-only"] = fast_step(fast, x, y, energy=False)
    variants["fast-sparse"] = fast_step(fast, xs, y)
    variants["fast-bf16"] = fast_step(fast, x, y, bf16=True)
    variants["floor"] = make_step(projections_only(fast), fast, x, y)
    # warm up every variant, then time them round-robin: a changing machine load (other
    # processes) then affects every variant alike and the medians stay comparable
    times: dict[str, list[float]] = {k: [] for k in variants}
    for vname, step in variants.items():
        t0 = time.perf_counter()
        times[vname].append(time_it(step, 1, dev)[0])
        print(f"  warm-up {vname:18s} {time.perf_counter() - t0:6.1f} s", flush=True)
    for _ in range(args.repeats - 1):
        for vname, step in variants.items():
            times[vname] += time_it(step, 1, dev, warmup=False)
    rows: dict[str, Any] = {k: _summary(v) for k, v in times.items()}
    floor = rows["floor"]["median_ms"]
    ref = rows["snntorch-loop"]["median_ms"]
    for r in rows.values():
        r["x_floor"] = r["median_ms"] / floor
        r["speedup_vs_snntorch"] = ref / r["median_ms"]
    density = float(xs._nnz()) / x.numel()
    return {
        "net": name,
        "T": steps,
        "B": batch,
        "input": src,
        "input_density": density,
        "variants": rows,
        "bf16_accuracy": bf16_accuracy(fast, x),
    }


# --------------------------------------------------------------------------- epoch


def bench_epoch(args: argparse.Namespace) -> dict[str, Any] | None:
    """One training epoch on the N-MNIST subset: snnTorch library engine vs the fast engine."""
    if not (DATA / "NMNIST").is_dir():
        print(f"epoch benchmark skipped: N-MNIST subset not found at {DATA}")
        return None
    from torch.utils.data import Subset

    from spikeenergy.data import FrameConfig, FrameDataset, make_loader
    from spikeenergy.data.registry import load_dataset
    from spikeenergy.train.loop import run_epoch

    dev = torch.device(args.device)
    steps = args.epoch_steps
    events = load_dataset("nmnist", "train", root=DATA)
    n = 256 if args.quick else len(events)
    out: dict[str, Any] = {"T": steps, "B": 64, "samples": n, "runs": {}}
    spec = NETS["mlp 2312-256-10"]
    for label, engine, sparse in (
        ("snntorch library engine", "library", False),
        ("fast engine, dense frames", "fast", False),
        ("fast engine, sparse frames", "fast", True),
    ):
        ds = Subset(FrameDataset(events, FrameConfig(n_time_bins=steps, sparse=sparse)), range(n))
        t0 = time.perf_counter()
        for i in range(n):  # fill the memory cache (binning is not part of the epoch time)
            ds[i]
        cache_s = time.perf_counter() - t0
        torch.manual_seed(0)
        model = build_model(replace(spec, engine=engine), SHAPE, 10).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        loss_fn = EnergyRegularizedLoss(F.cross_entropy, SpikeRate(), LAM)
        loader = make_loader(ds, batch_size=64, shuffle=True, seed=0)
        t0 = time.perf_counter()
        res = run_epoch(model, loader, loss_fn, dev, optimizer=opt)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        wall = time.perf_counter() - t0
        out["runs"][label] = {"epoch_s": wall, "cache_fill_s": cache_s, "loss": res["loss"]}
        print(f"  {label:28s} epoch {wall:7.2f} s  (cache fill {cache_s:.1f} s)", flush=True)
    ref = out["runs"]["snntorch library engine"]["epoch_s"]
    for r in out["runs"].values():
        r["speedup_vs_snntorch"] = ref / r["epoch_s"]
    return out


# --------------------------------------------------------------------------- main


def _table(res: dict[str, Any]) -> str:
    lines = [
        f"### {res['net']}, T={res['T']}, B={res['B']} ({res['input']}, "
        f"density {res['input_density']:.2%})",
        "",
        "| variant | median ms | IQR ms | x floor | speed-up vs snnTorch loop |",
        "|---|---:|---:|---:|---:|",
    ]
    for k, r in res["variants"].items():
        lines.append(
            f"| {k} | {r['median_ms']:.1f} | {r['p25_ms']:.1f}-{r['p75_ms']:.1f} | "
            f"{r['x_floor']:.2f} | {r['speedup_vs_snntorch']:.2f} |"
        )
    a = res["bf16_accuracy"]
    lines.append(
        f"\nbf16 accuracy cost: max |logit error| {a['logit_max_abs_err']:.3g} spikes, hidden "
        f"spike agreement {a['hidden_spike_agreement']:.4f}, gradient cosine {a['grad_cosine']:.4f}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print markdown tables and write JSON results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, T=100 shape only")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per variant")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    ap.add_argument("--no-epoch", action="store_true", help="skip the N-MNIST epoch")
    ap.add_argument("--nets", default=",".join(NETS), help="comma-separated network names, or none")
    ap.add_argument("--epoch-steps", type=int, default=100, help="T of the epoch benchmark")
    ap.add_argument("--out", default=None, help="write results as JSON here")
    ap.add_argument("--shapes", default=None, help="T x B list, e.g. 100x64,25x128")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("--device cuda requested but CUDA is not available")
        return 2
    args.repeats = args.repeats or (3 if args.quick else 7)
    shapes = [(100, 64)] if args.quick else [(100, 64), (25, 128)]
    if args.shapes:
        shapes = [tuple(int(v) for v in s.split("x")) for s in args.shapes.split(",")]  # type: ignore[misc]
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    meta = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "load_avg_before": load,
        "device": args.device,
        "python": sys.version.split()[0],
        "machine": platform.processor() or platform.machine(),
    }
    print(f"# spikeenergy perf ({meta})")
    results: dict[str, Any] = {"meta": meta, "nets": []}
    for name in [n for n in args.nets.split(",") if n and n != "none"]:
        for steps, batch in shapes:
            print(f"\n{name}, T={steps}, B={batch}", flush=True)
            results["nets"].append(bench_net(name, NETS[name], steps, batch, args))
    if not args.no_epoch:
        print("\nN-MNIST epoch", flush=True)
        results["epoch"] = bench_epoch(args)
    results["meta"]["load_avg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print()
    for res in results["nets"]:
        print(_table(res) + "\n")
    if results.get("epoch"):
        ep = results["epoch"]
        print(f"### one epoch, N-MNIST subset ({ep['samples']} samples, T={ep['T']}, B=64)\n")
        print("| model | epoch s | speed-up vs snnTorch |\n|---|---:|---:|")
        for k, r in ep["runs"].items():
            print(f"| {k} | {r['epoch_s']:.2f} | {r['speedup_vs_snntorch']:.2f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
