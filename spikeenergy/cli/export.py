"""``spikeenergy export``: measure a checkpoint on its test data, price it per target, write it."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from spikeenergy.cli.common import (
    add_dataset_option_arg,
    add_module_arg,
    check_device,
    module_specs,
    parse_dataset_options,
)
from spikeenergy.energy.cost_models import (
    BUILTIN_COST_MODELS,
    DEFAULT_POLICY,
    POLICIES,
    cost_model_registry,
    cost_models_from_toml,
)
from spikeenergy.export.tables import FORMATS
from spikeenergy.plugins import user_code

if TYPE_CHECKING:
    from spikeenergy.metrics.meter import EnergyReport


def add_parser(sub: Any) -> None:
    """Register the ``export`` command."""
    names = ", ".join(cm.name for cm in BUILTIN_COST_MODELS)
    p = sub.add_parser(
        "export",
        help="per-layer ops and joules per inference on hardware targets; json/csv/hdf5/nir",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("checkpoint", help="model.pt written by `spikeenergy train --out`")
    p.add_argument(
        "--target",
        action="append",
        default=None,
        help=f"cost model name, repeatable (built in: {names}; default: loihi and cpu)",
    )
    p.add_argument("--cost-models", default=None, help="TOML file with extra [targets.<name>]")
    p.add_argument("--format", choices=FORMATS, default=None, help="default: from --out suffix")
    p.add_argument("--out", required=True, help="output file")
    p.add_argument("--data-root", default=None, help="override the data root of the checkpoint")
    add_dataset_option_arg(p)
    add_module_arg(p)
    p.add_argument(
        "--policy",
        choices=POLICIES,
        default=DEFAULT_POLICY,
        help="how a call is split into binary (AC) and graded (MAC) inputs",
    )
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--max-batches", type=int, default=None, help="measure only this many")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cpu)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def summary_lines(report: EnergyReport) -> list[str]:
    """Per-layer table: effective ACs/MACs, neuron updates and joules per target."""
    from spikeenergy.metrics import TOTAL, target_column

    targets = [t["name"] for t in report.targets]
    head = f"{'layer':<14}{'eff. ACs':>12}{'eff. MACs':>12}{'neuron upd.':>12}"
    head += "".join(f"{'J/inf ' + t:>18}" for t in targets)
    lines = [f"{report.samples} samples, policy {report.policy}; counts per sample", head]
    for name, row in report.rows.items():
        line = f"{name:<14}"
        for c in ("effective_acs", "effective_macs", "neuron_updates"):
            line += f"{row[c]:>12.4g}" if c in row else f"{'':>12}"
        for t in targets:
            v = row.get(target_column("energy_j", t))
            line += f"{v:>18.4g}" if v is not None else f"{'':>18}"
        lines.append(line)
    tot = report.rows[TOTAL]
    for t in targets:
        lines.append(
            f"{t}: {tot[target_column('energy_j', t)]:.4g} J/inference, ops only "
            f"{tot[target_column('compute_energy_j', t)]:.4g} J "
            f"({tot[target_column('charged_acs', t)]:.4g} ACs + "
            f"{tot[target_column('charged_macs', t)]:.4g} MACs + "
            f"{tot[target_column('charged_neuron_updates', t)]:.4g} neuron updates)"
        )
    return lines


def run(args: argparse.Namespace) -> int:
    """Resolve the targets, measure, write, print the summary."""
    from spikeenergy.export.checkpoint import export_checkpoint

    extra = cost_models_from_toml(args.cost_models) if args.cost_models else []
    registry = cost_model_registry(extra)
    names = args.target or ["loihi", "cpu"]
    targets = [registry.get(n) for n in names]
    options = parse_dataset_options(args.dataset_option)
    with user_code(module_specs(args)):
        report = export_checkpoint(
            args.checkpoint,
            args.out,
            targets,
            args.format,
            data_root=args.data_root,
            dataset_options=options or None,
            batch_size=args.batch_size,
            device=check_device(args.device),
            policy=args.policy,
            max_batches=args.max_batches,
            progress=not args.no_progress,
        )
    print("\n".join(summary_lines(report)))
    print(f"wrote {args.out}")
    return 0
