"""Synaptic-operation counting as NeuroBench defines it, on top of the shared energy kernels.

Effective ops (NeuroBench ``Effective_ACs`` / ``Effective_MACs``): for every call of a weight
layer, the ops whose input is non-zero *and* whose weight is non-zero (pruned synapses do no
work); ``Dense``: every synapse of every call, zero weights included. A call whose inputs are
all in {-1, 0, 1} is charged as accumulates (ACs), any other call as multiply-accumulates (MACs).
The event-count policy decides how a call with values > 1 (event-count frames) is treated; see
:data:`POLICIES` and docs/metrics.md.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from spikeenergy.energy import kernels as K
from spikeenergy.record import LayerActivity

#: "neurobench": one call of a layer (one time step, the whole batch) is AC only if every input
#:   in it is in {-1, 0, 1}, exactly NeuroBench's rule (the result can depend on batching);
#: "per_sample": the same rule per (step, sample), so results do not depend on the batching;
#: "events": a (step, sample) of integer values (event counts) is charged |value| ACs per
#:   synapse, one per event, as an event-driven chip receiving k spikes would; non-integer
#:   inputs are MACs.
POLICIES = ("neurobench", "per_sample", "events")


def check_policy(policy: str) -> str:
    """Return ``policy`` or raise a ValueError listing the allowed ones."""
    if policy not in POLICIES:
        raise ValueError(f"event-count policy {policy!r}; use one of {', '.join(POLICIES)}")
    return policy


def ac_mask(inputs: Tensor, policy: str) -> Tensor:
    """Boolean mask, broadcastable to ``inputs`` (T, B, ...), of the entries charged as ACs."""
    check_policy(policy)
    if policy == "events":
        ok = inputs == torch.round(inputs)
    else:
        ok = (inputs == 0) | (inputs == 1) | (inputs == -1)
    t, b = inputs.shape[0], inputs.shape[1]
    tail = (1,) * (inputs.dim() - 2)
    if policy == "neurobench":
        return ok.reshape(t, -1).all(1).reshape(t, 1, *tail)  # (T, 1, 1...)
    return ok.reshape(t, b, -1).all(2).reshape(t, b, *tail)  # (T, B, 1...)


def _masked_linear_ops(nnz_per_input: Tensor, a: Tensor) -> Tensor:
    # sum_i a_i * (number of non-zero weights input i drives)
    return (a.reshape(-1, a.shape[-1]).sum(0) * nnz_per_input.to(a.dtype)).sum()


def _masked_conv_ops(conv: nn.Conv1d | nn.Conv2d, dims: int, mask: Tensor, a: Tensor) -> Tensor:
    # sum_i a_i * fan_out_i over non-zero weights only = sum(conv(a, [W != 0])), by linearity
    a1 = a.reshape(-1, *a.shape[-(dims + 1) :]).sum(0, keepdim=True)  # (1, C, *spatial)
    fn = F.conv1d if dims == 1 else F.conv2d
    y = fn(a1, mask.to(a.dtype), None, conv.stride, conv.padding, conv.dilation, conv.groups)
    return y.sum()


def effective_counter(act: LayerActivity) -> K.OpCounter:
    """The op counter of a connection layer restricted to its non-zero weights.

    Equal to the recorder's ``count_ops`` (returned as is) when no weight is exactly zero, which
    is the usual case; pruned weights are excluded as NeuroBench's binary weight copy does.
    """
    if act.count_ops is None:
        raise ValueError(f"layer {act.name!r} has no op counter (not a connection layer)")
    m = act.module
    w: Tensor
    if isinstance(m, nn.Linear):
        w = m.weight
    elif isinstance(m, nn.GRU):
        w = m.weight_ih_l0  # type: ignore[assignment]  # input-to-hidden only, like the recorder's counter
    elif isinstance(m, nn.Conv1d | nn.Conv2d):
        w = m.weight
    else:
        return act.count_ops
    nz = w.detach() != 0
    if bool(nz.all()):
        return act.count_ops
    if isinstance(m, nn.Conv1d | nn.Conv2d):
        return functools.partial(_masked_conv_ops, m, 1 if isinstance(m, nn.Conv1d) else 2, nz)
    return functools.partial(_masked_linear_ops, nz.sum(0))  # (in_features,)


def split_ops(act: LayerActivity, policy: str) -> dict[str, float]:
    """Sums over one recorded batch of one connection layer (not yet divided by B).

    Keys: ``effective_acs``, ``effective_macs``, ``dense_acs``, ``dense_macs``, ``dense_ops``
    (= dense_acs + dense_macs, NeuroBench "Dense") and ``synops`` (|input| x fan-out, the value
    of the training term :class:`~spikeenergy.energy.SynapticOps`).
    """
    if act.inputs is None or act.count_ops is None:
        raise ValueError(f"layer {act.name!r} recorded no inputs; record with needs={{'inputs'}}")
    x = act.inputs.detach().to(torch.float64)  # float64: exact integer counts up to 2**53
    dense = act.count_ops
    eff = effective_counter(act)
    m = ac_mask(x, policy).to(x.dtype)
    ones = torch.ones_like(x)
    x_ac, x_mac = x * m, x * (1 - m)
    if policy == "events":
        acs = K.synaptic_ops(x_ac, eff)  # one AC per event per synapse
    else:
        acs = K.nonzero_ops(x_ac, eff)
    return {
        "effective_acs": float(acs),
        "effective_macs": float(K.nonzero_ops(x_mac, eff)),
        "dense_acs": float(K.nonzero_ops(ones * m, dense)),
        "dense_macs": float(K.nonzero_ops(ones * (1 - m), dense)),
        "dense_ops": float(K.dense_ops(x, dense)),
        "synops": float(K.synaptic_ops(x, dense)),
    }
