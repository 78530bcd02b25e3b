"""Every number of docs/performance.md in one run: training steps, epochs and a full-size dataset.

Stage 1, one training step (forward + loss + backward) of each variant on the same input batch,
timed round-robin (medians and IQR), with the peak memory of a step beside the time:
  snntorch-loop       snnTorch Leaky neurons stepped in a Python loop (the usual tutorial code)
  snntorch-compile    the same per-step function through torch.compile (--compile)
  norse-loop          Norse LIFBoxCell stepped in a Python loop
  spikingjelly        SpikingJelly multi-step LIFNode network (only where it is installed)
  library-engine      spikeenergy SpikingNet, engine="library" (snnTorch backend)
  fast                spikeenergy fast engine, fp32 dense input, ActivityRecorder + SpikeRate
  fast-no-recorder    the same without the recorder (cross-entropy only)
  fast-recorder-only  recorder on, cross-entropy only (recorder cost without the energy term)
  fast-sparse         fast engine on the sparse COO input (event frames; sparse first layer)
  fast-bf16           fast engine with the projections under bf16 autocast
  floor               the projections alone (matmuls / convolutions, forward + backward)
for the reference network 2312 -> 256 LIF -> 10 LIF and a convolutional network, at
(T=100, B=64) and (T=25, B=128). Every spiking variant's output spike counts are compared with
the snnTorch loop's on the batch ("same spikes").
Stage 2: one training epoch on the N-MNIST subset (../shared/data/NMNIST): snnTorch library
engine vs fast engine (dense, sparse frames).
Stage 3: Fashion-MNIST-DVS at full size (60,000 / 10,000, ../shared/data/fashion-mnist): time to
convert the events (disk cache, resumable), to fill the frame cache, per training epoch (library
and fast engines), peak memory, and test accuracy with its 95 % Wilson interval after
``--fashion-epochs`` epochs of the fast engine (checkpointed each epoch: a killed run resumes).

Usage:  python benchmarks/perf/run_perf.py [--device cpu|cuda] [--threads N] [--out f.json]
        [--data-root DIR] [--quick] [--no-epoch] [--no-fashion] [--fashion-cache DIR]
Loss everywhere: cross-entropy on the output spike counts + 0.1 * mean spike rate.
Peak memory ("step MiB"): CPU, the rise of the process's peak resident set during the step over
the resident set before it (glibc's malloc_trim returns freed heap pages first, /proc/self/
clear_refs resets the peak), i.e. the memory the step itself needs; "peak MiB" is the absolute
peak resident set (libraries and data included). CUDA: the allocator's peak
(torch.cuda.max_memory_allocated) and its rise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
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
from spikeenergy.models.fast.precision import bf16_pays, cpu_has_native_bf16
from spikeenergy.record import ActivityRecorder

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DATA = Path(os.environ.get("SPIKEENERGY_DATA", ROOT.parent / "shared" / "data"))
SHAPE = (2, 34, 34)
BETA, LAM = 0.9, 0.1
NEURON = NeuronSpec(beta=BETA)  # leaky, subtract reset, fast_sigmoid slope 1
NETS = {
    "mlp 2312-256-10": ModelSpec("snn-mlp", hidden=(256,), readout="spike_count", neuron=NEURON),
    "cnn c8-c16-64-10": ModelSpec(
        "snn-cnn", hidden=(64,), conv_channels=(8, 16), readout="spike_count", neuron=NEURON
    ),
}

# --------------------------------------------------------------------------- memory


def _status_mb(field: str) -> float:
    m = re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(m.group(1)) / 1024 if m else math.nan


def _malloc_trim() -> None:
    """glibc's malloc_trim(0): return free heap memory to the system (no-op elsewhere)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if name:
        try:
            ctypes.CDLL(name).malloc_trim(0)
        except (OSError, AttributeError):
            pass


