"""Time the delta (level-crossing) encoder: the original per-sample loop vs the vectorised one.

Cases (each clip encoded by both, events checked identical, per-clip times repeated and the
median kept):
  audio-500Hz   3,000 FSDD-sized clips (8 kHz, 0.25-0.9 s, synthetic spoken-digit-like sound:
                voiced harmonics through two formant resonances, 1-3 syllables, noise at
                -35 dB), 32 mel bands at the default 500 Hz envelope rate, threshold 0.02
  audio-8kHz    the same 32 band envelopes kept at the full 8 kHz audio rate
  emg-roshambo  every 1 s gesture window of the real Roshambo EMG (200 Hz x 8 channels,
                threshold 0.5 std per session, as the emg-roshambo dataset encodes them),
                when ../shared/data/emg/roshambo is present
The loop is timed on the first ``--old-clips`` clips of each case (it is slow); the vectorised
encoder on those and on every clip. Then events per second of the audio front end for a few
thresholds (the guidance table of docs/data.md), on the same synthetic clips.

Usage:  OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/perf/run_delta.py [--clips 3000]
        [--old-clips 100] [--repeats 3] [--out results/perf/delta.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import butter, sosfilt

from spikeenergy.data.audio import AudioToEvents
from spikeenergy.data.delta import delta_modulate
from spikeenergy.data.emg import SAMPLE_RATE_HZ, find_sessions, gesture_windows, load_session

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
SR = 8000.0


def _load_reference() -> Callable[..., np.ndarray]:
    """The original loop, kept in tests/data/test_data_delta.py as the test reference."""
    path = ROOT / "tests" / "data" / "test_data_delta.py"
    spec = importlib.util.spec_from_file_location("_delta_reference", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.delta_modulate_loop


def synthetic_digits(n: int, seed: int = 0) -> list[np.ndarray]:
    """FSDD-sized clips of speech-like sound (not speech: for timing and event counts only)."""
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(n):
        length = int(rng.uniform(0.25, 0.9) * SR)
        t = np.arange(length) / SR
        f0 = rng.uniform(90, 250) * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(1, 4) * t))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        voiced = sum(np.sin(h * phase) / h for h in range(1, 30) if h * f0.max() < SR / 2)
        sound = np.zeros(length)
        for formant in (rng.uniform(300, 900), rng.uniform(900, 2500)):
            lo, hi = formant / 1.15, min(formant * 1.15, 0.49 * SR)
            sound += sosfilt(butter(2, [lo, hi], btype="bandpass", fs=SR, output="sos"), voiced)
        env = np.zeros(length)
        n_syl = int(rng.integers(1, 4))
        for k in range(n_syl):  # raised-cosine syllables
            start, stop = int(k * length / n_syl), int((k + 1) * length / n_syl)
            env[start:stop] = np.hanning(stop - start) * rng.uniform(0.3, 1.0)
        clips.append(sound * env + 10 ** (-35 / 20) * rng.normal(size=length) * sound.std())
    return clips


def emg_windows(folder: Path) -> list[np.ndarray]:
    """Every 1 s gesture window of the real Roshambo sessions, in units of its threshold."""
    out = []
    for sess in find_sessions(folder):
        signal, labels = load_session(sess)
        std = signal.std(axis=0)
        scaled = signal / (0.5 * np.where(std > 0, std, 1.0))
        window = int(SAMPLE_RATE_HZ)
        out += [scaled[a:b] for a, b, _ in gesture_windows(labels, window, window // 2)]
    return out


def _time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    best: list[float] = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best.append(time.perf_counter() - start)
    return statistics.median(best), result


def run_case(
    name: str,
    signals: list[np.ndarray],
    rate: float,
    thr: float,
    old_fn: Callable[..., np.ndarray],
    n_old: int,
    repeats: int,
) -> dict[str, Any]:
    old_t, new_t, events = [], [], 0
    for sig in signals[:n_old]:
        t_old, ev_old = _time(lambda s=sig: old_fn(s, rate, thr), repeats)
        t_new, ev_new = _time(lambda s=sig: delta_modulate(s, rate, thr), repeats)
        if not all(np.array_equal(ev_old[f], ev_new[f]) for f in ("t", "x", "p")):
            raise AssertionError(f"{name}: events differ from the loop's")
        old_t.append(t_old)
        new_t.append(t_new)
        events += len(ev_old)
    start = time.perf_counter()
    for _ in range(repeats):
        for sig in signals:
            delta_modulate(sig, rate, thr)
    new_all = (time.perf_counter() - start) / repeats
    ratios = [o / n for o, n in zip(old_t, new_t, strict=True)]
    shape = signals[0].shape
    return {
        "case": name,
        "clips": len(signals),
        "clip_shape_first": list(shape),
        "mean_samples": float(np.mean([len(s) for s in signals])),
        "timed_clips": len(old_t),
        "events_per_timed_clip": events / len(old_t),
        "median_clip_old_ms": 1e3 * statistics.median(old_t),
        "median_clip_new_ms": 1e3 * statistics.median(new_t),
        "median_speedup": statistics.median(ratios),
        "total_speedup_timed": sum(old_t) / sum(new_t),
        "all_clips_new_s": new_all,
        "all_clips_old_s_extrapolated": statistics.mean(old_t) * len(signals),
    }


def rate_table(clips: list[np.ndarray]) -> list[dict[str, Any]]:
    rows = []
    seconds = sum(len(c) for c in clips) / SR
    for level, thresholds in (("amplitude", (0.01, 0.02, 0.05)), ("db", (1.0, 2.0, 4.0))):
        for thr in thresholds:
            enc = AudioToEvents(SR, level=level, threshold=thr)  # type: ignore[arg-type]
            counts = np.zeros(enc.n_bands)
            for c in clips:
                counts += np.bincount(enc(c)["x"], minlength=enc.n_bands)
            rows.append(
                {
                    "level": level,
                    "threshold": thr,
                    "events_per_s": counts.sum() / seconds,
                    "events_per_clip": counts.sum() / len(clips),
                    "busiest_band_share": counts.max() / counts.sum(),
                }
            )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=3000)
    ap.add_argument("--old-clips", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rate-clips", type=int, default=300)
    ap.add_argument("--data-root", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    old_fn = _load_reference()

    clips = synthetic_digits(args.clips)
    enc = AudioToEvents(SR)
    start = time.perf_counter()
    levels = [enc.levels(c) for c in clips]
    front_s = time.perf_counter() - start
    full_rate = AudioToEvents(SR, envelope_rate_hz=SR)
    cases = [
        run_case("audio-500Hz", levels, 500.0, 0.02, old_fn, args.old_clips, args.repeats),
        run_case(
            "audio-8kHz",
            [full_rate.levels(c) for c in clips[: max(args.old_clips, args.clips // 10)]],
            SR,
            0.02,
            old_fn,
            args.old_clips,
            args.repeats,
        ),
    ]
    emg = args.data_root / "emg" / "roshambo"
    if emg.is_dir():
        windows = emg_windows(emg)
        cases.append(
            run_case(
                "emg-roshambo", windows, SAMPLE_RATE_HZ, 1.0, old_fn, args.old_clips, args.repeats
            )
        )
    else:
        print(f"emg-roshambo skipped: {emg} absent", file=sys.stderr)
    result = {
        "filterbank_levels_s_all_clips": front_s,
        "cases": cases,
        "event_rates": rate_table(clips[: args.rate_clips]),
    }
    for c in cases:
        print(
            f"{c['case']:13s} clips {c['clips']:5d}  mean samples {c['mean_samples']:7.0f}  "
            f"median/clip old {c['median_clip_old_ms']:8.2f} ms  new {c['median_clip_new_ms']:6.3f}"
            f" ms  median speed-up {c['median_speedup']:6.1f}x  (timed total "
            f"{c['total_speedup_timed']:.1f}x)  all clips new {c['all_clips_new_s']:.2f} s, "
            f"old ~{c['all_clips_old_s_extrapolated']:.0f} s"
        )
    print(f"filterbank + levels for {len(clips)} clips: {front_s:.1f} s")
    for r in result["event_rates"]:
        print(
            f"level {r['level']:9s} threshold {r['threshold']:5g}: "
            f"{r['events_per_s']:8.0f} events/s, {r['events_per_clip']:7.0f} per clip, "
            f"busiest band {100 * r['busiest_band_share']:.0f} %"
        )
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=2))
        tmp.replace(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
