"""Multi-objective architecture search with Optuna: NSGA-II, RDB storage, resumable, pruned.

Objectives: validation accuracy (maximise) and inference energy per sample in pJ on a cost
target (minimise). The study lives in an Optuna RDB storage (SQLite by default; any SQLAlchemy
URL such as ``postgresql://user@host/db`` lets workers on several machines share it). Studies
are loaded if they exist, so a restarted search continues; trials left RUNNING by a killed
worker are marked FAILED after the heartbeat grace period and re-queued once.

Pruning: Optuna's pruners (``trial.report`` / ``should_prune``) support single-objective studies
only, so we prune by Pareto dominance at equal epochs instead (:class:`DominancePruning`): after
``warmup_epochs``, a trial is pruned when at least ``min_dominating`` finished trials had, at the
same epoch, a validation accuracy higher by ``margin`` and an energy no higher. A cheap but slow
starter is therefore never pruned merely for its accuracy.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import optuna

from spikeenergy.config_files import check_keys, check_types, read_toml
from spikeenergy.energy.cost_models import cost_model_registry, get_cost_model
from spikeenergy.io import atomic_write
from spikeenergy.search.space import Candidate, SearchSpace, candidate_from_params

log = logging.getLogger(__name__)

DIRECTIONS = ("maximize", "minimize")  # accuracy, energy_pj


@dataclass(frozen=True)
class DominancePruning:
    """Prune a trial whose (accuracy, energy) at epoch e is dominated by finished trials."""

    enabled: bool = True
    warmup_epochs: int = 1
    min_dominating: int = 2
    margin: float = 0.02

    def dominated_by(
        self, epoch: int, acc: float, energy: float, finished: Sequence[dict[str, Any]]
    ) -> int:
        """How many finished trials' epoch records dominate (acc, energy) at ``epoch``."""
        n = 0
        for attrs in finished:
            rec = attrs.get(f"epoch_{epoch}")
            if rec is not None and rec[0] >= acc + self.margin and rec[1] <= energy:
                n += 1
        return n

    def should_prune(
        self, epoch: int, acc: float, energy: float, finished: Sequence[dict[str, Any]]
    ) -> bool:
        """True when pruning is on, past warm-up, and enough finished trials dominate."""
        if not self.enabled or epoch < self.warmup_epochs:
            return False
        return self.dominated_by(epoch, acc, energy, finished) >= self.min_dominating


@dataclass(frozen=True)
class SearchConfig:
    """A search suite: study, data, training budget per trial, space, cost target, pruning."""

    name: str = "search"
    data: Any = None  # spikeenergy.train.DataConfig
    train: Any = None  # spikeenergy.train.TrainConfig (budget of every trial)
    space: SearchSpace = field(default_factory=SearchSpace)
    n_trials: int = 20
    timeout_s: float | None = None
    seed: int = 0
    target: str = "cmos45"
    population_size: int = 10
    pruning: DominancePruning = field(default_factory=DominancePruning)


def find_search_suite(name_or_path: str | os.PathLike[str]) -> Path:
    """A search suite file: an existing path, or ``NAME`` -> a suite shipped with the package
    (``smoke``, ``nmnist-small``, ...); FileNotFoundError listing the shipped names."""
    from spikeenergy.resources import search_suites_dir, shipped_names

    p = Path(name_or_path)
    if p.is_file():
        return p
    folder = search_suites_dir()
    if p.suffix == "" and len(p.parts) == 1 and (folder / f"{p}.toml").is_file():
        return folder / f"{p}.toml"
    raise FileNotFoundError(
        f"search suite {str(name_or_path)!r} not found: not a file, and not a shipped suite "
        f"({', '.join(shipped_names(folder))})"
    )


#: keys of a search suite's [study] table (fields of SearchConfig)
STUDY_KEYS = {"name", "n_trials", "timeout_s", "seed", "target", "population_size"}


