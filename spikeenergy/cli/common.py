"""Argument groups shared by commands (data, model, training) and their conversion to configs.

The parsers read only light modules (no torch, no data stack), so that ``spikeenergy train
--help`` answers at once; the configs are built, and the heavy modules imported, when a command
runs.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

# the options every command shares live in a module that imports no torch (fast --help); they
# stay importable from here
from spikeenergy.cli.options import (  # noqa: F401
    add_dataset_option_arg,
    add_module_arg,
    module_specs,
    parse_dataset_options,
)
from spikeenergy.energy.cost_models import DEFAULT_TARGET
from spikeenergy.models.spec import ModelSpec, NeuronSpec
from spikeenergy.train.config import OPTIMIZERS, SCHEDULES, TrainConfig

if TYPE_CHECKING:
    from spikeenergy.data.prepare import DataConfig

#: the model families and neuron backends registered by spikeenergy itself, named in the help
#: of ``--family`` and ``--backend`` without importing torch (a test keeps them equal to the
#: registries); a ``--module`` may register more
BUILTIN_FAMILIES = ("snn-mlp", "snn-cnn", "mlp", "cnn", "gru")
BUILTIN_BACKENDS = ("snntorch", "norse")


def add_data_args(p: argparse.ArgumentParser) -> None:
    """--dataset, --data-root, --download, --time-bins, ... ."""
    g = p.add_argument_group("data")
    g.add_argument("--dataset", default="digits-dvs", help="registered dataset name")
    g.add_argument("--data-root", default=None, help="data root (else $SPIKEENERGY_DATA)")
    g.add_argument("--download", action="store_true", help="allow downloading missing files")
    g.add_argument(
        "--n-time-bins",
        "--time-bins",
        dest="time_bins",
        type=int,
        default=25,
        help="frames per sample (the suite key n_time_bins)",
    )
    g.add_argument("--binarize", action="store_true", help="clip event counts to {0, 1}")
    g.add_argument("--downsample", type=float, default=None, help="spatial factor in (0, 1]")
    g.add_argument("--train-per-class", type=int, default=None, help="cap training samples")
    g.add_argument("--test-per-class", type=int, default=None, help="cap test samples")
    g.add_argument("--val-fraction", type=float, default=0.1)
    g.add_argument(
        "--sparse", action="store_true", help="sparse COO frames (fast engine's sparse kernels)"
    )
    g.add_argument(
        "--augment-shift", type=int, default=0, help="random +-pixel shift of training frames"
    )


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model, --backend, --hidden, neuron parameters."""
    g = p.add_argument_group("model")
    g.add_argument(
        "--family",
        "--model",
        dest="model",
        metavar="FAMILY",
        default="snn-mlp",
        help=f"model family (the suite key family): {', '.join(BUILTIN_FAMILIES)}, or one that "
        "a --module registers",
    )
    g.add_argument(
        "--backend",
        metavar="BACKEND",
        default="snntorch",
        help=f"neuron library of spiking families: {', '.join(BUILTIN_BACKENDS)}, or one that a "
        "--module registers",
    )
    g.add_argument("--hidden", type=int, nargs="+", default=[128])
    g.add_argument(
        "--conv-channels",
        "--channels",
        dest="channels",
        type=int,
        nargs="+",
        default=[16, 32],
        help="conv channels (the suite key conv_channels)",
    )
    g.add_argument("--neuron", default="leaky", help="leaky | synaptic (lif, lifbox aliases)")
    g.add_argument("--beta", type=float, default=0.9, help="membrane decay per step")
    g.add_argument("--threshold", type=float, default=1.0)
    g.add_argument("--reset", default="subtract", choices=("subtract", "zero"))
    g.add_argument("--recurrent", action="store_true")
    g.add_argument("--readout", default="membrane", choices=("membrane", "spike_count"))
    g.add_argument("--time-mode", default="per_step", choices=("per_step", "sum"))


def _grad_clip(text: str) -> float | None:
    """``--grad-clip`` value: a positive number, or ``none`` (no clipping)."""
    if text.strip().lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'none'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be > 0 (or 'none' to disable clipping)")
    return value


