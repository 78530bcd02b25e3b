#!/usr/bin/env python
"""Tutorial: use your own dataset with spikeenergy (a channel-based sensor, end to end).

    python docs/tutorials/own_dataset.py --out own_dataset_out            # ~ minutes on a CPU
    python docs/tutorials/own_dataset.py --out /tmp/own --quick           # CI sizes, seconds

What it shows, in order:

1. **A sensor of your own, registered from your code.** ``BurstSensor`` below simulates a 4-channel
   physiological recording (200 Hz, 1 s windows): every channel is coloured noise, "normal"
   windows carry one burst of 25 Hz activity on channel 0 or 3, "event" windows carry in
   addition a synchronous burst on channels 1 and 2. Events are rare: 90 % normal, 10 % event,
   exactly. Each window is delta-encoded by :class:`spikeenergy.data.DeltaModulation` into
   UP/DOWN events ``(t, x = channel, p)``. The dataset is registered with
   :func:`spikeenergy.data.register_dataset` at import of this file, with its options declared
   and checked (a typo such as ``--dataset-option m=3`` is refused with the option list).
2. **Every process must import the registering module.** This file is that module: the command
   line gets it with ``--module docs/tutorials/own_dataset.py``, the benchmark suite with
   ``modules = [".../own_dataset.py"]`` so that the worker processes (local or Ray) import it
   before their runs. (An installed package would declare an entry point in group
   ``spikeenergy.datasets`` instead and need neither.) In a notebook, re-running a cell that
   registers needs ``register_dataset(entry, replace=True)``; ``DATASETS.unregister(name)``
   removes a name.
3. **Accuracy misleads on imbalanced data.** Predicting "normal" for every window scores
   accuracy 0.90 and balanced accuracy 0.50 on the test split (computed below). Training
   therefore selects its checkpoint by ``metric = "balanced_accuracy"`` and weights the loss
   by inverse class frequency (``class_weights = "balanced"``). The checkpoint is the best
   validation epoch by that metric; on ties the LATER epoch wins, so a run whose score
   plateaus keeps its trained weights (and energy), not epoch 0's.
4. **Train** one model from the command line, **benchmark** spiking and dense models with
   local worker processes (a suite written by this script; the lambda grid is scaled from the
   trained model's energy per inference), **report**, and **export** the run with the best
   validation balanced accuracy (its checkpoint ``runs/<run_id>.pt`` is kept by the sweep)
   with per-layer operations and joules per inference on hardware targets.

Threshold choice: a delta encoder emits at most about ``sum |x_i - x_(i-1)| / threshold``
events per channel (the signal's total variation in thresholds; fewer on noise, whose small
back-and-forth steps inside one threshold emit nothing), so a smaller threshold means more
events, spikes and first-layer energy. Pick it from the signal's scale and check the counts
printed in step 1: here, at threshold 0.5, the coloured noise (standard deviation ~1) gives
~40 events per channel and second, a background burst (amplitude 3) adds ~45 on its channel
and an event burst (amplitude 2) ~25 on channels 1 and 2 (measured on 400 windows: channels
1-2 average 41 events in normal windows, 67 in event windows). The signal to detect must add
clearly more events than the noise's spread; a much smaller threshold spends most events on
noise.

The suite names the selection metric once, as ``[suite] metric``: it selects each run's
checkpoint and the report's lambda on validation, and is the metric of the report's tests.
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from spikeenergy.data import (
    DatasetCard,
    DatasetEntry,
    DeltaModulation,
    load_dataset,
    register_dataset,
)

NAME = "burst-sensor"
SAMPLE_RATE_HZ = 200.0
WINDOW_S = 1.0
CHANNELS = 4
CLASSES = ("normal", "event")

CARD = DatasetCard(
    name=NAME,
    sensor_size=(CHANNELS, 1, 2),  # (channels, 1, UP/DOWN)
    n_classes=len(CLASSES),
    layout="(generated in code: no files)",
    obtain="simulated by docs/tutorials/own_dataset.py",
    card="docs/tutorials/own_dataset.py",
)


def _burst(n: int, start: int, length: int, amplitude: float, phase: float) -> np.ndarray:
    """A 25 Hz oscillation under a Hann envelope, ``length`` samples from ``start``."""
    out = np.zeros(n)
    t = np.arange(length) / SAMPLE_RATE_HZ
    out[start : start + length] = (
        amplitude * np.hanning(length) * np.sin(2 * np.pi * 25.0 * t + phase)
    )
    return out


def simulate_window(label: int, rng: np.random.Generator) -> np.ndarray:
    """One window ``(samples, channels)``: AR(1) noise, a background burst, and for an event a
    synchronous burst on channels 1 and 2."""
    n = int(SAMPLE_RATE_HZ * WINDOW_S)
    noise = rng.normal(scale=0.3, size=(n, CHANNELS))
    x = np.empty_like(noise)
    x[0] = noise[0] / math.sqrt(1 - 0.95**2)
    for i in range(1, n):  # coloured noise of standard deviation ~1 (0.3 / sqrt(1 - 0.95^2))
        x[i] = 0.95 * x[i - 1] + noise[i]
    length = int(0.2 * SAMPLE_RATE_HZ)
    background = int(rng.choice([0, 3]))
    x[:, background] += _burst(n, int(rng.integers(0, n - length)), length, 3.0, rng.uniform(0, 6))
    if label == 1:
        start, phase = int(rng.integers(0, n - length)), rng.uniform(0, 6)
        for ch in (1, 2):
            x[:, ch] += _burst(n, start, length, 2.0, phase)
    return x


@dataclass
class BurstSensor:
    """``n`` windows of a split: ``round(n * event_fraction)`` events, the rest normal, shuffled;
    ``ds[i] -> (events, label)`` with events ``(t, x, p)`` from :class:`DeltaModulation`."""

    split: str
    n: int = 400
    event_fraction: float = 0.1
    threshold: float = 0.5
    seed: int = 0
    sensor_size: tuple[int, int, int] = CARD.sensor_size
    classes: list[str] = field(default_factory=lambda: list(CLASSES))

    def __post_init__(self) -> None:
        rng = np.random.default_rng([self.seed, ("train", "test").index(self.split)])
        n_events = round(self.n * self.event_fraction)
        labels = np.array([1] * n_events + [0] * (self.n - n_events))
        rng.shuffle(labels)
        self.targets = [int(y) for y in labels]
        encode = DeltaModulation(SAMPLE_RATE_HZ, threshold=self.threshold)
        self.events = [encode(simulate_window(y, rng)) for y in self.targets]

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        return self.events[index], self.targets[index]


def check_options(options: dict[str, Any]) -> None:
    """Refuse bad option values with the option's name and the fix (run when a suite or a
    command line is read, before any data is made)."""
    n = options.get("n", 400)
    if isinstance(n, bool) or not isinstance(n, int) or n < 20:
        raise ValueError(f"n={n!r} must be an integer >= 20 (windows per split)")
    frac = options.get("event_fraction", 0.1)
    if not isinstance(frac, (int, float)) or not 0 < frac <= 0.5:
        raise ValueError(f"event_fraction={frac!r} must be a number in (0, 0.5]")
    thr = options.get("threshold", 0.5)
    if not isinstance(thr, (int, float)) or not thr > 0:
        raise ValueError(f"threshold={thr!r} must be a number > 0 (delta step, signal units)")


def make_burst_sensor(root: Path, split: str, download: bool, **options: Any) -> BurstSensor:
    """The dataset factory: ``(root, split, download, **options)``; nothing to read or fetch."""
    return BurstSensor(split, **options)


register_dataset(
    DatasetEntry(
        CARD,
        make_burst_sensor,
        options=("n", "event_fraction", "threshold", "seed"),
        check=check_options,
    )
)


# --------------------------------------------------------------------------- the walkthrough


SUITE = """\
# written by docs/tutorials/own_dataset.py
[suite]
name = "burst-sensor"
seeds = {seeds}
lambdas = {lambdas}            # joules term: lambda in 1/pJ, scaled from E0 of the train step
target = "cmos45"
modules = ["{module}"]      # every worker imports this file before its runs
keep_checkpoints = true        # runs/<run_id>.pt beside every record (the default)
metric = "balanced_accuracy"   # selects each run's checkpoint and lambda on validation