def peak_memory(step: Callable[[], None], device: torch.device) -> dict[str, float]:
    """Peak memory of one call of ``step`` (MiB): absolute and rise over the memory before it."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated() / 2**20
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**20
        return {"peak_mb": peak, "step_mb": peak - before}
    try:
        _malloc_trim()  # hand freed heap pages back, so the step's own pages show as a rise
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    except OSError:
        return {"peak_mb": math.nan, "step_mb": math.nan}
    before = _status_mb("VmRSS")
    step()
    peak = _status_mb("VmHWM")
    return {"peak_mb": peak, "step_mb": peak - before}


# --------------------------------------------------------------------------- input


def load_batch(
    steps: int, batch: int, device: torch.device, data: Path
) -> tuple[Tensor, Tensor, str]:
    """Real N-MNIST frames (first ``batch`` training samples) or synthetic 2 % events."""
    if (data / "NMNIST").is_dir():
        from spikeenergy.data import FrameConfig, FrameDataset, collate_time_major
        from spikeenergy.data.registry import load_dataset

        ds = FrameDataset(
            load_dataset("nmnist", "train", root=data), FrameConfig(n_time_bins=steps, cache=None)
        )
        stride = max(1, len(ds) // batch)
        x, y = collate_time_major([ds[i * stride % len(ds)] for i in range(batch)])
        src = f"N-MNIST subset, {batch} samples"
    else:
        print(f"(N-MNIST subset not found at {data}; using synthetic events, 2 % dense)")
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
    dev = next(model.parameters()).device
    for n in neurons:
        n.to(dev)

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
        x = x.to_dense() if x.is_sparse else x
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
    dev = next(model.parameters()).device
    p = LIFBoxParameters(
        tau_mem_inv=torch.as_tensor(1 - BETA, device=dev), v_th=torch.as_tensor(1.0, device=dev)
    )
    cells = [LIFBoxCell(p, dt=1.0) for k, _ in layers if k == "neuron"]

    def forward(x: Tensor) -> tuple[Tensor, Tensor]:
        x = x.to_dense() if x.is_sparse else x
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


def spikingjelly_net(model: nn.Module) -> Callable[[Tensor], tuple[Tensor, Tensor]] | None:
    """SpikingJelly multi-step network with the same weights (LIFNode, decay_input=False,
    tau = 1 / (1 - beta), subtract reset, CuPy backend on CUDA when available); None when
    SpikingJelly is not installed."""
    try:
        from spikingjelly.activation_based import functional, neuron, surrogate
    except ImportError:
        return None
    dev = next(model.parameters()).device
    backend = "torch"
    if dev.type == "cuda":
        try:
            import cupy  # noqa: F401

            backend = "cupy"
        except ImportError:
            pass
    layers = _loop_layers(model)
    nodes = [
        neuron.LIFNode(
            tau=1.0 / (1.0 - BETA),
            decay_input=False,
            v_threshold=1.0,
            v_reset=None,  # subtract reset
            surrogate_function=surrogate.Sigmoid(),
            step_mode="m",
            backend=backend,
        ).to(dev)
        for k, _ in layers
        if k == "neuron"
    ]

    def forward(x: Tensor) -> tuple[Tensor, Tensor]:
        x = x.to_dense() if x.is_sparse else x
        steps, batch = x.shape[:2]
        h, rate, j = x, x.new_zeros(()), 0
        for kind, mod in layers:
            if kind == "neuron":
                h = nodes[j](h)  # (T, B, ...) in multi-step mode
                rate = rate + h.mean()
                j += 1
            else:
                out = mod(h.flatten(0, 1))  # projections over T * B, like the fast engine
                h = out.view(steps, batch, *out.shape[1:])
        for n in nodes:
            functional.reset_net(n)
        return h.sum(0), rate / len(nodes)

    return forward


def projections_only(model: nn.Module) -> Callable[[Tensor], tuple[Tensor, Tensor]]:
    """The arithmetic floor: every projection over all T*B rows, no neuron, no recurrence."""

    def forward(x: Tensor) -> tuple[Tensor, Tensor]:
        x = x.to_dense() if x.is_sparse else x
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


Forward = Callable[[Tensor], tuple[Tensor, Tensor]]


def make_step(forward: Forward, model: nn.Module, x: Tensor, y: Tensor) -> Callable[[], None]:
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
    """Time every variant for one network and shape; memory and spike agreement beside."""
    dev = torch.device(args.device)
    x, y, src = load_batch(steps, batch, dev, args.data_root)
    xs = x.to_sparse()
    torch.manual_seed(0)
    fast = build_model(replace(spec, engine="fast"), SHAPE, 10).to(dev)
    lib = build_model(replace(spec, engine="library"), SHAPE, 10).to(dev)
    lib.load_state_dict(fast.state_dict())
    ref_loop = snntorch_loop(fast)
    forwards: dict[str, Forward | None] = {"snntorch-loop": ref_loop}
    if args.compile:
        forwards["snntorch-compile"] = snntorch_compiled(fast)
    forwards["norse-loop"] = norse_loop(fast)
    sj = spikingjelly_net(fast)
    if sj is not None:
        forwards["spikingjelly"] = sj
    variants: dict[str, Callable[[], None]] = {
        k: make_step(f, fast, x, y) for k, f in forwards.items() if f is not None
    }
    if not args.quick:
        variants["library-engine"] = fast_step(lib, x, y)
    variants["fast"] = fast_step(fast, x, y)
    variants["fast-no-recorder"] = fast_step(fast, x, y, recorder=False)
    variants["fast-recorder-only"] = fast_step(fast, x, y, energy=False)
    variants["fast-sparse"] = fast_step(fast, xs, y)
    variants["fast-bf16"] = fast_step(fast, x, y, bf16=True)
    variants["floor"] = make_step(projections_only(fast), fast, x, y)
    # same spikes? output spike counts of each spiking variant against the snnTorch loop's
    with torch.no_grad():
        ref_counts = ref_loop(x)[0]
        outputs = {k: f(x)[0] for k, f in forwards.items() if f is not None}
        outputs["library-engine"] = lib(x)
        outputs["fast"] = fast(x)
        outputs["fast-sparse"] = fast(xs)
    same = {k: float((v == ref_counts).float().mean()) for k, v in outputs.items()}
    # warm up every variant, measure its peak memory, then time them round-robin: a changing
    # machine load (other processes) then affects every variant alike
    times: dict[str, list[float]] = {k: [] for k in variants}
    memory: dict[str, dict[str, float]] = {}
    for vname, step in variants.items():
        t0 = time.perf_counter()
        times[vname].append(time_it(step, 1, dev)[0])
        memory[vname] = peak_memory(step, dev)
        print(f"  warm-up {vname:18s} {time.perf_counter() - t0:6.1f} s", flush=True)
    for _ in range(args.repeats - 1):
        for vname, step in variants.items():
            times[vname] += time_it(step, 1, dev, warmup=False)
    rows: dict[str, Any] = {k: {**_summary(v), **memory[k]} for k, v in times.items()}
    floor = rows["floor"]["median_ms"]
    ref = rows["snntorch-loop"]["median_ms"]
    for k, r in rows.items():
        r["x_floor"] = r["median_ms"] / floor
        r["speedup_vs_snntorch"] = ref / r["median_ms"]
        r["same_spikes"] = same.get(k.replace("-no-recorder", "").replace("-recorder-only", ""))
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


# --------------------------------------------------------------------------- epochs


def _epoch(model: nn.Module, loader: Any, dev: torch.device, lr: float = 1e-3) -> dict[str, Any]:
    """One training epoch through spikeenergy.train.run_epoch: wall time, peak memory, loss."""
    from spikeenergy.train.loop import run_epoch

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = EnergyRegularizedLoss(F.cross_entropy, SpikeRate(), LAM)
    out: dict[str, Any] = {}

    def run() -> None:
        t0 = time.perf_counter()
        out.update(run_epoch(model, loader, loss_fn, dev, optimizer=opt))
        if dev.type == "cuda":
            torch.cuda.synchronize()
        out["epoch_s"] = time.perf_counter() - t0

    out.update(peak_memory(run, dev))
    return out


def bench_epoch(args: argparse.Namespace) -> dict[str, Any] | None:
    """One training epoch on the N-MNIST subset: snnTorch library engine vs the fast engine."""
    if not (args.data_root / "NMNIST").is_dir():
        print(f"epoch benchmark skipped: N-MNIST subset not found at {args.data_root}")
        return None
    from torch.utils.data import Subset

    from spikeenergy.data import FrameConfig, FrameDataset, make_loader
    from spikeenergy.data.registry import load_dataset

    dev = torch.device(args.device)
    steps = args.epoch_steps
    events = load_dataset("nmnist", "train", root=args.data_root)
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
        loader = make_loader(ds, batch_size=64, shuffle=True, seed=0)
        r = _epoch(model, loader, dev)
        out["runs"][label] = {**r, "cache_fill_s": cache_s}
        print(
            f"  {label:28s} epoch {r['epoch_s']:7.2f} s, peak {r['peak_mb']:.0f} MiB "
            f"(cache fill {cache_s:.1f} s)",
            flush=True,
        )
    ref = out["runs"]["snntorch library engine"]["epoch_s"]
    for r in out["runs"].values():
        r["speedup_vs_snntorch"] = ref / r["epoch_s"]
    return out


# --------------------------------------------------------------------------- full size


def wilson(correct: int, n: int) -> tuple[float, float]:
    """95 % Wilson score interval of an accuracy (statsmodels)."""
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(correct, n, alpha=0.05, method="wilson")
    return float(lo), float(hi)


def _convert(ds: Any, workers: int) -> dict[str, Any]:
    """Convert (or find converted) events; the first conversion's timing is kept beside them."""
    record = Path(ds.cache_path) / "conversion.json"
    todo = sum(not ds._has(c) for c in range(ds.n_chunks))
    if todo == 0 and record.is_file():
        return {**json.loads(record.read_text()), "from_cache": True}
    import resource

    t0, c0 = time.perf_counter(), time.process_time()
    ch0 = resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
    load = os.getloadavg()
    ds.prepare(progress=True, workers=workers)
    res = {
        "samples": len(ds),
        "chunks_converted": todo,
        "wall_s": time.perf_counter() - t0,
        "cpu_s": time.process_time()
        - c0
        + resource.getrusage(resource.RUSAGE_CHILDREN).ru_utime
        - ch0,
        "workers": workers,
        "load_avg_before": load,
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    if todo == ds.n_chunks:  # a complete conversion in this run: keep its timing
        record.write_text(json.dumps(res, indent=1))
    return {**res, "from_cache": False}


def bench_fashion(args: argparse.Namespace) -> dict[str, Any] | None:
    """Fashion-MNIST-DVS, all 60,000 / 10,000 samples: preparation, epochs, memory, accuracy."""
    if not (args.data_root / "fashion-mnist").is_dir():
        print(f"full-size benchmark skipped: fashion-mnist not found at {args.data_root}")
        return None
    from spikeenergy.data import FrameConfig, FrameDataset, make_loader
    from spikeenergy.data.fashion_mnist import FashionMNISTDVS
    from spikeenergy.io import atomic_write
    from spikeenergy.train.loop import run_epoch

    dev = torch.device(args.device)
    cache = Path(args.fashion_cache)
    limit = 2000 if args.quick else None
    out: dict[str, Any] = {"T": args.fashion_steps, "B": args.fashion_batch, "events": {}}
    frames: dict[str, Any] = {}
    for split in ("train", "test"):
        ev = FashionMNISTDVS(args.data_root, split, cache_dir=cache, limit=limit)
        out["events"][split] = _convert(ev, args.workers)
        print(f"  events {split}: {out['events'][split]}", flush=True)
        cfg = FrameConfig(n_time_bins=args.fashion_steps, sparse=True)
        ds = FrameDataset(ev, cfg)
        t0 = time.perf_counter()

        def fill(ds: Any = ds) -> None:
            for i in range(len(ds)):
                ds[i]

        mem = peak_memory(fill, torch.device("cpu"))
        out[f"frames_{split}"] = {
            "fill_s": time.perf_counter() - t0,
            "cache_mb": ds.cache_nbytes / 2**20,
            "dense_equivalent_mb": len(ds)
            * args.fashion_steps
            * math.prod(ds.frame_shape)
            * 4
            / 2**20,
            **mem,
        }
        print(f"  frame cache {split}: {out[f'frames_{split}']}", flush=True)
        frames[split] = ds
    spec = replace(NETS["mlp 2312-256-10"], readout="spike_count")
    loss_fn = EnergyRegularizedLoss(F.cross_entropy, SpikeRate(), LAM)
    test_loader = make_loader(frames["test"], batch_size=256)
    # library engine: one epoch for its time and memory
    torch.manual_seed(0)
    lib = build_model(replace(spec, engine="library"), SHAPE, 10).to(dev)
    loader = make_loader(frames["train"], args.fashion_batch, shuffle=True, seed=0)
    out["library_epoch"] = _epoch(lib, loader, dev)
    print(f"  library engine epoch: {out['library_epoch']}", flush=True)
    # fast engine: --fashion-epochs epochs, checkpointed (a killed run resumes from the last one)
    ckpt = cache / f"fast-T{args.fashion_steps}-B{args.fashion_batch}-n{limit}.pt"
    torch.manual_seed(0)
    model = build_model(replace(spec, engine="fast"), SHAPE, 10).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    history: list[dict[str, Any]] = []
    if ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history = state["history"]
        print(f"  resuming after epoch {len(history)} from {ckpt}", flush=True)
    for epoch in range(len(history), args.fashion_epochs):
        loader = make_loader(frames["train"], args.fashion_batch, shuffle=True, seed=epoch)
        res: dict[str, Any] = {}

        def run(loader: Any = loader, res: dict[str, Any] = res) -> None:
            t0 = time.perf_counter()
            res.update(run_epoch(model, loader, loss_fn, dev, optimizer=opt))
            res["epoch_s"] = time.perf_counter() - t0

        res.update(peak_memory(run, dev))
        res["load_avg_after"] = os.getloadavg()
        history.append(res)
        payload = {"model": model.state_dict(), "optimizer": opt.state_dict(), "history": history}
        atomic_write(ckpt, lambda f, p=payload: torch.save(p, f))
        print(f"  fast engine epoch {epoch}: {res}", flush=True)
    out["fast_epochs"] = history
    t0 = time.perf_counter()
    ev = run_epoch(model, test_loader, loss_fn, dev)
    n = ev["n_samples"]
    correct = round(ev["accuracy"] * n)
    lo, hi = wilson(correct, n)
    out["test"] = {
        "accuracy": ev["accuracy"],
        "ci95": [lo, hi],
        "n": n,
        "eval_s": time.perf_counter() - t0,
        "epochs_trained": len(history),
    }
    print(f"  test: {out['test']}", flush=True)
    return out


# --------------------------------------------------------------------------- main


def _table(res: dict[str, Any]) -> str:
    lines = [
        f"#### {res['net']}, T={res['T']}, B={res['B']} ({res['input']}, "
        f"density {res['input_density']:.2%})",
        "",
        "| variant | median ms | IQR ms | x floor | speed-up vs snnTorch loop | peak MiB | "
        "step MiB | same spikes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, r in res["variants"].items():
        same = "" if r.get("same_spikes") is None else f"{r['same_spikes']:.4f}"
        lines.append(
            f"| {k} | {r['median_ms']:.1f} | {r['p25_ms']:.1f}-{r['p75_ms']:.1f} | "
            f"{r['x_floor']:.2f} | {r['speedup_vs_snntorch']:.2f} | {r['peak_mb']:.0f} | "
            f"{r['step_mb']:.0f} | {same} |"
        )
    a = res["bf16_accuracy"]
    lines.append(
        f"\nbf16 accuracy cost: max |logit error| {a['logit_max_abs_err']:.3g} spikes, hidden "
        f"spike agreement {a['hidden_spike_agreement']:.4f}, gradient cosine {a['grad_cosine']:.4f}"
    )
    return "\n".join(lines)


def _fashion_table(fa: dict[str, Any]) -> str:
    lines = [f"#### Fashion-MNIST-DVS, 60,000 / 10,000 samples, T={fa['T']}, B={fa['B']}", ""]
    for split, e in fa["events"].items():
        when = f"measured at conversion, {e.get('date', '?')}" if e["from_cache"] else "this run"
        lines.append(
            f"- events {split}: {e['samples']} samples, {e['wall_s']:.0f} s wall, "
            f"{e['cpu_s']:.0f} s CPU ({e['workers']} workers, load {e['load_avg_before'][0]:.1f}; "
            f"{when})"
        )
    for split in ("train", "test"):
        f = fa[f"frames_{split}"]
        lines.append(
            f"- frame cache {split}: filled in {f['fill_s']:.0f} s, {f['cache_mb']:.0f} MiB "
            f"(dense float32 would be {f['dense_equivalent_mb']:.0f} MiB), peak RSS "
            f"{f['peak_mb']:.0f} MiB"
        )
    lib = fa["library_epoch"]
    lines += [
        "",
        "| engine | epoch s | samples/s | peak RSS MiB | train acc |",
        "|---|---:|---:|---:|---:|",
        f"| snnTorch library engine | {lib['epoch_s']:.0f} | "
        f"{lib['n_samples'] / lib['epoch_s']:.0f} | {lib['peak_mb']:.0f} | {lib['accuracy']:.3f} |",
    ]
    for i, r in enumerate(fa["fast_epochs"]):
        lines.append(
            f"| fast engine, sparse frames, epoch {i + 1} | {r['epoch_s']:.0f} | "
            f"{r['n_samples'] / r['epoch_s']:.0f} | {r['peak_mb']:.0f} | {r['accuracy']:.3f} |"
        )
    t = fa["test"]
    lines.append(
        f"\nTest accuracy after {t['epochs_trained']} fast-engine epochs: {t['accuracy']:.4f} "
        f"(95 % Wilson interval {t['ci95'][0]:.4f}-{t['ci95'][1]:.4f}, n = {t['n']})"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print markdown tables and write JSON results."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and samples (smoke run)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats per variant")
    ap.add_argument("--compile", action="store_true", help="add the torch.compile variant")
    ap.add_argument("--no-epoch", action="store_true", help="skip the N-MNIST epoch")
    ap.add_argument("--no-fashion", action="store_true", help="skip the full-size stage")
    ap.add_argument("--nets", default=",".join(NETS), help="comma-separated network names, or none")
    ap.add_argument("--epoch-steps", type=int, default=100, help="T of the N-MNIST epoch")
    ap.add_argument("--out", default=None, help="write results as JSON here")
    ap.add_argument("--shapes", default=None, help="T x B list, e.g. 100x64,25x128")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all)")
    ap.add_argument("--data-root", type=Path, default=DEFAULT_DATA, help="real data folder")
    ap.add_argument("--fashion-cache", default=str(ROOT / "results" / "perf" / "fashion-cache"))
    ap.add_argument("--fashion-epochs", type=int, default=3, help="fast-engine epochs to train")
    ap.add_argument("--fashion-steps", type=int, default=20, help="T of the full-size run")
    ap.add_argument("--fashion-batch", type=int, default=128, help="batch of the full-size run")
    ap.add_argument("--workers", type=int, default=2, help="processes converting events")
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
        "gpu": torch.cuda.get_device_name() if args.device.startswith("cuda") else None,
        "python": sys.version.split()[0],
        "machine": platform.processor() or platform.machine(),
        "cpu_native_bf16": cpu_has_native_bf16(),
        "bf16_pays": bf16_pays(torch.device(args.device).type),
        "argv": sys.argv[1:] if argv is None else argv,
        "started": time.strftime("%Y-%m-%d %H:%M"),
    }
    print(f"# spikeenergy perf ({meta})")
    results: dict[str, Any] = {"meta": meta, "nets": []}
    t_start = time.perf_counter()
    for name in [n for n in args.nets.split(",") if n and n != "none"]:
        for steps, batch in shapes:
            print(f"\n{name}, T={steps}, B={batch}", flush=True)
            results["nets"].append(bench_net(name, NETS[name], steps, batch, args))
    if not args.no_epoch:
        print("\nN-MNIST epoch", flush=True)
        results["epoch"] = bench_epoch(args)
    if not args.no_fashion:
        print("\nFashion-MNIST-DVS, full size", flush=True)
        results["fashion"] = bench_fashion(args)
    results["meta"]["load_avg_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    results["meta"]["wall_s"] = time.perf_counter() - t_start
    print()
    for res in results["nets"]:
        print(_table(res) + "\n")
    if results.get("epoch"):
        ep = results["epoch"]
        print(f"#### one epoch, N-MNIST subset ({ep['samples']} samples, T={ep['T']}, B=64)\n")
        print("| model | epoch s | speed-up vs snnTorch | peak RSS MiB |\n|---|---:|---:|---:|")
        for k, r in ep["runs"].items():
            print(
                f"| {k} | {r['epoch_s']:.2f} | {r['speedup_vs_snntorch']:.2f} | "
                f"{r['peak_mb']:.0f} |"
            )
    if results.get("fashion"):
        print("\n" + _fashion_table(results["fashion"]))
    print(
        f"\nload average before {meta['load_avg_before']}, after "
        f"{results['meta']['load_avg_after']}; bf16 native: {meta['cpu_native_bf16']}, "
        f"bf16 picked (precision.bf16_pays): {meta['bf16_pays']}; "
        f"total {results['meta']['wall_s']:.0f} s"
    )
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
