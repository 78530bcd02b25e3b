"""Benchmark suites: TOML files validated into frozen dataclasses, and the grid they expand to.

A suite is ``datasets x models x lambdas x seeds`` (x folds, for datasets cross-validated with
``folds = k``) under one training budget and energy term. It is a protocol fixed before any
run: besides the grid and budget it states the task ``metric`` that selects checkpoints and
lambdas (on validation only) and the equivalence ``margin`` of "no accuracy loss". Its
:attr:`Suite.suite_hash` (sha256 of everything except where and how it runs) is stored with
every result, and a sweep refuses to add results of a changed suite under an old name.
Every key is checked on load: names, types (``epochs = 2.5`` or ``batch_size = 32.0`` are
refused, not truncated), ranges, the dataset options (:func:`check_dataset_options`), and the
suite name, which names the results folder and so must be a plain name. An error names the
file, the section, the key and the fix. The format is documented in docs/benchmarks.md;
the suites shipped in ``spikeenergy/suites/*.toml`` are examples.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from spikeenergy.config_files import check_keys, check_types, read_toml
from spikeenergy.data import DATASETS, FrameConfig
from spikeenergy.data.registry import check_dataset_options
from spikeenergy.energy import DEFAULT_TARGET, ENERGY_TERMS, get_cost_model
from spikeenergy.models import ModelSpec, NeuronSpec
from spikeenergy.plugins import PluginError, check_module_spec, load_plugins, resolve_module_spec
from spikeenergy.train import TASK_METRICS, DataConfig, ExperimentConfig, TrainConfig
from spikeenergy.train.loop import make_energy_term

#: lambda = 0 (the baseline) plus five decades, 1e-5 ... 1e-1
DEFAULT_LAMBDAS: tuple[float, ...] = (0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
DEFAULT_SEEDS = 10
#: equivalence margin of "no accuracy loss" when a suite states none (1 point of accuracy)
DEFAULT_MARGIN = 0.01
#: the k-fold partition's seed: fixed, never the training seed, so that every seed of a suite
#: tests on the same recordings (runs pair on them across seeds and lambdas)
FOLD_SEED = 0

SUITE_KEYS = {
    "name",
    "description",
    "seeds",
    "lambdas",
    "energy",
    "energy_options",
    "target",
    "target_accuracy",
    "skip_missing",
    "modules",
    "keep_checkpoints",
    "margin",
    "metric",
}
DATASET_KEYS = {
    "name",
    "label",
    "root",
    "options",
    "frames",
    "val_fraction",
    "train_per_class",
    "test_per_class",
    "augment_shift",
    "models",
    "folds",
}
TOP_KEYS = {"suite", "train", "frames", "datasets", "models"}
# set by the grid (seed, lam), the [suite] table (energy...) or the command line (device)
TRAIN_RESERVED = {
    "seed",
    "lam",
    "energy",
    "energy_options",
    "target",
    "target_accuracy",
    "metric",
    "device",
}

#: a suite name becomes a folder name (results/<name>): letters, digits, "_", "-", "." and
#: spaces, not starting with "." (no "..", no path separators, no absolute paths)
SUITE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,99}")


class SuiteError(ValueError):
    """A suite file is invalid; the message names the file, the place and the fix."""


@dataclass(frozen=True)
class SuiteDataset:
    """One dataset of a suite: its label in tables, the data configuration and (optionally)
    the model labels that apply to it (e.g. no 2-D CNN on 1-D EMG channels)."""

    label: str
    data: DataConfig
    models: tuple[str, ...] | None = None  # None: every model of the suite


@dataclass(frozen=True)
class SuiteModel:
    """One model of a suite: its label in tables and the architecture."""

    label: str
    spec: ModelSpec


@dataclass(frozen=True)
class Suite:
    """A factorial benchmark: datasets x models x lambdas x seeds under one training budget.

    ``train`` is the shared budget (its ``seed`` and ``lam`` are set per run by the grid; its
    ``metric`` is the suite's task metric, :attr:`metric`); ``skip_missing`` skips datasets
    whose files are absent instead of failing; ``margin`` is the equivalence margin of "no
    accuracy loss" in units of the metric (0.01 = one point), stated before the runs.
    ``modules`` (module names or absolute .py paths) are imported by every worker before its
    runs, so datasets and metrics registered in user code reach them
    (:mod:`spikeenergy.plugins`); ``keep_checkpoints`` keeps each run's selected model as
    ``runs/<run_id>.pt``.
    """

    name: str
    datasets: tuple[SuiteDataset, ...]
    models: tuple[SuiteModel, ...]
    lambdas: tuple[float, ...] = DEFAULT_LAMBDAS
    seeds: tuple[int, ...] = tuple(range(DEFAULT_SEEDS))
    train: TrainConfig = TrainConfig()
    skip_missing: bool = False
    description: str = ""
    source: str | None = None  # the file it was loaded from
    modules: tuple[str, ...] = ()  # user modules every worker imports
    keep_checkpoints: bool = True  # runs/<run_id>.pt beside every ok record
    margin: float = DEFAULT_MARGIN

    def __post_init__(self) -> None:
        where = self.source or f"suite {self.name!r}"
        if (
            isinstance(self.margin, bool)
            or not isinstance(self.margin, (int, float))
            or not math.isfinite(self.margin)
            or not 0 < self.margin < 1
        ):
            raise SuiteError(
                f"{where}: margin={self.margin!r} must be a number in (0, 1): the largest "
                "difference in the task metric to lambda = 0 that counts as no loss (0.01 = "
                "one point of accuracy)"
            )
        if not isinstance(self.name, str) or not SUITE_NAME.fullmatch(self.name):
            raise SuiteError(
                f"{where}: suite name {self.name!r} is not a plain name; it names the results "
                "folder (results/<name>), so use letters, digits, '_', '-', '.' and spaces, "
                "not starting with '.', without '/' or '\\' (at most 100 characters)"
            )
        if not self.datasets or not self.models:
            raise SuiteError(f"{where}: needs at least one dataset and one model")
        if not self.lambdas or not self.seeds:
            raise SuiteError(f"{where}: needs at least one lambda and one seed")
        for kind, labels in (
            ("dataset", [d.label for d in self.datasets]),
            ("model", [m.label for m in self.models]),
        ):
            dup = sorted({x for x in labels if labels.count(x) > 1})
            if dup:
                raise SuiteError(
                    f"{where}: duplicate {kind} labels {dup}; give each entry a distinct 'label'"
                )
        known = [m.label for m in self.models]
        for d in self.datasets:
            bad = sorted(set(d.models or ()) - set(known))
            if bad:
                raise SuiteError(
                    f"{where}: dataset {d.label!r} lists unknown models {bad}; "
                    f"known model labels: {known}"
                )
        if isinstance(self.modules, str) or not all(isinstance(m, str) for m in self.modules):
            raise SuiteError(f"{where}: modules must be a tuple of module names or .py paths")

    @property
    def metric(self) -> str:
        """The task metric that selects checkpoints and lambdas (a TASK_METRICS name)."""
        return self.train.metric

    @property
    def n_runs(self) -> int:
        """Number of configurations in the full grid."""
        return sum(
            (len(d.models) if d.models is not None else len(self.models)) * (d.data.folds or 1)
            for d in self.datasets
        ) * (len(self.lambdas) * len(self.seeds))

    def canonical(self) -> dict[str, Any]:
        """The suite's protocol as plain data: everything that decides its results, without
        where or how it runs (the file path, data roots, frame cache, device; workers and
        executor are command-line options, not part of a suite) and without its name and
        description (prose, not settings)."""
        d = self.to_dict()
        for key in ("name", "description", "source", "suite_hash"):
            d.pop(key, None)
        d["train"].pop("device", None)
        for ds in d["datasets"]:
            ds.pop("root", None)
            ds["frames"].pop("cache", None)
            ds["frames"].pop("cache_dir", None)
        return json.loads(json.dumps(d, sort_keys=True, default=str))

    @property
    def suite_hash(self) -> str:
        """sha256 (hex) of :meth:`canonical` as sorted, compact JSON: stored with every result,
        so that results can be traced to the exact protocol, and a changed suite is noticed."""
        blob = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (stored next to the results)."""
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "margin": self.margin,
            "metric": self.metric,
            "lambdas": list(self.lambdas),
            "seeds": list(self.seeds),
            "skip_missing": self.skip_missing,
            "modules": list(self.modules),
            "keep_checkpoints": self.keep_checkpoints,
            "train": self.train.to_dict(),
            "datasets": [
                {"label": d.label, "models": d.models, **d.data.to_dict()} for d in self.datasets
            ],
            "models": [{"label": m.label, **m.spec.to_dict()} for m in self.models],
        }


