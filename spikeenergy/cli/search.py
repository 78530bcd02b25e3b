"""``spikeenergy search SUITE``: multi-objective architecture search (accuracy up, energy down)."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import spikeenergy.extras.search  # noqa: F401  (first: one line naming the extra if missing)
from spikeenergy.cli.options import (
    add_dataset_option_arg,
    add_module_arg,
    module_specs,
    parse_dataset_options,
)
from spikeenergy.plugins import user_code


def add_parser(sub: Any) -> None:
    """Register the ``search`` command."""
    p = sub.add_parser(
        "search",
        help="NSGA-II search over architectures for accuracy vs energy (Optuna)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("suite", help="search suite: a TOML file, or a shipped one (smoke, ...)")
    p.add_argument(
        "--storage",
        default=None,
        help="Optuna RDB URL (default sqlite:///OUT/study.db); postgresql://... for many machines",
    )
    p.add_argument("--out", default=None, help="output folder (default results/search/<name>)")
    p.add_argument("--n-trials", type=int, default=None, help="trials to add (suite default)")
    p.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--study-name", default=None, help="override the suite's study name")
    p.add_argument(
        "--worker-id",
        "--worker",
        dest="worker",
        type=int,
        default=0,
        help="this process's id among the processes sharing --storage (distinct sampler "
        "seeds); not a count, unlike bench --workers",
    )
    p.add_argument("--data-root", default=None, help="override the suite's data root")
    add_dataset_option_arg(p)
    add_module_arg(p)
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: suite / auto)")
    p.add_argument("--no-pruning", action="store_true")
    p.add_argument("--report-only", action="store_true", help="only write the outputs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the suite, open (or resume) the study, run trials, write front, architectures, plot."""
    options = parse_dataset_options(args.dataset_option)
    from spikeenergy.search.study import quiet_optuna

    with user_code(module_specs(args)), quiet_optuna():
        return _run(args, options)


def _run(args: argparse.Namespace, options: dict[str, Any]) -> int:
    from spikeenergy.data.registry import check_dataset_options
    from spikeenergy.search import (
        ArchitectureObjective,
        load_suite,
        make_storage,
        open_study,
        run_search,
        write_outputs,
    )

    cfg = load_suite(args.suite)
    if args.data_root is not None:
        cfg = replace(cfg, data=replace(cfg.data, root=args.data_root))
    if options:
        cfg = replace(cfg, data=replace(cfg.data, options={**cfg.data.options, **options}))
    check_dataset_options(cfg.data.name, cfg.data.options)
    if args.device is not None:
        from spikeenergy.cli.common import check_device

        cfg = replace(cfg, train=replace(cfg.train, device=check_device(args.device)))
    if args.no_pruning:
        cfg = replace(cfg, pruning=replace(cfg.pruning, enabled=False))
    name = args.study_name or cfg.name
    out = Path(args.out) if args.out else Path("results") / "search" / name
    out.mkdir(parents=True, exist_ok=True)
    url = args.storage or f"sqlite:///{(out / 'study.db').resolve()}"
    study = open_study(name, make_storage(url), cfg.seed, cfg.population_size, args.worker)
    if not args.report_only:
        n_trials = args.n_trials if args.n_trials is not None else cfg.n_trials
        timeout = args.timeout if args.timeout is not None else cfg.timeout_s
        run_search(study, ArchitectureObjective(cfg, store_dir=out), n_trials, timeout)
    paths = write_outputs(study, out, cfg.space, cfg.target)
    from spikeenergy.bench import ResultsStore, write_report

    if ResultsStore(out).runs_dir.is_dir():  # trials as benchmark run records
        paths["report"] = write_report(out)
    states: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name] = states.get(t.state.name, 0) + 1
    print(f"study {name!r} in {url}: " + ", ".join(f"{v} {k.lower()}" for k, v in states.items()))
    print(f"Pareto front ({len(study.best_trials)} trials), energy on {cfg.target}:")
    from spikeenergy.models.families import is_spiking_family  # not at the top: fast --help

    for t in sorted(study.best_trials, key=lambda t: t.values[1]):
        if "duplicate_of" in t.user_attrs:
            continue  # the same candidate as an earlier trial (not trained again)
        c = t.user_attrs.get("candidate", {})
        m = c.get("model", {})
        family = m.get("family", "")
        name = f"{family}:{m.get('backend')}" if is_spiking_family(family) else family
        print(
            f"  #{t.number:<4} val acc {t.values[0]:.3f}  test acc "
            f"{t.user_attrs.get('test_accuracy', float('nan')):.3f}  {t.values[1]:.4g} pJ  "
            f"{name} hidden {m.get('hidden')} "
            f"lam {c.get('lam')} glia {c.get('glia_ratio')}"
        )
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
