"""Reduced-data benchmark: one-pass energy classifiers vs tuned backprop and sklearn baselines.

    python benchmarks/onepass/run_onepass.py --out results/onepass [--quick]

Datasets: digits-dvs (embedded), nmnist, emg-roshambo and mnist10k (from --data-root, default
../shared/data; a missing dataset is skipped with a message). Every method gets the same
selection budget (3 candidate settings, chosen by stratified cross-validation inside each draw;
backprop epochs chosen on the same folds; see spikeenergy.onepass.benchmark). Writes rows.csv
(one row per draw and method), summary.csv, table.md (accuracy table and the settings chosen)
and accuracy.png to --out.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from spikeenergy.data import DatasetNotFoundError, FrameConfig
from spikeenergy.io import atomic_write
from spikeenergy.onepass.benchmark import (
    DEFAULT_MAX_FOLDS,
    DEFAULT_MAX_STEPS,
    DEFAULT_SIZES,
    default_methods,
    load_pool,
    markdown_table,
    plot_accuracy,
    run_reduced_data,
    selection_table,
    summarize,
)

REPO = Path(__file__).resolve().parents[2]
#: dataset -> (frame config, fixed test subset per class, training pool per class, options)
DATASETS = {
    "digits-dvs": (FrameConfig(n_time_bins=10, downsample=0.5), 30, None, {}),
    # all 100 test recordings
    "nmnist": (FrameConfig(n_time_bins=10, downsample=0.5), None, None, {}),
    "emg-roshambo": (FrameConfig(n_time_bins=10), 100, None, {}),
    # rate-coded digits, 20 steps of 1 ms binned over one fixed 20 ms window; 100 test digits
    # per class of the seeded stratified test split, a pool of 100 per class to draw from
    "mnist10k": (FrameConfig(n_time_bins=10, duration_us=20_000), 100, 100, {}),
}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its CSV, Markdown tables and plot."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true", help="sizes 1,5,20, 3 draws, 2 folds")
    p.add_argument("--data-root", default=str(REPO.parent / "shared" / "data"))
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    p.add_argument("--draws", type=int, default=None, help="draws per size (default 10; quick 3)")
    p.add_argument("--sizes", type=int, nargs="+", default=None)
    p.add_argument(
        "--max-folds",
        type=int,
        default=None,
        help=f"cross-validation folds inside a draw (default {DEFAULT_MAX_FOLDS}; quick 2)",
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=DEFAULT_MAX_STEPS,
        help="optimizer steps per backprop run (default %(default)s)",
    )
    p.add_argument("--target", default="cmos45", help="cost target for energies")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(a.threads)
    sizes = a.sizes or ([1, 5, 20] if a.quick else list(DEFAULT_SIZES))
    draws = a.draws or (3 if a.quick else 10)
    folds = a.max_folds or (2 if a.quick else DEFAULT_MAX_FOLDS)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    frames = []
    for name in a.datasets:
        frame_cfg, test_per_class, train_per_class, options = DATASETS[name]
        t0 = time.perf_counter()
        try:
            pool = load_pool(
                name,
                a.data_root,
                frame_cfg,
                test_per_class=test_per_class,
                train_per_class=train_per_class,
                options=options,
            )
        except DatasetNotFoundError as exc:
            print(f"skipping {name}: {str(exc).splitlines()[0]}", file=sys.stderr)
            continue
        print(
            f"{name}: pool {tuple(pool.x_train.shape)} test {tuple(pool.x_test.shape)} "
            f"loaded in {time.perf_counter() - t0:.1f} s",
            flush=True,
        )
        t0 = time.perf_counter()
        methods = default_methods(tuple(pool.x_train.shape[2:]), max_steps=a.max_steps)
        df = run_reduced_data(
            pool,
            methods,
            sizes,
            draws,
            seed=0,
            target=a.target,
            device=a.device,
            max_folds=folds,
            on_row=lambda r: print(
                f"  {r['dataset']} k={r['per_class']} draw={r['draw']} {r['method']} "
                f"{r['setting']} epochs={r['epochs']} val={r['val_accuracy']:.3f} "
                f"({r['select_time_s'] + r['train_time_s']:.1f} s)",
                flush=True,
            ),
        )
        print(f"{name}: {len(df)} runs in {time.perf_counter() - t0:.1f} s", flush=True)
        frames.append(df)
        atomic_write(out / "rows.csv", pd.concat(frames).to_csv(index=False))  # partial results
    if not frames:
        print("no dataset available; nothing written", file=sys.stderr)
        return 1
    rows = pd.concat(frames, ignore_index=True)
    atomic_write(out / "rows.csv", rows.to_csv(index=False))
    summary = summarize(rows)
    atomic_write(out / "summary.csv", summary.to_csv(index=False))
    table = markdown_table(summary)
    atomic_write(out / "table.md", table + "\n\n" + selection_table(summary) + "\n")
    plot_accuracy(summary, str(out / "accuracy.png"))
    print(table)
    print(f"wrote {out}/rows.csv, summary.csv, table.md, accuracy.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
