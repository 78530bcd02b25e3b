"""Spiking and dense models behind one protocol: frames ``(T, B, *input_shape)`` -> logits.

Every model is a :class:`SpikeEnergyModel` built by :func:`build_model` from a frozen
:class:`~spikeenergy.models.spec.ModelSpec`; the layers are plain ``nn.Linear`` / ``nn.Conv2d`` /
``nn.ReLU`` / ``nn.GRU`` modules and the libraries' own neuron modules, so the activity recorder
finds them through its adapter table. Each forward call starts from rest (explicit zero state).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from spikeenergy.models.families import MODEL_FAMILIES, ModelFamily
from spikeenergy.models.fast.engine import SequenceListener, has_foreign_hooks, spiking_forward
from spikeenergy.models.fast.lif import LIFConfig
from spikeenergy.models.fast.projection import dense_input
from spikeenergy.models.neurons import NeuronDriver, build_neuron
from spikeenergy.models.spec import ModelSpec


class SpikeEnergyModel(nn.Module):
    """Base of all models: ``forward(x: (T, B, *input_shape)) -> (B, num_classes)`` logits.

    Attributes ``spec``, ``input_shape`` and ``num_classes`` are all that is needed (with the
    ``state_dict``) to rebuild the model: see :meth:`checkpoint_meta` and :func:`model_from_meta`.
    """

    def __init__(self, spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__()
        input_shape = tuple(int(s) for s in input_shape)
        if not input_shape or any(s <= 0 for s in input_shape):
            raise ValueError(f"input_shape={input_shape} must be a non-empty tuple of sizes > 0")
        if num_classes < 2:
            raise ValueError(f"num_classes={num_classes} must be >= 2")
        self.spec = spec
        self.input_shape = input_shape
        self.num_classes = int(num_classes)

    @property
    def is_spiking(self) -> bool:
        """True when the hidden units are spiking neurons."""
        return self.spec.is_spiking

    def reset_state(self) -> None:
        """Release any state cached by library modules; forward always starts from rest anyway."""
        for m in self.modules():
            reset_mem = getattr(m, "reset_mem", None)  # snnTorch neurons cache their last state
            if callable(reset_mem) and m.__class__.__module__.startswith("snntorch"):
                reset_mem()

    def checkpoint_meta(self) -> dict[str, Any]:
        """JSON-friendly dict (spec, input_shape, num_classes) that rebuilds this architecture."""
        return {
            "spec": self.spec.to_dict(),
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
        }

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 2 + len(self.input_shape) or tuple(x.shape[2:]) != self.input_shape:
            raise ValueError(
                f"expected time-major input (T, B, {', '.join(map(str, self.input_shape))}), "
                f"got shape {tuple(x.shape)}; transpose batch-first data with x.transpose(0, 1)"
            )
        if x.shape[0] < 1 or x.shape[1] < 1:
            raise ValueError(
                f"input needs T >= 1 time steps and B >= 1 samples, got {tuple(x.shape)}"
            )


def _conv_out_hw(h: int, w: int, spec: ModelSpec) -> tuple[int, int]:
    """Spatial size after one conv block (same-padded conv, then max-pool with stride = pool)."""
    return h // spec.pool, w // spec.pool


def _conv_front_end(
    spec: ModelSpec, input_shape: tuple[int, ...]
) -> tuple[nn.ModuleList, nn.Module, int]:
    """Conv layers, the pooling module and the flattened feature width after the conv blocks."""
    if len(input_shape) != 3:
        raise ValueError(
            f"family {spec.family!r} needs frames of shape (C, H, W), got input_shape="
            f"{input_shape}; use a family without a conv front end for vector inputs "
            f"({', '.join(n for n in MODEL_FAMILIES if not MODEL_FAMILIES.get(n).conv)})"
        )
    c, h, w = input_shape
    convs = nn.ModuleList()
    for out_c in spec.conv_channels:
        convs.append(nn.Conv2d(c, out_c, spec.kernel_size, padding=spec.kernel_size // 2))
        c = out_c
        h, w = _conv_out_hw(h, w, spec)
        if h < 1 or w < 1:
            raise ValueError(
                f"input {input_shape} is too small for {len(spec.conv_channels)} pooling "
                f"blocks of pool={spec.pool}; use fewer conv_channels or pool=1"
            )
    pool: nn.Module = nn.MaxPool2d(spec.pool) if spec.pool > 1 else nn.Identity()
    return convs, pool, c * h * w


class SpikingNet(SpikeEnergyModel):
    """Spiking MLP / CNN on snnTorch or Norse neurons (optionally recurrent hidden layers).

    Per step t: [conv_i -> conv_spk_i -> pool]* -> flatten -> [fc_i (+ fc_rec_i(spikes[t-1]))
    -> fc_spk_i]* -> readout (-> readout_spk for readout="spike_count").
    Logits: "membrane": mean over t of readout(spikes[t]); "spike_count": sum over t of output
    spikes.

    Engines (``spec.engine``): the fast engine (spikeenergy.models.fast) computes the same model
    layer by layer over all steps at once; it is used when the spec allows it and no module
    carries a forward hook other than the ActivityRecorder's (hook-based tools then see the
    library engine's per-step calls). Inputs may be sparse COO tensors (event frames).
    """

    def __init__(self, spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__(spec, input_shape, num_classes)
        self._drivers: dict[str, NeuronDriver] = {}
        if spec.family_record.conv:
            self.conv, self.pool, width = _conv_front_end(spec, self.input_shape)
            self.conv_spk = nn.ModuleList(
                self._neuron(f"conv_spk.{i}") for i in range(len(self.conv))
            )
        else:
            self.conv, self.pool, width = nn.ModuleList(), nn.Identity(), math.prod(input_shape)
            self.conv_spk = nn.ModuleList()
        self.fc = nn.ModuleList()
        self.fc_rec = nn.ModuleList()
        for h in spec.hidden:
            self.fc.append(nn.Linear(width, h))
            if spec.recurrent:
                self.fc_rec.append(nn.Linear(h, h, bias=False))
            width = h
        self.fc_spk = nn.ModuleList(self._neuron(f"fc_spk.{i}") for i in range(len(self.fc)))
        self.readout = nn.Linear(width, self.num_classes)
        self.readout_spk = self._neuron("readout_spk") if spec.readout == "spike_count" else None
        self._lif_config = LIFConfig.from_spec(spec.neuron, spec.backend)
        self._sequence_listeners: OrderedDict[int, SequenceListener] = OrderedDict()

    def add_sequence_listener(self, listener: SequenceListener) -> RemovableHandle:
        """Receive each layer's time-major activity from the fast engine; ``.remove()`` to stop.

        Called as ``listener(module, fields)`` with ``module`` the layer (nn.Linear / nn.Conv2d /
        neuron module) and ``fields`` mapping "inputs" or "spikes"/"membrane" to ``(T, B, ...)``
        tensors (or zero-argument callables making them). Used by the ActivityRecorder.
        """
        handle = RemovableHandle(self._sequence_listeners)
        self._sequence_listeners[handle.id] = listener
        return handle

    @property
    def engine(self) -> str:
        """The engine the next forward call uses: "fast" or "library"."""
        if self.spec.uses_fast_engine and not has_foreign_hooks(list(self.modules())[1:]):
            return "fast"
        return "library"

    def _neuron(self, name: str) -> nn.Module:
        neuron, driver = build_neuron(self.spec.neuron, self.spec.backend)
        self._drivers[name] = driver
        return neuron

    def forward(self, x: Tensor) -> Tensor:
        """(T, B, *input_shape) frames -> (B, num_classes) logits, starting from rest."""
        self._check_input(x)
        if self.engine == "fast":
            return spiking_forward(
                self, x, self._lif_config, tuple(self._sequence_listeners.values())
            )
        x = dense_input(x)
        n_conv, n_fc = len(self.conv), len(self.fc)
        conv_state: list[Any] = [None] * n_conv
        fc_state: list[Any] = [None] * n_fc
        fc_prev: list[Tensor | None] = [None] * n_fc  # spikes of step t-1 (recurrence)
        out_state: Any = None
        acc: Tensor | None = None
        for x_t in x.unbind(0):  # x_t: (B, *input_shape)
            h = x_t
            for i in range(n_conv):
                h, conv_state[i] = self._drivers[f"conv_spk.{i}"].step(
                    self.conv_spk[i], self.conv[i](h), conv_state[i]
                )  # (B, C_i, H, W)
                h = self.pool(h)  # (B, C_i, H / pool, W / pool)
            h = h.flatten(1)  # (B, F)
            for i in range(n_fc):
                cur = self.fc[i](h)  # (B, hidden_i)
                prev = fc_prev[i]
                if self.spec.recurrent and prev is not None:
                    cur = cur + self.fc_rec[i](prev)
                h, fc_state[i] = self._drivers[f"fc_spk.{i}"].step(self.fc_spk[i], cur, fc_state[i])
                fc_prev[i] = h
            out = self.readout(h)  # (B, num_classes)
            if self.readout_spk is not None:
                out, out_state = self._drivers["readout_spk"].step(self.readout_spk, out, out_state)
            acc = out if acc is None else acc + out
        assert acc is not None  # T >= 1 is checked by _check_input
        return acc / x.shape[0] if self.readout_spk is None else acc


class DenseNet(SpikeEnergyModel):
    """Dense (ReLU) MLP / CNN with the same widths as the spiking spec.

    time_mode "per_step": the network runs on every frame and logits are averaged over time;
    "sum": it runs once on the frames summed over time.
    """

    def __init__(self, spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__(spec, input_shape, num_classes)
        if spec.family_record.conv:
            self.conv, self.pool, width = _conv_front_end(spec, self.input_shape)
        else:
            self.conv, self.pool, width = nn.ModuleList(), nn.Identity(), math.prod(input_shape)
        self.conv_act = nn.ModuleList(nn.ReLU() for _ in self.conv)
        self.fc = nn.ModuleList()
        for h in spec.hidden:
            self.fc.append(nn.Linear(width, h))
            width = h
        self.fc_act = nn.ModuleList(nn.ReLU() for _ in self.fc)
        self.readout = nn.Linear(width, self.num_classes)

    def _frame(self, h: Tensor) -> Tensor:
        """(B, *input_shape) -> (B, num_classes) for one frame."""
        for conv, act in zip(self.conv, self.conv_act, strict=True):
            h = self.pool(act(conv(h)))  # (B, C_i, H / pool, W / pool)
        h = h.flatten(1)  # (B, F)
        for fc, act in zip(self.fc, self.fc_act, strict=True):
            h = act(fc(h))  # (B, hidden_i)
        return self.readout(h)

    def forward(self, x: Tensor) -> Tensor:
        """(T, B, *input_shape) frames -> (B, num_classes) logits."""
        self._check_input(x)
        x = dense_input(x)
        if self.spec.time_mode == "sum":
            return self._frame(x.sum(0))
        acc: Tensor | None = None
        for x_t in x.unbind(0):
            out = self._frame(x_t)
            acc = out if acc is None else acc + out
        assert acc is not None
        return acc / x.shape[0]


class GRUNet(SpikeEnergyModel):
    """Stacked GRU layers (one per hidden width) on flattened frames; logits from the last step."""

    def __init__(self, spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int) -> None:
        super().__init__(spec, input_shape, num_classes)
        width = math.prod(self.input_shape)
        self.gru = nn.ModuleList()
        for h in spec.hidden:
            self.gru.append(nn.GRU(width, h))  # time-major (batch_first=False)
            width = h
        self.readout = nn.Linear(width, self.num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """(T, B, *input_shape) frames -> (B, num_classes) logits."""
        self._check_input(x)
        h = dense_input(x).flatten(2)  # (T, B, F)
        for gru in self.gru:
            h, _ = gru(h)  # (T, B, hidden_i)
        return self.readout(h[-1])  # (B, num_classes)


ModelFactory = Callable[[ModelSpec, tuple[int, ...], int], SpikeEnergyModel]

# The built-in families: THE place their names and flags are written (see families.py).
# "auto" picks the fast engine only for the fully connected spiking net: batching T
# convolutions into one is not faster on CPU (benchmarks/perf, docs/performance.md).
MODEL_FAMILIES.add(
    "snn-mlp",
    ModelFamily(SpikingNet, spiking=True, dense_twin="mlp", fast_engine=True,
                auto_engine="fast", nir_exportable=True),
)  # fmt: skip
MODEL_FAMILIES.add(
    "snn-cnn",
    ModelFamily(SpikingNet, spiking=True, dense_twin="cnn", conv=True, fast_engine=True,
                nir_exportable=True),
)  # fmt: skip
MODEL_FAMILIES.add("mlp", ModelFamily(DenseNet, spiking=False))
MODEL_FAMILIES.add("cnn", ModelFamily(DenseNet, spiking=False, conv=True))
MODEL_FAMILIES.add("gru", ModelFamily(GRUNet, spiking=False, needs_hidden=True))


def build_model(
    spec: ModelSpec, input_shape: tuple[int, ...], num_classes: int
) -> SpikeEnergyModel:
    """Build the model for ``spec`` on per-step frames of ``input_shape`` with ``num_classes``."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"spec must be a ModelSpec, got {type(spec).__name__}")
    model = spec.family_record(spec, tuple(input_shape), num_classes)
    if not isinstance(model, SpikeEnergyModel):
        raise TypeError(
            f"the factory of family {spec.family!r} built a {type(model).__name__}; it must "
            "build a SpikeEnergyModel (forward((T, B, *input_shape)) -> (B, classes))"
        )
    return model


def model_from_meta(
    meta: dict[str, Any], state_dict: dict[str, Tensor] | None = None
) -> SpikeEnergyModel:
    """Rebuild a model from :meth:`SpikeEnergyModel.checkpoint_meta` (and load ``state_dict``)."""
    model = build_model(
        ModelSpec.from_dict(meta["spec"]), tuple(meta["input_shape"]), int(meta["num_classes"])
    )
    if state_dict is not None:
        model.load_state_dict(state_dict)
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (to compare matched spiking and dense models)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "MODEL_FAMILIES",
    "DenseNet",
    "GRUNet",
    "SpikeEnergyModel",
    "SpikingNet",
    "build_model",
    "count_parameters",
    "model_from_meta",
]
