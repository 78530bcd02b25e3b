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

    total = {"acs": 10.0 * energy, "macs": 0.0, "graded_events": 0.0, "dense_ops": 20.0,
             "neuron_updates": 4.0, "active_updates": 2.0 * energy, "spikes": 2.0 * energy,
             "state_words": 4.0}
    return {
        "samples": 5, "policy": "per_sample",
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
        "val": {"accuracy": acc, "loss": 1.0 - acc, "energy": {"joules": energy},
                "n_samples": 3, "ledger": fake_ledger(energy)},
        "test": {
            "accuracy": acc, "loss": 1.0 - acc, "energy": {"joules": energy}, "n_samples": 5,
            "ledger": fake_ledger(energy),
        },
        "best_val_accuracy": acc,
        "efficiency": {"wall_time_s": 0.01, "epochs": 2, "steps": 4, "time_to_target_s": None,
                       "steps_to_target": None, "epochs_to_target": None},
        "curves": {"epoch": [0, 1], "train_loss": [1.0, 0.5], "val_accuracy": [acc - 0.1, acc]},
    }


def fake_run(spec: RunSpec) -> dict[str, Any]:
    """Instant fake run."""
    return fake_metrics(spec)


def slow_fake_run(spec: RunSpec) -> dict[str, Any]:
    """Fake run that takes a little while (so a sweep can be killed mid-way)."""
    time.sleep(0.3)
    return fake_metrics(spec)


def tiny_suite(n_models: int = 2, lambdas: tuple[float, ...] = (0.0, 0.1),
               seeds: tuple[int, ...] = (0, 1), datasets: tuple[str, ...] = ("a",)) -> Suite:
    """A small grid over digits-dvs labels (the fake run never touches the data)."""
    families = ["snn-mlp", "mlp", "gru", "cnn"]
    return Suite(
        name="tiny",
        datasets=tuple(SuiteDataset(d, DataConfig(options={"limit": 20})) for d in datasets),
        models=tuple(SuiteModel(f, ModelSpec(family=f, hidden=(8,)))
                     for f in families[:n_models]),
        lambdas=lambdas, seeds=seeds, train=TrainConfig(epochs=1),
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