@dataclass(frozen=True)
class RunSpec:
    """One cell of the grid: a complete experiment plus its labels and stable id (``fold``:
    the test fold of a cross-validated dataset, None for a fixed test split)."""

    run_id: str
    dataset: str
    model: str
    lam: float
    seed: int
    config: ExperimentConfig
    fold: int | None = None


def run_id(config: ExperimentConfig, dataset: str, model: str) -> str:
    """Stable id of a configuration: a hash of what determines its numbers.

    Where the data lives, the device and the frame cache do not change a run's identity, so
    moving the data or resuming on another machine skips completed runs.
    """
    d = config.to_dict()
    d["data"].pop("root", None)
    d["data"]["frames"].pop("cache", None)
    d["data"]["frames"].pop("cache_dir", None)
    d["train"].pop("device", None)
    blob = json.dumps(
        {"dataset": dataset, "model": model, "config": d}, sort_keys=True, default=str
    )
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def expand_grid(suite: Suite, datasets: tuple[str, ...] | None = None) -> list[RunSpec]:
    """All runs of ``suite`` (optionally only the dataset labels in ``datasets``), in order
    dataset, model, lambda, seed, fold (a dataset with ``folds = k`` has k runs per seed, one
    per test fold, all on the partition drawn with :data:`FOLD_SEED`)."""
    specs = []
    for ds in suite.datasets:
        if datasets is not None and ds.label not in datasets:
            continue
        folds: list[int | None] = list(range(ds.data.folds)) if ds.data.folds else [None]
        for m in suite.models:
            if ds.models is not None and m.label not in ds.models:
                continue
            for lam in suite.lambdas:
                for seed in suite.seeds:
                    for fold in folds:
                        data = ds.data if fold is None else replace(ds.data, fold=fold)
                        cfg = ExperimentConfig(
                            data=data,
                            model=m.spec,
                            train=replace(suite.train, lam=lam, seed=seed),
                        )
                        rid = run_id(cfg, ds.label, m.label)
                        specs.append(RunSpec(rid, ds.label, m.label, lam, seed, cfg, fold))
    return specs


