"""Modulatory "glial" population that gates the gains of a model's hidden layers (a wrapper).

Each gated hidden layer of width H gets M = max(1, round(ratio * H)) glial units; neuron j
belongs to glial unit j mod M. Per time step t (time-major models call their nonlinearity once
per step):

    g_k[t]   = 2 * sigmoid(w_k * (target_k - a_k[t-1]))       (gain of glial unit k; 1 at init)
    I_j[t]  <- g_{k(j)}[t] * I_j[t]                            (input current of neuron j)
    a_k[t]   = rho * a_k[t-1] + (1 - rho) * mean_{j in k} s_j[t]   (slow activity average)

with a_k[-1] = target_k, learnable w (initialised to 0, so the wrapped model starts identical to
the bare one) and target; ``rho`` sets the slowness (time constant -1 / ln rho steps). High
activity above target lowers the gain for w > 0 (homeostasis); training may choose either sign.

The wrapper adds one forward pre-hook (the gain) and one forward hook per gated layer; the
forward hook calls the layer's :class:`GlialGate` as a module once per step, so the activity
recorder (and hence the energy ledger) sees the glial population like any other layer: its
synapses from the neurons (one per neuron, driven by their spikes), its units (M updates per
step) and the gain multiplications (one per neuron and step, driven by the gains).
:meth:`GlialGating.unwrap` removes the hooks. The hooks need per-step neuron calls, so a spiking
model must run on the library engine (``ModelSpec(engine="library")``); a model that would run
the fast engine is refused instead of being switched silently.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle


class GlialGate(nn.Module):
    """The glial units of one layer of ``width`` neurons: state, gains and their update."""

    assign: Tensor
    members: Tensor
    in_mask: Tensor
    gain_mask: Tensor

    def __init__(self, width: int, ratio: float, rho: float = 0.9, target: float = 0.1) -> None:
        super().__init__()
        if not 0 < ratio <= 1:
            raise ValueError(f"glia ratio={ratio} must be in (0, 1] (glial units per neuron)")
        if not 0 <= rho < 1:
            raise ValueError(f"rho={rho} must be in [0, 1) (per-step decay of the average)")
        self.width = int(width)
        self.n_glia = max(1, round(ratio * width))
        self.rho = float(rho)
        assign = torch.arange(self.width) % self.n_glia
        self.register_buffer("assign", assign, persistent=False)
        self.register_buffer(
            "members", torch.bincount(assign, minlength=self.n_glia).float(), persistent=False
        )
        one_hot = torch.nn.functional.one_hot(assign, self.n_glia).float()  # (H, M)
        # synapse masks for the ledger: neuron j -> its glial unit; unit k -> its members' gains
        self.register_buffer("in_mask", one_hot.T.contiguous(), persistent=False)  # (M, H)
        self.register_buffer("gain_mask", one_hot, persistent=False)  # (H, M)
        self.weight = nn.Parameter(torch.zeros(self.n_glia))
        self.target = nn.Parameter(torch.full((self.n_glia,), float(target)))
        self.avg: Tensor | None = None  # (B, M) slow averages; None = start of a sequence

    def reset(self) -> None:
        """Forget the activity history (called at the start of every forward pass)."""
        self.avg = None

    def unit_gains(self, batch: int) -> Tensor:
        """Gains of the glial units (B, M) from the current slow averages."""
        avg = self.avg if self.avg is not None else self.target.expand(batch, -1)
        return 2.0 * torch.sigmoid(self.weight * (self.target - avg))  # (B, M)

    def gains(self, batch: int) -> Tensor:
        """Per-neuron gains (B, H) from the current slow averages."""
        return self.unit_gains(batch)[:, self.assign]  # (B, H)

    def forward(self, activity: Tensor) -> Tensor:
        """One step: the unit gains (B, M) applied at this step; then observe ``activity``."""
        applied = self.unit_gains(activity.shape[0])
        self.observe(activity)
        return applied

    def observe(self, activity: Tensor) -> None:
        """Update the slow averages from this step's activity (B, H)."""
        act = activity.reshape(activity.shape[0], self.width)
        means = torch.zeros(act.shape[0], self.n_glia, dtype=act.dtype, device=act.device)
        means = means.index_add(1, self.assign, act) / self.members  # (B, M)
        prev = self.avg if self.avg is not None else self.target.expand(act.shape[0], -1)
        self.avg = self.rho * prev + (1.0 - self.rho) * means


def _gated_layers(model: nn.Module) -> list[tuple[nn.Module, int]]:
    """(nonlinearity module, width) of every fully connected hidden layer of a package model."""
    fc = getattr(model, "fc", None)
    acts = getattr(model, "fc_spk", None)
    if acts is None or len(acts) == 0:
        acts = getattr(model, "fc_act", None)
    if fc is None or acts is None or len(acts) != len(fc):
        raise TypeError(
            f"{type(model).__name__} has no fully connected hidden layers (fc + fc_spk/fc_act) "
            "to gate; use a SpikingNet or DenseNet model (built by a ModelSpec) with hidden widths"
        )
    return [(act, int(lin.out_features)) for lin, act in zip(fc, acts, strict=True)]


class GlialGating(nn.Module):
    """Wrap a model: glial units gate each hidden layer's input gain from slow activity averages.

    ``forward(x: (T, B, ...)) -> logits`` like the wrapped model (same protocol).
    """

    def __init__(
        self, model: nn.Module, ratio: float, rho: float = 0.9, target: float = 0.1
    ) -> None:
        super().__init__()
        spec = getattr(model, "spec", None)
        if spec is not None and getattr(spec, "uses_fast_engine", False):
            raise ValueError(
                "glial gating hooks the per-step neuron calls, which the fast engine does not "
                "make; build the model with ModelSpec(..., engine='library')"
            )
        self.model = model
        self.ratio = float(ratio)
        layers = _gated_layers(model)
        gates = [GlialGate(w, ratio, rho, target) for _, w in layers]
        self.gates = nn.ModuleList(gates)
        self._handles: list[RemovableHandle] = []
        for (module, _), gate in zip(layers, gates, strict=True):
            self._handles.append(module.register_forward_pre_hook(self._pre_hook(gate)))
            self._handles.append(module.register_forward_hook(self._post_hook(gate)))

    @staticmethod
    def _pre_hook(gate: GlialGate) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
            cur = args[0]  # (B, H) input current of this step
            return (cur * gate.gains(cur.shape[0]), *args[1:])

        return hook

    @staticmethod
    def _post_hook(gate: GlialGate) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
            out = output[0] if isinstance(output, tuple) else output  # spikes or activations
            gate(out)  # a module call: the recorder sees the glial population

        return hook

    def unwrap(self) -> nn.Module:
        """Remove the hooks and return the bare model (the gates stop acting on it)."""
        for h in self._handles:
            h.remove()
        self._handles = []
        return self.model

    def forward(self, x: Tensor) -> Tensor:
        """(T, B, ...) -> (B, num_classes); glial state starts from rest every call."""
        for g in self._gate_list():
            g.reset()
        return self.model(x)

    @property
    def n_glia(self) -> int:
        """Total number of glial units."""
        return sum(g.n_glia for g in self._gate_list())

    def _gate_list(self) -> list[GlialGate]:
        return [g for g in self.gates if isinstance(g, GlialGate)]


def time_constant_steps(rho: float) -> float:
    """Time constant in steps of the slow average: -1 / ln(rho)."""
    return math.inf if rho >= 1 else (0.0 if rho == 0 else -1.0 / math.log(rho))


__all__ = ["GlialGate", "GlialGating", "time_constant_steps"]