def load_suite(path: str | os.PathLike[str]) -> SearchConfig:
    """Read a suite TOML file (tables study, data, data.frames, train, space, pruning): a path,
    or the name of a suite shipped with the package (:func:`find_search_suite`)."""
    from spikeenergy.data import DataConfig
    from spikeenergy.train import TrainConfig

    p = find_search_suite(path)
    # the same reader and key/type checks as benchmark suites (spikeenergy.config_files)
    doc = read_toml(p, "search suite")
    check_keys(doc, {"study", "data", "train", "space", "pruning"}, "the top level", str(p))
    study = dict(check_keys(doc.get("study", {}), STUDY_KEYS, "[study]", str(p)))
    check_types(study, SearchConfig, "[study]", str(p))
    train = check_keys(
        doc.get("train", {}), {f.name for f in dataclasses.fields(TrainConfig)}, "[train]", str(p)
    )
    check_types(train, TrainConfig, "[train]", str(p))
    prune_keys = {f.name for f in dataclasses.fields(DominancePruning)}
    pruning = check_keys(doc.get("pruning", {}), prune_keys, "[pruning]", str(p))
    check_types(pruning, DominancePruning, "[pruning]", str(p))
    try:
        data = DataConfig.from_dict(dict(doc.get("data", {})))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{p}: [data]: {exc}") from None
    get_cost_model(study.get("target", "cmos45"))  # fail early on a typo
    return SearchConfig(
        name=study.get("name", p.stem),
        data=data,
        train=TrainConfig.from_dict(dict(train)),
        space=SearchSpace.from_dict(dict(doc.get("space", {}))),
        pruning=DominancePruning(**pruning),
        **{k: v for k, v in study.items() if k != "name"},
    )


def make_storage(url: str, heartbeat_s: int | None = 60, grace_s: int | None = None) -> Any:
    """An Optuna RDB storage with heartbeats (stale RUNNING trials fail, then retry once)."""
    import warnings

    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}  # wait on a locked file
    if heartbeat_s is not None:
        kwargs.update(
            heartbeat_interval=heartbeat_s,
            grace_period=grace_s if grace_s is not None else 2 * heartbeat_s,
        )
    with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna since 2.8
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if heartbeat_s is not None:
            kwargs["heartbeat_stale_trial_callback"] = RetryHeartbeatStaleTrialCallback(max_retry=1)
        # Workers starting together on a new database race to create its schema (tables,
        # alembic version row); the loser gets a database error and connects again to the
        # finished schema.
        from sqlalchemy.exc import SQLAlchemyError

        for attempt in range(6):
            try:
                return RDBStorage(url, **kwargs)
            except SQLAlchemyError:
                if attempt == 5:
                    raise
                time.sleep(0.3 * (attempt + 1))
    raise AssertionError("unreachable")


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial INFO lines off while the block runs, the previous verbosity restored
    after it. For applications (the ``spikeenergy search`` command uses it): the library's own
    functions leave Optuna's logging, a process-wide setting, to their caller."""
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(max(before, optuna.logging.WARNING))
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def open_study(
    name: str,
    storage: Any,
    seed: int = 0,
    population_size: int = 10,
    worker: int = 0,
    directions: Sequence[str] = DIRECTIONS,
) -> optuna.Study:
    """Create or load study ``name`` with an NSGA-II sampler.

    The sampler seed mixes ``seed``, ``worker`` and the number of trials already stored, so
    workers and restarts propose different (but reproducible) first-generation candidates.
    """
    probe = optuna.create_study(
        storage=storage,
        study_name=name,
        directions=list(directions),  # type: ignore[arg-type]
        load_if_exists=True,
    )
    n_existing = len(probe.get_trials(deepcopy=False))
    sampler = optuna.samplers.NSGAIISampler(
        population_size=population_size,
        seed=(seed * 1_000_003 + worker * 10_007 + n_existing) % (2**32),
    )
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler)


def run_search(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], Sequence[float]],
    n_trials: int | None = None,
    timeout_s: float | None = None,
    progress: bool = False,
) -> optuna.Study:
    """Run ``n_trials`` more trials (and/or until ``timeout_s``) of ``objective`` on ``study``."""
    study.optimize(
        objective,
        n_trials=n_trials,
        timeout=timeout_s,
        catch=(FloatingPointError,),  # a diverged candidate is a FAILED trial, not a crash
        show_progress_bar=progress,
        gc_after_trial=True,
    )
    return study


# --------------------------------------------------------------------- architecture objective