def with_overrides(
    suite: Suite, data_root: str | None = None, device: str | None = None, seeds: int | None = None
) -> Suite:
    """A copy with a data root (for datasets without one), a device, or ``range(seeds)``."""
    out = suite
    if data_root is not None:
        out = replace(
            out,
            datasets=tuple(
                replace(d, data=replace(d.data, root=d.data.root or data_root))
                for d in out.datasets
            ),
        )
    if device is not None:
        out = replace(out, train=replace(out.train, device=device))
    if seeds is not None:
        if seeds < 1:
            raise SuiteError(f"seeds={seeds} must be >= 1")
        out = replace(out, seeds=tuple(range(seeds)))
    return out


# ----------------------------------------------------------------------------- loading


def _check_keys(table: Any, known: set[str], where: str, src: str) -> dict[str, Any]:
    return check_keys(table, known, where, src, SuiteError)


def _check_types(table: dict[str, Any], cls: Any, where: str, src: str) -> None:
    check_types(table, cls, where, src, SuiteError)


def _lambdas(value: Any, src: str) -> tuple[float, ...]:
    if not isinstance(value, list) or not value:
        raise SuiteError(f"{src}: [suite] lambdas must be a non-empty list of numbers >= 0")
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise SuiteError(f"{src}: [suite] lambdas: {v!r} is not a finite number >= 0")
        out.append(float(v))
    if len(set(out)) != len(out):
        raise SuiteError(f"{src}: [suite] lambdas has duplicates: {out}")
    return tuple(sorted(out))


def _seeds(value: Any, src: str) -> tuple[int, ...]:
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SuiteError(f"{src}: [suite] seeds={value}; give a count >= 1 or a list of ints")
        return tuple(range(value))
    if (
        isinstance(value, list)
        and value
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
    ):
        if len(set(value)) != len(value):
            raise SuiteError(f"{src}: [suite] seeds has duplicates: {value}")
        return tuple(value)
    raise SuiteError(f"{src}: [suite] seeds={value!r}; give a count >= 1 or a list of ints >= 0")


def _frames(base: dict[str, Any], override: Any, where: str, src: str) -> FrameConfig:
    known = {f.name for f in fields(FrameConfig)}
    _check_keys(base, known, "[frames]", src)
    _check_keys(override if override is not None else {}, known, f"{where}.frames", src)
    _check_types(base, FrameConfig, "[frames]", src)
    _check_types(override or {}, FrameConfig, f"{where}.frames", src)
    try:
        return FrameConfig(**{**base, **(override or {})})
    except (TypeError, ValueError) as exc:
        raise SuiteError(f"{src}: {where}.frames: {exc}") from None


