"""Cheap stand-ins for training runs (importable by spawned worker processes)."""

from __future__ import annotations

import time
import zlib
from pathlib import Path
from typing import Any

from spikeenergy.bench import RunSpec, Suite, SuiteDataset, SuiteModel
from spikeenergy.models import ModelSpec
from spikeenergy.train import DataConfig, TrainConfig


def fake_ledger(energy: float) -> dict[str, Any]:
    """A ledger record in EnergyLedger.to_dict form (filled by hand): 10 x ``energy`` ACs."""
    from spikeenergy.energy import BUILTIN_COST_MODELS, in_joules

    total = {
        "acs": 10.0 * energy,
        "macs": 0.0,
        "graded_events": 0.0,
        "dense_ops": 20.0,
        "neuron_updates": 4.0,
        "active_updates": 2.0 * energy,
        "spikes": 2.0 * energy,
        "state_words": 4.0,
    }
    return {
        "samples": 5,
        "policy": "per_sample",
        "layers": {"lif1": {"kind": "spiking", "connection": False, **total}},
        "total": total,
        "rates": {"spike_rate": energy / 2, "activation_sparsity": 1 - energy / 2},
        "energy": {t.name: in_joules(t.price(total)) for t in BUILTIN_COST_MODELS},
        "layer_energy_j": {},
        "targets": {},
    }


def fake_metrics(spec: RunSpec) -> dict[str, Any]:
    """A metrics dict (schema metrics/2 subset) whose numbers depend only on the run's labels."""
    h = zlib.crc32(f"{spec.dataset}|{spec.model}|{spec.lam}|{spec.seed}".encode()) % 1000
    acc = 0.5 + h / 4000.0  # in [0.5, 0.75)
    energy = 1.0 / (1.0 + 10.0 * spec.lam)
    return {
        "schema": "spikeenergy.metrics/2",
        "config": spec.config.to_dict(),
        "seed": spec.seed,
        "model": {"family": spec.config.model.family, "parameters": 100},
        "dataset": {"name": spec.dataset, "n_train": 10, "n_test": 5},
        "val": {
            "accuracy": acc,
            "loss": 1.0 - acc,
            "energy": {"joules": energy},
            "n_samples": 3,
            "ledger": fake_ledger(energy),
        },
        "test": {
            "accuracy": acc,
            "loss": 1.0 - acc,
            "energy": {"joules": energy},
            "n_samples": 5,
            "ledger": fake_ledger(energy),
        },
        "best_val_accuracy": acc,
        "efficiency": {
            "wall_time_s": 0.01,
            "epochs": 2,
            "steps": 4,
            "time_to_target_s": None,
            "steps_to_target": None,
            "epochs_to_target": None,
        },
        "curves": {"epoch": [0, 1], "train_loss": [1.0, 0.5], "val_accuracy": [acc - 0.1, acc]},
    }


def fake_run(spec: RunSpec) -> dict[str, Any]:
    """Instant fake run."""
    return fake_metrics(spec)


def slow_fake_run(spec: RunSpec) -> dict[str, Any]:
    """Fake run that takes a little while (so a sweep can be killed mid-way)."""
    time.sleep(0.3)
    return fake_metrics(spec)


def tiny_suite(
    n_models: int = 2,
    lambdas: tuple[float, ...] = (0.0, 0.1),
    seeds: tuple[int, ...] = (0, 1),
    datasets: tuple[str, ...] = ("a",),
) -> Suite:
    """A small grid over digits-dvs labels (the fake run never touches the data)."""
    families = ["snn-mlp", "mlp", "gru", "cnn"]
    return Suite(
        name="tiny",
        datasets=tuple(SuiteDataset(d, DataConfig(options={"limit": 20})) for d in datasets),
        models=tuple(SuiteModel(f, ModelSpec(family=f, hidden=(8,))) for f in families[:n_models]),
        lambdas=lambdas,
        seeds=seeds,
        train=TrainConfig(epochs=1),
    )


