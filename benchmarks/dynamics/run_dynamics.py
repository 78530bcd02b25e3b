"""Benchmark of spikeenergy.dynamics: memory capacity, Max-Cut, LCA sparse coding.

Usage:
    python benchmarks/dynamics/run_dynamics.py [--quick] [--out results/dynamics] [--seed 0]
           [--gset-dir ../shared/data/gset] [--device cpu]

Writes capacity.csv, maxcut.csv, lca.csv and results.md (all three tables) under --out.
Full mode takes a few minutes on 2 CPU cores; --quick about a minute.

1. Retrieval capacity: classical Hopfield (Hebbian, asynchronous), dense associative memory with
   degree-3 polynomial and exponential interaction; cues are the stored patterns themselves
   (stability, what the capacity formulas describe) and patterns with 10% flipped bits.
2. Max-Cut on rudy-style G-set-like graphs (800 nodes, 6% density, +1 or +-1 weights) and on any
   G-set files in --gset-dir: greedy + local search, Goemans-Williamson (SDP + rounding), the
   oscillator Ising machine (raw and polished by local search); cut / SDP bound and 0.878 line.
3. LCA sparse coding of 8x8 digit images (scikit-learn's bundled digits) on a dictionary learnt
   by scikit-learn; compared with scikit-learn's coordinate-descent and LARS Lasso solvers.
"""

from __future__ import annotations

import argparse
import logging
import math
import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import MiniBatchDictionaryLearning, sparse_encode

from spikeenergy.dynamics import (
    GSET_BEST_KNOWN,
    LCA,
    AnnealSchedule,
    DenseAssociativeMemory,
    HopfieldNetwork,
    dense_memory_capacity,
    goemans_williamson,
    greedy_maxcut,
    oim_maxcut,
    read_gset,
    rudy_random_graph,
)

log = logging.getLogger("run_dynamics")


def to_markdown(df: pd.DataFrame) -> str:
    """Markdown table without the optional tabulate dependency (4 significant digits)."""

    def fmt(v: object) -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return ""
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _patterns(p: int, n: int, gen: torch.Generator) -> torch.Tensor:
    return torch.where(torch.rand(p, n, generator=gen) < 0.5, -1.0, 1.0).double()


def _retrieval(model, xi: torch.Tensor, n_query: int, flip: float, gen: torch.Generator):
    """Mean bit error and exact-recall rate for cues = stored patterns with ``flip`` noise."""
    idx = torch.randperm(xi.shape[0], generator=gen)[:n_query]
    target = xi[idx]
    noise = torch.where(torch.rand(target.shape, generator=gen) < flip, -1.0, 1.0).double()
    out = model.run(target * noise, steps=30, tol=0.0, keep_states=False).final
    wrong = (out != target).double()
    return float(wrong.mean()), float((wrong.sum(1) == 0).double().mean())


def capacity_table(quick: bool, seed: int) -> pd.DataFrame:
    """Retrieval error vs load for the classical network and the two dense memories."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    n_query = 100 if quick else 200
    cases: list[tuple[str, int, list[int]]] = []
    for n in [100, 200] if quick else [100, 200, 400]:
        alphas = [0.05, 0.10, 0.12, 0.14, 0.16, 0.20, 0.25]
        cases.append(("classical", n, [max(1, round(a * n)) for a in alphas]))
    for n in [40] if quick else [40, 80]:
        cap = dense_memory_capacity(n, "polynomial", 3)
        cases.append(("polynomial-3", n, [round(f * cap) for f in (0.5, 1, 2, 4, 8)]))
    for n in [16, 20] if quick else [16, 20, 24]:
        cap = dense_memory_capacity(n, "exponential")
        cases.append(("exponential", n, [round(f * cap) for f in (0.25, 1, 4)]))
    for kind, n, loads in cases:
        theory = dense_memory_capacity(
            n, "classical" if kind == "classical" else kind.split("-")[0], 3
        )
        for p in loads:
            xi = _patterns(p, n, gen)
            t0 = time.perf_counter()
            if kind == "classical":
                model = HopfieldNetwork.from_patterns(xi, dtype=torch.float64)
            else:
                model = DenseAssociativeMemory(xi, kind.split("-")[0], degree=3)
            err0, exact0 = _retrieval(model, xi, n_query, 0.0, gen)
            err1, exact1 = _retrieval(model, xi, n_query, 0.1, gen)
            rows.append(
                dict(model=kind, N=n, P=p, alpha=p / n, P_over_theory=p / theory,
                     bit_error_clean=err0, exact_clean=exact0, bit_error_10pct=err1,
                     exact_10pct=exact1, time_s=time.perf_counter() - t0)
            )  # fmt: skip
            log.info("capacity %s N=%d P=%d err=%.4f", kind, n, p, err0)
    return pd.DataFrame(rows)


def capacity_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Largest tested P with clean-cue bit error <= 1.6% (AGS: error at alpha_c), vs theory."""
    out = []
    for (kind, n), g in df.groupby(["model", "N"], sort=False):
        ok = g[g.bit_error_clean <= 0.016]
        p_max = int(ok.P.max()) if len(ok) else 0
        theory = dense_memory_capacity(
            int(n), "classical" if kind == "classical" else kind.split("-")[0], 3
        )
        out.append(dict(model=kind, N=n, P_max_measured=p_max, P_theory=round(theory, 1),
                        ratio=p_max / theory))  # fmt: skip
    return pd.DataFrame(out)