class ArchitectureObjective:
    """Train a sampled candidate for the suite's budget; return (val accuracy, energy pJ)."""

    def __init__(
        self,
        config: SearchConfig,
        data: Any = None,
        progress: bool = False,
        store_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        from spikeenergy.train import prepare_data

        self.config = config
        #: results folder of the benchmark store: every finished trial is also written there as
        #: a run record, so ``spikeenergy report`` analyses searches like benchmark sweeps
        self.store_dir = Path(store_dir) if store_dir is not None else None
        self.data = data if data is not None else prepare_data(config.data, config.train.seed)
        if self.data.val is None:
            raise ValueError("the search needs a validation split: set data.val_fraction > 0")
        self.steps = int(config.data.frames.n_time_bins or 1)
        self.target = get_cost_model(config.target)
        self.progress = progress

    def build(self, candidate: Candidate) -> Any:
        """The (optionally glia-wrapped) model of a candidate, seeded by the suite seed."""
        from spikeenergy.models.glia import GlialGating
        from spikeenergy.train import build_seeded_model

        spec = candidate.spec
        if candidate.glia_ratio > 0 and spec.is_spiking:
            spec = replace(spec, engine="library")  # glia hook the per-step neuron calls
        model = build_seeded_model(
            spec, self.data.frame_shape, self.data.num_classes, self.config.train.seed
        )
        return GlialGating(model, candidate.glia_ratio) if candidate.glia_ratio > 0 else model

    def energy_pj(self, counts: dict[str, float]) -> tuple[float, dict[str, float]]:
        """Energy per inference (pJ) on the suite's target from the validation ledger's totals
        (a glial population is a recorded layer of the ledger like any other)."""
        return float(self.target.price(counts)["energy_pj"]), dict(counts)

    def write_record(
        self,
        number: int,
        candidate: Candidate,
        train_cfg: Any,
        model: Any,
        result: Any,
        test: dict[str, Any],
        val: dict[str, Any],
        energies: dict[str, float],
    ) -> None:
        """Store a finished trial as a benchmark run record (atomic; see spikeenergy.bench)."""
        from spikeenergy.bench.store import ResultsStore, ok_record
        from spikeenergy.train import ExperimentConfig
        from spikeenergy.train.experiment import experiment_metrics

        assert self.store_dir is not None
        cfg = ExperimentConfig(data=self.config.data, model=candidate.spec, train=train_cfg)
        metrics = experiment_metrics(cfg, model, self.data, result, test, val)
        metrics["search"] = {
            "trial": number,
            "candidate": candidate.to_dict(),
            "energy_pj": energies,
        }
        spec = candidate.spec
        label = spec.family + (f"/{spec.backend}" if spec.is_spiking else "")
        label += " " + "-".join(str(w) for w in spec.hidden)
        if candidate.glia_ratio > 0:
            label += f" glia {candidate.glia_ratio:g}"
        ResultsStore(self.store_dir).put(
            ok_record(
                run_id=f"trial-{number:05d}",
                dataset=self.config.data.name,
                model=f"#{number} {label}",
                lam=candidate.lam,
                seed=train_cfg.seed,
                config=cfg.to_dict(),
                metrics=metrics,
                duration_s=result.efficiency["wall_time_s"],
            )
        )

    @staticmethod
    def finished_twin(trial: optuna.Trial, candidate: Candidate) -> Any:
        """A completed trial of the same study that trained exactly this candidate, or None.

        NSGA-II often proposes a candidate again (parameters a candidate does not use, such as
        the widths past its depth, may differ); reusing the stored result saves the training.
        """
        want = json.loads(json.dumps(candidate.to_dict()))  # as stored (tuples -> lists)
        for t in trial.study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            if t.user_attrs.get("candidate") == want and "duplicate_of" not in t.user_attrs:
                return t
        return None

    def __call__(self, trial: optuna.Trial) -> tuple[float, float]:
        """Train the trial's candidate; return (validation accuracy, energy pJ per inference)."""
        from spikeenergy.search.space import suggest_candidate
        from spikeenergy.train import evaluate, fit
        from spikeenergy.train.loop import make_energy_term

        candidate = suggest_candidate(trial, self.config.space)
        done = self.finished_twin(trial, candidate)
        if done is not None:  # training is seeded: the same candidate gives the same numbers
            for k, v in done.user_attrs.items():
                trial.set_user_attr(k, v)
            trial.set_user_attr("duplicate_of", done.number)
            assert done.values is not None
            return float(done.values[0]), float(done.values[1])
        train_cfg = replace(self.config.train, lam=candidate.lam, target=self.config.target)
        model = self.build(candidate)
        energy_term = make_energy_term(train_cfg)
        pruning = self.config.pruning

        def on_epoch(row: dict[str, Any], m: Any) -> None:
            acc = float(row["val_accuracy"])
            e_pj, _ = self.energy_pj(row["val_counts"])
            epoch = int(row["epoch"])
            trial.set_user_attr(f"epoch_{epoch}", [acc, e_pj])
            finished = [
                t.user_attrs
                for t in trial.study.get_trials(
                    deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)
                )
            ]
            if pruning.should_prune(epoch, acc, e_pj, finished):
                raise optuna.TrialPruned(
                    f"epoch {epoch}: (acc {acc:.3f}, {e_pj:.3g} pJ) dominated by finished trials"
                )

        res = fit(
            model, self.data.train, self.data.val, train_cfg, energy_term, self.progress, on_epoch
        )
        val = evaluate(model, self.data.val, energy_term, train_cfg)
        test = evaluate(model, self.data.test, energy_term, train_cfg)
        e_pj, ops = self.energy_pj(val["ledger"].total())
        n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        trial.set_user_attr("candidate", candidate.to_dict())
        trial.set_user_attr("test_accuracy", float(test["accuracy"]))
        trial.set_user_attr("ops", ops)
        trial.set_user_attr("parameters", int(n_params))
        trial.set_user_attr("epochs", int(res.efficiency["epochs"]))
        trial.set_user_attr("wall_time_s", float(res.efficiency["wall_time_s"]))
        targets = cost_model_registry()
        energies = {
            name: float(targets.get(name).price(ops)["energy_pj"]) for name in targets.names()
        }
        for name, pj in energies.items():
            trial.set_user_attr(f"energy_pj[{name}]", pj)
        if self.store_dir is not None:
            self.write_record(trial.number, candidate, train_cfg, model, res, test, val, energies)
        return float(val["accuracy"]), float(e_pj)


