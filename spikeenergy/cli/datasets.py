"""``spikeenergy datasets``: list registered datasets and where their files are expected."""

from __future__ import annotations

import argparse
from typing import Any

import spikeenergy.extras.data  # noqa: F401  (first: one line naming the extra if missing)
from spikeenergy.cli.options import add_module_arg, module_specs
from spikeenergy.plugins import load_plugins


def add_parser(sub: Any) -> None:
    """Register the ``datasets`` command."""
    p = sub.add_parser("datasets", help="list datasets, their layout and data root")
    p.add_argument("--data-root", default=None, help="data root (else $SPIKEENERGY_DATA)")
    add_module_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print one line per dataset (built in, installed plugins, --module) and the data root."""
    from spikeenergy.data import DATASETS, resolve_data_root  # not needed by --help

    load_plugins(module_specs(args))
    print(f"data root: {resolve_data_root(args.data_root)}")
    for name in DATASETS.names():
        card = DATASETS.get(name).card
        print(f"{name:<14} sensor {card.sensor_size}  classes {card.n_classes}  {card.layout}")
    return 0
