"""``spikeenergy train``: one energy-regularized training run with a result summary."""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spikeenergy.cli.common import (
    add_data_args,
    add_dataset_option_arg,
    add_model_args,
    add_module_arg,
    add_train_args,
    data_config,
    model_spec,
    module_specs,
    train_config,
)
from spikeenergy.plugins import user_code

if TYPE_CHECKING:
    from spikeenergy.train.experiment import ExperimentConfig

#: shown when the command is stopped (Ctrl-C / SIGTERM)
RESUME_HINT = "rerun the same command to resume from the last finished epoch"

#: parent of the default run folders of ``spikeenergy train`` (relative to the current folder)
RUNS_DIR = "runs"


def add_parser(sub: Any) -> None:
    """Register the ``train`` command."""
    p = sub.add_parser(
        "train",
        help="train one model with L = CE + lambda * E",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_data_args(p)
    add_dataset_option_arg(p)
    add_module_arg(p)
    add_model_args(p)
    add_train_args(p)
    p.add_argument(
        "--out",
        default=None,
        help="run folder for model.pt (the kept model), last.pt and metrics.json (default: "
        f"{RUNS_DIR}/<dataset>-<family>-<8 hex of the config>, so rerunning the same command "
        "resumes there and another config gets its own folder)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run)


def summary_lines(m: dict[str, Any]) -> list[str]:
    """A short human-readable summary of a metrics dict."""
    t = m["test"]
    lines = [
        f"dataset {m['dataset']['name']}  model {m['model']['family']}"
        + (f" ({m['model']['backend']})" if m["model"]["backend"] else "")
        + f"  params {m['model']['parameters']}  lam {m['config']['train']['lam']:g}",
        f"test accuracy {t['accuracy']:.4f}  loss {t['loss']:.4f}  "
        + "  ".join(f"energy term {k} {v:.4g}" for k, v in t["energy"].items()),
    ]
    if t.get("scores"):
        lines.append(
            "test scores: "
            + "  ".join(f"{k} {v:.4f}" for k, v in t["scores"].items())
            + (
                f"  (kept epoch {m['best_epoch']}: best validation {m['metric']})"
                if m.get("val") is not None
                else ""
            )
        )
    led = t["ledger"]
    target = m["config"]["train"]["target"]
    tot = led["total"]
    lines.append(
        f"per inference: {led['energy'][target]['energy_j']:.4g} J on {target} "
        f"(ops only {led['energy'][target]['compute_energy_j']:.4g} J); ACs {tot['acs']:.4g}  "
        f"MACs {tot['macs']:.4g}  neuron updates {tot['neuron_updates']:.4g}"
    )
    if "spike_rate" in led["rates"]:
        lines.append(f"spike rate (proxy) {led['rates']['spike_rate']:.4f}")
    for name, row in led["layers"].items():
        lines.append(
            f"  {name:<16} {row['kind']:<10} "
            f"{led['layer_energy_j'][target][name]:.4g} J on {target}"
        )
    eff = m["efficiency"]
    lines.append(
        f"training: {eff['epochs']} epochs, {eff['steps']} steps, {eff['wall_time_s']:.1f} s"
    )
    return lines


def default_run_dir(cfg: ExperimentConfig) -> Path:
    """``runs/<dataset>-<family>-<hash>``: the trained model is always kept; the hash (of
    everything in the config) gives the same command the same folder, so a rerun resumes, and a
    different config a folder of its own (a resumed ``last.pt`` of another config is refused
    anyway)."""
    blob = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{cfg.data.name}-{cfg.model.family}")
    return Path(RUNS_DIR) / f"{name}-{digest}"


def run(args: argparse.Namespace) -> int:
    """Import the user modules, build the configs from ``args``, train, print the summary."""
    from spikeenergy.train.experiment import ExperimentConfig, run_experiment

    with user_code(module_specs(args)):
        cfg = ExperimentConfig(
            data=data_config(args), model=model_spec(args), train=train_config(args)
        )
        out = Path(args.out) if args.out else default_run_dir(cfg)
        metrics = run_experiment(cfg, out_dir=out, progress=not args.no_progress)
    print("\n".join(summary_lines(metrics)))
    print(f"wrote {out / 'model.pt'} and {out / 'metrics.json'}")
    return 0