def _maxcut_rows(name: str, w: np.ndarray, reference: float | None, quick: bool, seed: int,
                 device: str) -> list[dict]:  # fmt: skip
    rows = []
    edges = int((np.triu(w) != 0).sum())
    gw, sdp = goemans_williamson(w, seed=seed)
    results = [greedy_maxcut(w, restarts=20 if quick else 100, seed=seed), gw]
    sched = AnnealSchedule(noise_start=0.05, noise_end=0.0, injection_start=0.0, injection_end=0.05)
    for polish in (False, True):
        results.append(
            oim_maxcut(w, steps=1000, restarts=16 if quick else 64, dt=1.0, schedule=sched,
                       polish=polish, generator=seed, device=device)
        )  # fmt: skip
    best = max(r.cut for r in results)
    for r in results:
        rows.append(
            dict(graph=name, n=w.shape[0], edges=edges, method=r.method, cut=r.cut,
                 time_s=r.time_s, time_to_best_s=r.time_to_best_s, sdp_bound=sdp,
                 cut_over_sdp=r.cut / sdp, gw_guarantee=0.878 * sdp,
                 best_known=reference, cut_over_best_known=r.cut / reference if reference else None,
                 cut_over_best_found=r.cut / best)
        )  # fmt: skip
        log.info("maxcut %s %s cut=%.0f t=%.2fs", name, r.method, r.cut, r.time_s)
    return rows


def maxcut_table(quick: bool, seed: int, gset_dir: Path, device: str) -> pd.DataFrame:
    """Max-Cut on generated G-set-like graphs and on real G-set files when present."""
    rows: list[dict] = []
    for s in [seed + 1] if quick else [seed + 1, seed + 2]:
        rows += _maxcut_rows(f"rudy800-6%-(+1)-s{s}", rudy_random_graph(800, 6, False, s),
                             None, quick, seed, device)  # fmt: skip
        rows += _maxcut_rows(f"rudy800-6%-(+-1)-s{s}", rudy_random_graph(800, 6, True, s),
                             None, quick, seed, device)  # fmt: skip
    if gset_dir.is_dir():
        files = sorted(p for p in gset_dir.iterdir() if re.fullmatch(r"G\d+(\.txt)?", p.name))
        for path in files[:2] if quick else files:
            name = path.name.split(".")[0]
            w = read_gset(path)
            if w.shape[0] > 2000:
                log.info("skipping %s: %d nodes (dense solver limit 2000)", name, w.shape[0])
                continue
            rows += _maxcut_rows(name, w, GSET_BEST_KNOWN.get(name), quick, seed, device)
    else:
        log.info("no G-set files under %s; generated graphs only", gset_dir)
    return pd.DataFrame(rows)