# --------------------------------------------------------------------- outputs


def trials_frame(study: optuna.Study) -> Any:
    """All trials as a DataFrame (params, values, state, user attributes flattened)."""
    import pandas as pd

    rows = []
    front = {t.number for t in study.best_trials}
    for t in study.get_trials(deepcopy=False):
        row: dict[str, Any] = {
            "number": t.number,
            "state": t.state.name,
            "pareto": t.number in front,
        }
        if t.values is not None:
            row["accuracy"], row["energy_pj"] = t.values[0], t.values[1]
        row.update({f"param_{k}": v for k, v in t.params.items()})
        for k, v in t.user_attrs.items():
            if not k.startswith("epoch_") and not isinstance(v, dict):
                row[k] = v
        rows.append(row)
    return pd.DataFrame(rows)


def write_outputs(
    study: optuna.Study,
    out_dir: str | os.PathLike[str],
    space: SearchSpace | None = None,
    target: str | None = None,
) -> dict[str, Path]:
    """Write trials.csv, front.csv, architectures.json and front.png (each atomically); returns
    their paths. ``target``: the cost model the energies are priced on (the plot names it)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = trials_frame(study)
    paths = {
        "trials": out / "trials.csv",
        "front": out / "front.csv",
        "architectures": out / "architectures.json",
        "plot": out / "front.png",
    }
    atomic_write(paths["trials"], df.to_csv(index=False))
    front = df[df["pareto"]].sort_values("energy_pj") if "energy_pj" in df else df.iloc[0:0]
    atomic_write(paths["front"], front.to_csv(index=False))
    archs = []
    for t in sorted(study.best_trials, key=lambda t: t.values[1]):
        entry: dict[str, Any] = {
            "trial": t.number,
            "accuracy": t.values[0],
            "energy_pj": t.values[1],
        }
        if "candidate" in t.user_attrs:
            entry.update(t.user_attrs["candidate"])
        elif space is not None:
            entry.update(candidate_from_params(t.params, space).to_dict())
        else:
            entry["params"] = t.params
        archs.append(entry)
    atomic_write(paths["architectures"], json.dumps(archs, indent=2, default=str))
    plot_front(df, paths["plot"], study.study_name, target)
    return paths


def plot_front(df: Any, path: Path, title: str, target: str | None = None) -> None:
    """Scatter of all complete trials (energy log-x vs accuracy) with the Pareto front.

    Drawn on a :class:`matplotlib.figure.Figure` (no pyplot state; the caller's backend is
    left alone) and written atomically.
    """
    from matplotlib.figure import Figure

    from spikeenergy.bench.plots import save_figure

    fig = Figure(figsize=(6, 4), layout="tight")
    ax = fig.subplots()
    done = df[df["state"] == "COMPLETE"] if "state" in df else df
    if "energy_pj" in done and len(done):
        fam = done["param_family"] if "param_family" in done else None
        groups = done.groupby(fam) if fam is not None else [("trials", done)]
        for name, g in groups:
            ax.scatter(g["energy_pj"], g["accuracy"], s=18, alpha=0.7, label=str(name))
        front = done[done["pareto"]].sort_values("energy_pj")
        ax.step(
            front["energy_pj"],
            front["accuracy"],
            where="post",
            color="k",
            lw=1,
            label="Pareto front",
        )
        if (done["energy_pj"] > 0).all():
            ax.set_xscale("log")
        ax.legend(fontsize=7)
    on = f" on {target}" if target else " on the suite's target"
    ax.set_xlabel(f"pJ per inference{on} (validation set)")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    save_figure(fig, path)


__all__ = [
    "DIRECTIONS",
    "ArchitectureObjective",
    "DominancePruning",
    "SearchConfig",
    "load_suite",
    "make_storage",
    "open_study",
    "plot_front",
    "quiet_optuna",
    "run_search",
    "trials_frame",
    "write_outputs",
]