KILL_SCRIPT = """
import sys
sys.path.insert(0, {here!r})
from bench_fakes import slow_fake_run, tiny_suite
from spikeenergy.bench import ResultsStore, SerialExecutor, run_sweep
if __name__ == "__main__":
    run_sweep(tiny_suite(n_models=2, lambdas=(0.0, 0.1, 1.0), seeds=(0, 1)),
              ResultsStore({out!r}), SerialExecutor(), run_fn=slow_fake_run, progress=False)
"""


def kill_script(out: Path) -> str:
    """Source of a script that runs a slow fake sweep into ``out`` (to be killed)."""
    return KILL_SCRIPT.format(here=str(Path(__file__).parent), out=str(out))


#: folder for marker files that fault-injecting run functions share across worker processes
MARKERS_ENV = "SPIKEENERGY_TEST_MARKERS"


def die_once_run(spec: RunSpec) -> dict[str, Any]:
    """Fake run whose worker process SIGKILLs itself the first time it runs seed 1 at the
    largest lambda (a marker file in ``$SPIKEENERGY_TEST_MARKERS`` remembers the death)."""
    import os
    import signal

    marker = Path(os.environ[MARKERS_ENV]) / f"{spec.run_id}.died"
    if spec.seed == 1 and spec.lam == 0.1 and not marker.exists():
        marker.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(0.05)
    return fake_metrics(spec)


def always_dies_run(spec: RunSpec) -> dict[str, Any]:
    """Fake run that kills its worker every time for seed 1 (a poisonous configuration)."""
    import os
    import signal

    if spec.seed == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return fake_metrics(spec)


def failing_run(spec: RunSpec) -> dict[str, Any]:
    """Fake run that always fails (a broken second sweep)."""
    raise RuntimeError(f"broken environment for {spec.run_id}")


def threads_run(spec: RunSpec) -> dict[str, Any]:
    """Fake run whose accuracy is the number of torch threads it runs with (/ 100)."""
    import torch

    m = fake_metrics(spec)
    m["test"]["accuracy"] = torch.get_num_threads() / 100
    return m


SWEEP_SCRIPT = """
import sys, time
sys.path.insert(0, {here!r})
import bench_fakes
from spikeenergy.bench import LocalExecutor, ResultsStore, SerialExecutor, run_sweep
if __name__ == "__main__":
    ex = LocalExecutor({workers}) if {workers} else SerialExecutor()
    res = run_sweep(bench_fakes.tiny_suite(n_models=2, lambdas=(0.0, 0.1, 1.0), seeds=(0, 1)),
                    ResultsStore({out!r}), ex, run_fn=getattr(bench_fakes, {fn!r}),
                    progress=False)
    print("done", res.ok, res.failed, flush=True)
"""


def sweep_script(out: Path, fn: str = "slow_fake_run", workers: int = 0) -> str:
    """Source of a script that runs the 12-run fake sweep into ``out`` with run function
    ``fn`` of this module, serially (``workers=0``) or on local worker processes."""
    return SWEEP_SCRIPT.format(
        here=str(Path(__file__).parent), out=str(out), fn=fn, workers=workers
    )


# ----------------------------------------------------------------------------- planted effects
#
# A fake sweep whose records carry per-sample predictions with effects planted by hand: with
# ``perm`` a permutation of the split's positions drawn from the seed, lambda = 0 is wrong on
# perm[:k] of each split, and every other lambda on a window of perm given below, so that every
# paired difference to lambda = 0 is known exactly:
#   validation (1,000 samples, 10 % wrong at lambda = 0, accuracy 0.900):
#     lam 0.01, 0.1: wrong on perm[10:110]: 10 samples fixed, 10 broken -> difference 0.000
#     lam 1.0:       wrong on perm[:130]: 30 more wrong -> difference -0.030 (a 3-point loss)
#   test (500 samples, one permutation for every seed, so the seeds test the same samples; seed
#   s shifts every window's end by s): wrong on perm[:50 + s] at lambda = 0 (accuracy
#   0.900 - s / 500, mean over seeds 0-2: 0.898):
#     lam 0.01: perm[:50 + s] (0.898), lam 0.1: perm[:55 + s] (0.888, -0.010),
#     lam 1.0: perm[:50 + s] (0.898): its test shows no loss, but selection must not look
#     at test
#   energy per inference (fake ledger) 1 / (1 + 10 lam) x (1 + 0.01 seed): a ratio to
#   lambda = 0 of 1 / (1 + 10 lam) for every seed.