[train]
epochs = {epochs}
batch_size = 16
lr = 0.005
class_weights = "balanced"     # cross-entropy weighted by inverse class frequency

[frames]
n_time_bins = {bins}
t_start_us = 0                 # fixed window: bin k covers the same time in every sample
duration_us = 1000000

[[datasets]]
name = "burst-sensor"
options = {{ n = {n} }}
val_fraction = 0.25

[[models]]
family = "snn-mlp"
hidden = [{hidden}]

[[models]]
family = "mlp"
hidden = [{hidden}]
"""


def run(argv: list[str]) -> int:
    """The command line, in this process (``spikeenergy ARGS`` in a shell does the same)."""
    from spikeenergy.cli import main

    print("\n$ spikeenergy " + " ".join(argv))
    rc = main(argv)
    if rc != 0:
        raise SystemExit(f"spikeenergy {argv[0]} failed with exit code {rc}")
    return rc


def main() -> None:
    """Walk through steps 1-4 (see the module docstring)."""
    import json

    from spikeenergy.bench import ResultsStore
    from spikeenergy.train.scores import task_scores

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="own_dataset_out", help="folder for every output")
    p.add_argument("--quick", action="store_true", help="tiny sizes (CI): seconds, not minutes")
    p.add_argument("--workers", type=int, default=2, help="local worker processes of the bench")
    args = p.parse_args()
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    here = str(Path(__file__).resolve())
    n, epochs, bins, hidden, seeds = (100, 3, 10, 16, 1) if args.quick else (400, 15, 20, 64, 3)

    # 1. the data, as the package sees it
    train = load_dataset(NAME, "train", n=n)
    per_channel = np.array(
        [np.bincount(train[i][0]["x"], minlength=CHANNELS) for i in range(len(train))]
    )  # (windows, channels) event counts
    labels = np.array(train.targets)
    print("events per window and channel (mean), by class:")
    for label, name in enumerate(CLASSES):
        counts = per_channel[labels == label].mean(axis=0)
        row = "  ".join(f"ch{c} {v:6.1f}" for c, v in enumerate(counts))
        print(f"  {name:<7} ({(labels == label).sum():>3} windows)  {row}")

    # 2. the trap: the majority answer on the test split
    test = load_dataset(NAME, "test", n=n)
    majority = task_scores([0] * len(test), test.targets, len(CLASSES))
    print(
        f"always 'normal': accuracy {majority['accuracy']:.3f}  balanced accuracy "
        f"{majority['balanced_accuracy']:.3f}  macro-F1 {majority['macro_f1']:.3f}"
    )

    # 3. one model from the command line: --module names this file, --dataset-option sets n
    common = ["--module", here, "--dataset", NAME, "--dataset-option", f"n={n}"]
    common += ["--time-bins", str(bins), "--val-fraction", "0.25", "--device", "cpu"]
    run(
        ["train", *common, "--model", "snn-mlp", "--hidden", str(hidden)]
        + ["--epochs", str(epochs), "--batch-size", "16", "--lr", "0.005"]
        + ["--metric", "balanced_accuracy", "--class-weights", "balanced"]
        + ["--out", str(out / "train"), "--no-progress"]
    )
    m = json.loads((out / "train" / "metrics.json").read_text())
    e0_pj = m["test"]["ledger"]["energy"]["cmos45"]["energy_j"] * 1e12
    print(f"E0 = {e0_pj:.4g} pJ per inference on cmos45")

    # 4. a benchmark with local workers: the suite names this file in `modules`
    lambdas = [0.0, float(f"{0.3 / e0_pj:.1g}")]  # lam * E0 ~ 0.3: comparable to the loss
    suite = out / "suite.toml"
    suite.write_text(
        SUITE.format(
            seeds=seeds,
            lambdas=lambdas,
            module=here,
            epochs=epochs,
            bins=bins,
            n=n,
            hidden=hidden,
        )
    )
    bench = out / "bench"
    workers = ["--workers", str(args.workers)]
    run(["bench", str(suite), "--out", str(bench), *workers, "--device", "cpu", "--no-progress"])

    store = ResultsStore(bench)
    print(f"\n{'model':<18}{'lambda':>9}{'seed':>5}{'acc':>7}{'bal.acc':>9}{'val bal.':>9}  J/inf")
    best = None
    for rec in sorted(store.records(), key=lambda r: (r.model, r.lam, r.seed)):
        if rec.status != "ok" or rec.metrics is None:
            print(f"{rec.model:<18}{rec.lam:>9.2g}{rec.seed:>5}  failed: {rec.error}")
            continue
        t, val_score = rec.metrics["test"], rec.metrics["best_val_score"]
        energy = t["ledger"]["energy"]["cmos45"]["energy_j"]
        print(
            f"{rec.model:<18}{rec.lam:>9.2g}{rec.seed:>5}{t['accuracy']:>7.3f}"
            f"{t['scores']['balanced_accuracy']:>9.3f}{val_score:>9.3f}  {energy:.3g}"
        )
        if best is None or val_score > best[0]:  # chosen on validation, never on test
            best = (val_score, rec)
    if best is None:
        raise SystemExit("no run finished; see the report for the errors")
    ok = [r for r in store.records() if r.status == "ok" and r.metrics is not None]
    for metric in ("accuracy", "balanced_accuracy"):  # for illustration only: test scores
        top = max(ok, key=lambda r: r.metrics["test"]["scores"][metric])
        print(f"first by test {metric}: {top.model} lambda {top.lam:g}")

    # 5. export the selected run's checkpoint (kept by the sweep)
    ckpt = store.checkpoint_path(best[1].run_id)
    targets = ["--target", "loihi", "--target", "cmos45", "--no-progress"]
    run(["export", str(ckpt), "--module", here, "--out", str(out / "energy.json"), *targets])
    print(f"\nreport: {bench / 'report.md'}\nexported: {out / 'energy.json'}")


if __name__ == "__main__":
    main()