def _dataset(i: int, d: Any, frames: dict[str, Any], src: str) -> SuiteDataset:
    where = f"[[datasets]] #{i + 1}"
    d = _check_keys(d, DATASET_KEYS, where, src)
    name = d.get("name")
    if not isinstance(name, str):
        raise SuiteError(f"{src}: {where} needs name = one of {DATASETS.names()}")
    if name not in DATASETS:
        raise SuiteError(f"{src}: {where}: unknown dataset {name!r}; known: {DATASETS.names()}")
    where = f"{where} ({name})"
    options = d.get("options", {})
    if not isinstance(options, dict):
        raise SuiteError(f"{src}: {where}: options must be a table, e.g. {{limit = 300}}")
    try:
        check_dataset_options(name, options)
    except ValueError as exc:
        raise SuiteError(f"{src}: {where}: options: {exc}") from None
    for key in ("label", "root"):
        if key in d and not isinstance(d[key], str):
            raise SuiteError(f"{src}: {where}: {key}={d[key]!r} must be a string")
    _check_types(
        {k: v for k, v in d.items() if k not in ("options", "frames", "name")},
        DataConfig,
        where,
        src,
    )
    try:
        data = DataConfig(
            name=name,
            root=d.get("root"),
            options=dict(options),
            frames=_frames(frames, d.get("frames"), where, src),
            val_fraction=float(d.get("val_fraction", 0.1)),
            train_per_class=d.get("train_per_class"),
            test_per_class=d.get("test_per_class"),
            augment_shift=int(d.get("augment_shift", 0)),
            folds=d.get("folds"),
            fold_seed=FOLD_SEED,
        )
    except SuiteError:
        raise  # already names the file and the place
    except (TypeError, ValueError) as exc:
        raise SuiteError(f"{src}: {where}: {exc}") from None
    if not 0 <= data.val_fraction < 1:
        raise SuiteError(f"{src}: {where}: val_fraction={data.val_fraction} must be in [0, 1)")
    for key in ("train_per_class", "test_per_class"):
        v = getattr(data, key)
        if v is not None and (not isinstance(v, int) or v < 1):
            raise SuiteError(f"{src}: {where}: {key}={v!r} must be an integer >= 1")
    models = d.get("models")
    if models is not None and (
        not isinstance(models, list) or not all(isinstance(m, str) for m in models) or not models
    ):
        raise SuiteError(f"{src}: {where}: models must be a non-empty list of model labels")
    return SuiteDataset(
        str(d.get("label", name)), data, tuple(models) if models is not None else None
    )


def _model(i: int, m: Any, src: str) -> SuiteModel:
    where = f"[[models]] #{i + 1}"
    known = {f.name for f in fields(ModelSpec)} | {"label"}
    m = dict(_check_keys(m, known, where, src))
    _check_types(m, ModelSpec, where, src)
    if isinstance(m.get("neuron"), dict):
        _check_types(m["neuron"], NeuronSpec, f"{where}.neuron", src)
    label = m.pop("label", None)
    if label is not None and not isinstance(label, str):
        raise SuiteError(f"{src}: {where}: label={label!r} must be a string")
    try:
        spec = ModelSpec.from_dict(m)
    except (TypeError, ValueError) as exc:
        raise SuiteError(f"{src}: {where}: {exc}") from None
    if label is None:
        label = f"{spec.family}/{spec.backend}" if spec.is_spiking else spec.family
    return SuiteModel(str(label), spec)


def _modules(value: Any, src: str) -> tuple[str, ...]:
    """[suite] modules: checked, .py paths made absolute (relative to the suite file), and
    imported here (with the entry points of installed packages), so that the datasets they
    register are known when [[datasets]] are checked."""
    if not isinstance(value, list):
        raise SuiteError(
            f'{src}: [suite] modules must be a list, e.g. ["my_pkg.datasets", "my_data.py"]'
        )
    src_path = Path(src)
    base = src_path.parent if src_path.is_file() else None
    try:
        specs = tuple(
            resolve_module_spec(check_module_spec(m, "[suite] modules entry"), base) for m in value
        )
        load_plugins(specs)
    except PluginError as exc:
        raise SuiteError(f"{src}: [suite] modules: {exc}") from None
    return tuple(dict.fromkeys(specs))