PLANT_VAL_N, PLANT_TEST_N = 1000, 500
PLANT_VAL = {0.0: (0, 100), 0.01: (10, 110), 0.1: (10, 110), 1.0: (0, 130)}
PLANT_TEST = {0.0: (0, 50), 0.01: (0, 50), 0.1: (0, 55), 1.0: (0, 50)}


def _planted_split(
    n: int,
    window: tuple[int, int],
    seed: int,
    salt: int,
    energy: float,
    ids: list[int] | None = None,
    shift: int = 0,
) -> dict[str, Any]:
    import numpy as np

    labels = [i % 10 for i in range(n)]
    perm = np.random.default_rng([seed, salt]).permutation(n)
    wrong = set(perm[window[0] : window[1] + shift].tolist())
    preds = [(y + 1) % 10 if i in wrong else y for i, y in enumerate(labels)]
    acc = 1.0 - len(wrong) / n
    out = {
        "accuracy": acc,
        "loss": 1.0 - acc,
        "energy": {"joules": energy},
        "n_samples": n,
        "scores": {"accuracy": acc},
        "predictions": preds,
        "labels": labels,
        "ledger": fake_ledger(energy),
    }
    if ids is not None:
        out["sample_ids"] = ids
    return out


def planted_metrics(spec: RunSpec) -> dict[str, Any]:
    """Metrics of a planted run (see the comment above); a fold shifts the test ids so that
    k folds test disjoint samples."""
    m = fake_metrics(spec)
    energy = 1.0 / (1.0 + 10.0 * spec.lam) * (1.0 + 0.01 * spec.seed)
    fold = spec.fold or 0
    test_ids = list(range(fold * PLANT_TEST_N, (fold + 1) * PLANT_TEST_N))
    m["val"] = _planted_split(PLANT_VAL_N, PLANT_VAL[spec.lam], spec.seed, 1 + fold, energy)
    # the test permutation does not depend on the seed: every seed errs on the same samples
    m["test"] = _planted_split(
        PLANT_TEST_N,
        PLANT_TEST[spec.lam],
        0,
        2 + fold,
        energy,
        test_ids if spec.fold is not None else None,
        shift=spec.seed,
    )
    m["dataset"] = {
        "name": spec.dataset,
        "n_train": 10,
        "n_val": PLANT_VAL_N,
        "n_test": PLANT_TEST_N,
        "num_classes": 10,
    }
    m["best_val_accuracy"] = m["val"]["accuracy"]
    return m


def planted_run(spec: RunSpec) -> dict[str, Any]:
    """Instant fake run with planted per-sample predictions."""
    return planted_metrics(spec)


def planted_suite(margin: float = 0.01, n_models: int = 1, name: str = "planted") -> Suite:
    """1 dataset x ``n_models`` x lambdas (0, 0.01, 0.1, 1) x 3 seeds, for planted runs."""
    from dataclasses import replace

    return replace(
        tiny_suite(n_models=n_models, lambdas=tuple(PLANT_VAL), seeds=(0, 1, 2)),
        name=name,
        margin=margin,
    )


def distinct_run(spec: RunSpec) -> dict[str, Any]:
    """Fake run whose test accuracy (0.123456) and validation accuracy (0.654321) are easy
    to tell apart in printed text."""
    m = fake_metrics(spec)
    m["test"]["accuracy"] = 0.123456
    m["val"]["accuracy"] = 0.654321
    return m