def add_train_args(p: argparse.ArgumentParser) -> None:
    """--epochs, --lr, --lam, --energy, --seed, --device, ..."""
    d = TrainConfig()  # the defaults are the library's (a suite's [train] table, unset)
    g = p.add_argument_group("training (the names of a suite's [train] keys)")
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--batch-size", type=int, default=d.batch_size)
    g.add_argument("--lr", type=float, default=d.lr, help="learning rate")
    g.add_argument("--optimizer", default=d.optimizer, choices=OPTIMIZERS)
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument(
        "--schedule",
        default=d.schedule,
        choices=SCHEDULES,
        help="learning-rate schedule over the epochs",
    )
    g.add_argument(
        "--step-size", type=int, default=d.step_size, help="schedule=step: epochs between decays"
    )
    g.add_argument(
        "--gamma", type=float, default=d.gamma, help="schedule=step: learning-rate decay factor"
    )
    g.add_argument(
        "--grad-clip",
        type=_grad_clip,
        default=d.grad_clip,
        help="max gradient norm; 'none' disables clipping",
    )
    g.add_argument(
        "--lam", type=float, default=0.0, help="energy weight lambda (1/pJ for the joules term)"
    )
    g.add_argument(
        "--energy", default=d.energy, help="energy term name (joules, spike-rate, membrane, ...)"
    )
    g.add_argument(
        "--energy-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument of the energy term, repeatable (the [train] key energy_options); "
        "VALUE is read as TOML",
    )
    g.add_argument(
        "--target",
        default=DEFAULT_TARGET,
        help="cost model of the joules term and of the reported energy",
    )
    g.add_argument(
        "--prune-below",
        type=float,
        default=None,
        help="remove synapses below this fraction of the mean |weight| after each epoch",
    )
    g.add_argument(
        "--metric",
        default="accuracy",
        help="task metric that selects the checkpoint on validation (accuracy, "
        "balanced_accuracy, macro_f1, or one registered by a --module); ties go to the later "
        "epoch",
    )
    g.add_argument(
        "--class-weights",
        default=None,
        choices=("balanced",),
        help="weight the cross-entropy by inverse class frequency (imbalanced tasks)",
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--patience", type=int, default=None, help="early-stopping patience")
    g.add_argument("--target-accuracy", type=float, default=None)
    g.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: CUDA if present)")


#: device types the commands accept (``--device``)
DEVICE_TYPES = ("cpu", "cuda", "mps")


def check_device(name: str | None) -> str | None:
    """``--device`` checked where it enters: a known type that this machine has, else a
    ValueError naming the fix (instead of a torch error deep inside a run)."""
    if name is None:
        return None
    import torch

    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"--device {name!r} is not a device; use {', '.join(DEVICE_TYPES)} or cuda:N"
        ) from None
    if dev.type not in DEVICE_TYPES:
        raise ValueError(f"--device {name!r}: use one of {', '.join(DEVICE_TYPES)} or cuda:N")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            why = "torch is built without CUDA" if torch.version.cuda is None else "no GPU found"
            raise ValueError(
                f"--device {name}: CUDA is not available on this machine ({why}, torch "
                f"{torch.__version__}); use --device cpu"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"--device {name}: this machine has {count} GPU(s), cuda:0..")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"--device {name}: MPS is not available on this machine; use cpu")
    return name


def data_config(a: argparse.Namespace) -> DataConfig:
    """DataConfig from parsed arguments."""
    from spikeenergy.data.frames import FrameConfig
    from spikeenergy.data.prepare import DataConfig
    from spikeenergy.data.registry import check_dataset_options

    frames = FrameConfig(
        n_time_bins=a.time_bins, binarize=a.binarize, downsample=a.downsample, sparse=a.sparse
    )
    options = parse_dataset_options(getattr(a, "dataset_option", None) or [])
    if a.download:
        if options.get("download", True) is not True:
            raise ValueError("--download contradicts --dataset-option download=false")
        options["download"] = True
    check_dataset_options(a.dataset, options)
    return DataConfig(
        name=a.dataset,
        root=a.data_root,
        options=options,
        frames=frames,
        val_fraction=a.val_fraction,
        train_per_class=a.train_per_class,
        test_per_class=a.test_per_class,
        augment_shift=a.augment_shift,
    )


def model_spec(a: argparse.Namespace) -> ModelSpec:
    """ModelSpec from parsed arguments."""
    neuron = NeuronSpec(model=a.neuron, beta=a.beta, threshold=a.threshold, reset=a.reset)
    return ModelSpec(
        family=a.model,
        hidden=tuple(a.hidden),
        conv_channels=tuple(a.channels),
        backend=a.backend,
        recurrent=a.recurrent,
        readout=a.readout,
        time_mode=a.time_mode,
        neuron=neuron,
    )


def train_config(a: argparse.Namespace) -> TrainConfig:
    """TrainConfig from parsed arguments (the metric must be registered)."""
    from spikeenergy.train.scores import task_metric

    task_metric(a.metric)
    return TrainConfig(
        epochs=a.epochs,
        batch_size=a.batch_size,
        lr=a.lr,
        optimizer=a.optimizer,
        weight_decay=a.weight_decay,
        schedule=a.schedule,
        step_size=a.step_size,
        gamma=a.gamma,
        grad_clip=a.grad_clip,
        energy_options=parse_dataset_options(
            a.energy_option, flag="--energy-option", example="weight_grad=false"
        ),
        lam=a.lam,
        energy=a.energy,
        target=a.target,
        prune_below=a.prune_below,
        seed=a.seed,
        patience=a.patience,
        target_accuracy=a.target_accuracy,
        metric=a.metric,
        class_weights=a.class_weights,
        device=check_device(a.device),
    )