def suite_from_dict(raw: dict[str, Any], source: str = "<dict>") -> Suite:
    """Validate a parsed suite document (see docs/benchmarks.md) into a :class:`Suite`."""
    src = source
    _check_keys(raw, TOP_KEYS, "the top level", src)
    head = _check_keys(raw.get("suite", {}), SUITE_KEYS, "[suite]", src)
    modules = _modules(head.get("modules", []), src)
    keep = head.get("keep_checkpoints", True)
    if not isinstance(keep, bool):
        raise SuiteError(f"{src}: [suite] keep_checkpoints must be true or false")
    name = head.get("name", Path(source).stem)
    energy = head.get("energy", "joules")
    if energy == "joules" and "lambdas" not in head:
        raise SuiteError(
            f"{src}: [suite] lambdas is required with the joules term: lambda is in 1/pJ, so "
            "its scale depends on the energy per inference of your models (e.g. lambdas = "
            "[0, 1e-9, 1e-8, 1e-7, 1e-6] for ~1e6-1e7 pJ per inference)"
        )
    if energy not in ENERGY_TERMS:
        raise SuiteError(f"{src}: [suite] energy={energy!r}; known: {ENERGY_TERMS.names()}")
    energy_options = head.get("energy_options", {})
    train_raw = _check_keys(
        raw.get("train", {}), {f.name for f in fields(TrainConfig)}, "[train]", src
    )
    _check_types(train_raw, TrainConfig, "[train]", src)
    _check_types(
        {k: head[k] for k in ("target_accuracy", "energy_options") if k in head},
        TrainConfig,
        "[suite]",
        src,
    )
    for key in ("name", "description", "energy", "metric"):
        if key in head and not isinstance(head[key], str):
            raise SuiteError(f"{src}: [suite] {key}={head[key]!r} must be a string")
    metric = head.get("metric", "accuracy")
    if metric not in TASK_METRICS:
        raise SuiteError(
            f"{src}: [suite] metric={metric!r} is not a task metric; known: "
            f"{TASK_METRICS.names()} (register your own with "
            "spikeenergy.train.register_task_metric)"
        )
    margin = head.get("margin", DEFAULT_MARGIN)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)):
        raise SuiteError(
            f"{src}: [suite] margin={margin!r} must be a number in (0, 1), e.g. 0.01 (one point)"
        )
    reserved = sorted(set(train_raw) & TRAIN_RESERVED)
    if reserved:
        raise SuiteError(
            f"{src}: [train] must not set {reserved}: seeds and lambdas come from "
            f"[suite] seeds/lambdas, energy and target from [suite] energy/target, the task "
            f"metric from [suite] metric, device from the command line"
        )
    try:
        train = TrainConfig(
            **train_raw,
            energy=energy,
            energy_options=dict(energy_options),
            target=head.get("target", DEFAULT_TARGET),
            target_accuracy=head.get("target_accuracy"),
            metric=metric,
        )
        get_cost_model(train.target)
        make_energy_term(train)
    except (TypeError, ValueError, KeyError) as exc:
        raise SuiteError(f"{src}: [train]/[suite]: {exc}") from None
    frames = raw.get("frames", {})
    datasets = raw.get("datasets")
    models = raw.get("models")
    if not isinstance(datasets, list) or not datasets:
        raise SuiteError(f'{src}: needs at least one [[datasets]] entry (name = "digits-dvs")')
    if not isinstance(models, list) or not models:
        raise SuiteError(f'{src}: needs at least one [[models]] entry (family = "snn-mlp")')
    skip = head.get("skip_missing", False)
    if not isinstance(skip, bool):
        raise SuiteError(f"{src}: [suite] skip_missing must be true or false")
    return Suite(
        name=str(name),
        description=str(head.get("description", "")),
        datasets=tuple(_dataset(i, d, frames, src) for i, d in enumerate(datasets)),
        models=tuple(_model(i, m, src) for i, m in enumerate(models)),
        lambdas=_lambdas(head.get("lambdas", list(DEFAULT_LAMBDAS)), src),
        seeds=_seeds(head.get("seeds", DEFAULT_SEEDS), src),
        train=train,
        skip_missing=skip,
        source=source,
        modules=modules,
        keep_checkpoints=keep,
        margin=margin,
    )


def suites_dirs() -> list[Path]:
    """Folders searched for suites given by name: ./benchmarks/suites, then the package's."""
    from spikeenergy.resources import suites_dir

    return [Path.cwd() / "benchmarks" / "suites", suites_dir()]


def find_suite(name_or_path: str | Path) -> Path:
    """A suite file: an existing path, or ``NAME`` -> ``NAME.toml`` in :func:`suites_dirs`."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    if p.suffix == "" and len(p.parts) == 1:
        for folder in suites_dirs():
            cand = folder / f"{p}.toml"
            if cand.is_file():
                return cand
    searched = ", ".join(str(d) for d in suites_dirs())
    raise FileNotFoundError(
        f"suite {str(name_or_path)!r} not found: not a file, and no {p.name}.toml in {searched}"
    )


def load_suite(name_or_path: str | Path) -> Suite:
    """Read and validate a suite TOML file (a path, or the name of a shipped suite)."""
    path = find_suite(name_or_path)
    return suite_from_dict(read_toml(path, "suite", SuiteError), str(path))