def lca_table(quick: bool, seed: int, device: str) -> pd.DataFrame:
    """LCA vs scikit-learn Lasso solvers on 8x8 digit images with a learnt dictionary."""
    x = load_digits().data.astype(np.float64) / 16.0  # (1797, 64), bundled with scikit-learn
    x -= x.mean(1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    train, test = x[:1000], x[1000 : 1000 + (200 if quick else 797)]
    dl = MiniBatchDictionaryLearning(n_components=128, alpha=0.1, batch_size=64,
                                     max_iter=5 if quick else 20, random_state=seed)  # fmt: skip
    atoms = dl.fit(train).components_  # (M, D) unit-norm rows
    lam = 0.1
    rows = []

    def record(method: str, codes: np.ndarray, seconds: float, ref: np.ndarray | None) -> None:
        resid = test - codes @ atoms
        obj = 0.5 * (resid**2).sum(1) + lam * np.abs(codes).sum(1)
        rows.append(
            dict(method=method, n_signals=test.shape[0], atoms=atoms.shape[0], lam=lam,
                 time_s=seconds, nonzeros=float((np.abs(codes) > 1e-8).sum(1).mean()),
                 rel_recon_error=float(np.mean(np.linalg.norm(resid, axis=1))),
                 lasso_objective=float(obj.mean()),
                 max_abs_diff_vs_cd=float(np.abs(codes - ref).max()) if ref is not None else 0.0)
        )  # fmt: skip

    t0 = time.perf_counter()
    ref = sparse_encode(test, atoms, algorithm="lasso_cd", alpha=lam, max_iter=10_000)
    record("sklearn lasso_cd", ref, time.perf_counter() - t0, None)
    t0 = time.perf_counter()
    lars = sparse_encode(test, atoms, algorithm="lasso_lars", alpha=lam)
    record("sklearn lasso_lars", lars, time.perf_counter() - t0, ref)
    phi = torch.tensor(atoms.T, device=device)  # (D, M)
    sig = torch.tensor(test, device=device)  # (B, D)
    # explicit Euler is stable for dt < 2 / L, L = largest eigenvalue of Phi^T Phi; use 1 / L
    dt = 1.0 / float(np.linalg.eigvalsh(atoms @ atoms.T)[-1])
    for threshold, steps in (("soft", 300), ("soft", 1000 if quick else 10_000)):
        t0 = time.perf_counter()
        lca = LCA(phi, sig, lam=lam, threshold=threshold, dt=dt, device=device)
        codes = lca.solve(steps=steps, tol=1e-10).cpu().numpy()
        record(f"LCA {threshold} ({steps} steps)", codes, time.perf_counter() - t0, ref)
    t0 = time.perf_counter()
    hard = LCA(phi, sig, lam=math.sqrt(2 * lam), threshold="hard", dt=dt, device=device)
    codes = hard.solve(steps=3000, tol=1e-10).cpu().numpy()
    record("LCA hard (3000 steps)", codes, time.perf_counter() - t0, ref)
    return pd.DataFrame(rows)


def main() -> None:
    """Parse arguments, run the three sections and write CSV + Markdown tables."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller grids (about a minute)")
    ap.add_argument("--out", type=Path, default=Path("results/dynamics"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--gset-dir", type=Path, default=Path("../shared/data/gset"))
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--only", choices=["capacity", "maxcut", "lca"], default=None)
    ap.add_argument(
        "--threads", type=int, default=1,
        help="torch CPU threads (1 default: small ops slow down >10x on oversubscribed cores)",
    )  # fmt: skip
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    md = [f"# spikeenergy.dynamics benchmark ({'quick' if args.quick else 'full'}, "
          f"seed {args.seed}, torch threads {torch.get_num_threads()})\n"]  # fmt: skip
    t_all = time.perf_counter()
    if args.only in (None, "capacity"):
        cap = capacity_table(args.quick, args.seed)
        cap.to_csv(args.out / "capacity.csv", index=False)
        summary = capacity_summary(cap)
        summary.to_csv(args.out / "capacity_summary.csv", index=False)
        md += ["## Retrieval capacity\n", to_markdown(cap), "",
               "### Capacity: largest tested P with clean-cue bit error <= 1.6%\n",
               to_markdown(summary), ""]  # fmt: skip
    if args.only in (None, "maxcut"):
        mc = maxcut_table(args.quick, args.seed, args.gset_dir, args.device)
        mc.to_csv(args.out / "maxcut.csv", index=False)
        md += ["## Max-Cut\n", to_markdown(mc), ""]
    if args.only in (None, "lca"):
        lc = lca_table(args.quick, args.seed, args.device)
        lc.to_csv(args.out / "lca.csv", index=False)
        md += ["## LCA sparse coding (sklearn digits 8x8)\n",
               to_markdown(lc), ""]  # fmt: skip
    md.append(f"Total wall time: {time.perf_counter() - t_all:.1f} s\n")
    text = "\n".join(md)
    (args.out / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
