"""Layer-by-layer forward of a feed-forward SpikingNet: each layer runs over all T steps at once.

Per layer: one projection over the T * B rows (``linear_seq`` / ``conv_seq``; event-sparse input
goes through the sparse kernels of projection.py), then the fused LIF recurrence
(``lif_sequence``). The network's own modules hold the weights (same parameter
names and state_dict as the library engine); the backend neuron modules stay in the module tree
for the state_dict and the recorder's adapter table, but are not called.

Recording without hooks: the activity of every layer is handed, time-major, to the *sequence
listeners* registered on the model (``add_sequence_listener``), as
``listener(module, {"inputs": ...})`` for weight layers and
``listener(module, {"spikes": ..., "membrane": ...})`` for neuron layers, with ``module`` the
layer the library engine would have called. The ActivityRecorder is such a listener.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from torch import Tensor, nn

from spikeenergy.models.fast.lif import LIFConfig, lif_sequence
from spikeenergy.models.fast.projection import conv_seq, dense_input, linear_seq, per_step

#: Attribute set (True) on forward hooks that also listen to sequence emissions (the recorder's),
#: so the fast engine may skip calling the hooked module. Other hooks make the model fall back to
#: the library engine, which calls every module once per step as hook-based tools expect.
SEQUENCE_AWARE = "_spikeenergy_sequence_aware"

#: A field value is a tensor or a zero-argument callable making it (built only when requested).
Field = Tensor | Callable[[], Tensor]
SequenceListener = Callable[[nn.Module, Mapping[str, Field]], None]


def has_foreign_hooks(modules: Iterable[nn.Module]) -> bool:
    """True when any module has a forward (pre-)hook that is not sequence aware."""
    for m in modules:
        for hook in (*m._forward_hooks.values(), *m._forward_pre_hooks.values()):
            if not getattr(hook, SEQUENCE_AWARE, False):
                return True
    return False


class _Emitter:
    """Send one layer's activity to every listener (no-op without listeners)."""

    def __init__(self, listeners: Iterable[SequenceListener]) -> None:
        self.listeners = tuple(listeners)

    def __call__(self, module: nn.Module, **fields: Field) -> None:
        for listener in self.listeners:
            listener(module, fields)


def _dense_flat(x: Tensor) -> Tensor:
    """Sparse (T, B, *frame) -> dense (T, B, F), as the library engine's fc layer input."""
    return x.to_dense().flatten(2)


def spiking_forward(
    net: Any, x: Tensor, config: LIFConfig, listeners: Iterable[SequenceListener] = ()
) -> Tensor:
    """(T, B, *input_shape) frames (dense or sparse COO) -> (B, num_classes) logits.

    ``net`` is a :class:`~spikeenergy.models.networks.SpikingNet` (its layer modules are read).
    """
    emit = _Emitter(listeners)
    steps = x.shape[0]
    h = x
    for conv, neuron in zip(net.conv, net.conv_spk, strict=True):
        # sparse events (first layer): an event scatter; densified only if a listener records it
        emit(conv, inputs=functools.partial(dense_input, h) if h.is_sparse else h)
        spk, mem = lif_sequence(conv_seq(h, conv), config)  # (T, B, C, H, W)
        emit(neuron, spikes=spk, membrane=mem)
        h = per_step(net.pool, spk)  # (T, B, C, H / pool, W / pool)
    if not h.is_sparse:
        h = h.flatten(2)  # (T, B, F)
    for fc, neuron in zip(net.fc, net.fc_spk, strict=True):
        # a sparse input is densified only if a listener records it
        emit(fc, inputs=functools.partial(_dense_flat, h) if h.is_sparse else h)
        spk, mem = lif_sequence(linear_seq(h, fc), config)  # (T, B, hidden)
        emit(neuron, spikes=spk, membrane=mem)
        h = spk
    emit(net.readout, inputs=h)
    out = linear_seq(h, net.readout)  # (T, B, num_classes)
    if net.readout_spk is None:
        return out.sum(0) / steps
    spk, mem = lif_sequence(out, config)
    emit(net.readout_spk, spikes=spk, membrane=mem)
    return spk.sum(0)
