"""The LIF recurrence over a whole sequence as one autograd Function with a hand-written backward.

``lif_sequence(current, config)`` takes input currents for all time steps ``(T, B, ...)`` (from one
time-batched matmul or convolution) and returns ``(spikes, membrane)`` of the same shape. The
forward replays, operation by operation in the same floating-point order, the update of the
library neuron named by :class:`LIFConfig` (snnTorch ``Leaky`` / ``Synaptic``, Norse ``LIFBoxCell``
/ ``LIFCell`` as the spikeenergy backends call them, see docs/models.md), so spikes and membrane
are bit-identical to the library given the same currents. The backward is a reverse linear scan:
the surrogate derivative and every per-step coefficient are computed once over the whole
``(T, B, ...)`` tensor, the loop then does one fused multiply-add per step (two for synaptic).

Derivation (x[t] = membrane - threshold, s' = surrogate derivative at x[t]):

snnTorch (reset delayed one step and always detached, r[t] = spikes[t-1], k[t] = 1 - r[t])::

    leaky    m[t] = beta*m[t-1] + c[t] - th*r[t]          (subtract)
             m[t] = beta*k[t]*m[t-1] + c[t]                (zero)
    synaptic y[t] = alpha*y[t-1] + c[t];  m[t] = beta*m[t-1] + y[t] - th*r[t]   (subtract)
             m[t] = k[t] * (beta*m[t-1] + y[t])                               (zero)
    dm[t] = g_m[t] + g_s[t]*s'[t] + beta*(k[t+1] | 1)*dm[t+1]
    dy[t] = (k[t] | 1)*dm[t] + alpha*dy[t+1];   dc = dm (leaky) or dy (synaptic)

Norse (v[t] returned after the reset of the same step; z[t] = spikes[t]; tau = 1 - beta)::

    leaky    vd[t] = v[t-1] + tau*(c[t] - v[t-1])
    synaptic i'[t] = i[t-1] + c[t];  vd[t] = v[t-1] + tau_m*(i'[t] - v[t-1]);
             i[t] = i'[t] - tau_s*i'[t]
    v[t] = vd[t] - th*z[t] (subtract) or (1 - z[t])*vd[t] (zero)
    P[t] = dv/dvd + dv/dz*s'  (dv/dz = -th or -vd[t]; 0 when the reset is detached)
    D[t] = P[t]*(g_v[t] + (1-tau_m)*D[t+1]) + g_z[t]*s'[t]
    dc = tau*D (leaky);  G[t] = tau_m*D[t] + (1-tau_s)*G[t+1], dc = G (synaptic)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from spikeenergy.models.families import surrogate as surrogate_record
from spikeenergy.models.neurons import input_gain
from spikeenergy.models.spec import NeuronSpec

SEMANTICS = ("snntorch", "norse")


def _f32(value: float) -> float:
    """``value`` rounded to float32, as the libraries store their constants (0-dim f32 buffers)."""
    return float(torch.tensor(value, dtype=torch.float32))


def _f32_one_minus(value: float) -> float:
    """``1 - value`` computed in float32, as Norse's ``1.0 - torch.as_tensor(value)``."""
    return float(1.0 - torch.tensor(value, dtype=torch.float32))


@dataclass(frozen=True)
class LIFConfig:
    """Constants of one fused LIF layer, rounded exactly as the library neuron rounds them.

    ``semantics`` picks whose update is replayed: "snntorch" (``Leaky`` / ``Synaptic``: reset
    delayed one step and detached, pre-reset membrane returned) or "norse" (``LIFBoxCell`` /
    ``LIFCell`` with dt = 1: reset in the same step, post-reset membrane returned).
    ``input_gain`` multiplies the current first (Norse: 1 / (1 - beta), see NeuronDriver).
    """

    semantics: str
    kind: str
    reset: str
    detach_reset: bool
    surrogate: str
    slope: float
    threshold: float
    beta: float = 0.0
    alpha: float = 0.0
    tau_mem: float = 0.0
    tau_syn: float = 0.0
    input_gain: float = 1.0

    def __post_init__(self) -> None:
        if self.semantics not in SEMANTICS:
            raise ValueError(f"semantics={self.semantics!r}; use one of {', '.join(SEMANTICS)}")
        if self.semantics == "snntorch" and not self.detach_reset:
            raise ValueError("snnTorch semantics always detach the reset; use detach_reset=True")

    @classmethod
    def from_spec(cls, spec: NeuronSpec, backend: str) -> LIFConfig:
        """The constants the ``backend`` neuron built from ``spec`` uses (see neurons.py)."""
        common = dict(
            kind=spec.kind,
            reset=spec.reset,
            surrogate=spec.surrogate,
            slope=float(spec.slope),
            threshold=_f32(spec.threshold),
        )
        if backend == "snntorch":
            return cls(
                "snntorch",
                detach_reset=True,
                beta=_f32(spec.beta),
                alpha=_f32(spec.alpha),
                **common,  # type: ignore[arg-type]
            )
        if backend == "norse":
            return cls(
                "norse",
                detach_reset=bool(spec.detach_reset),
                tau_mem=_f32_one_minus(spec.beta),
                tau_syn=_f32_one_minus(spec.alpha),
                input_gain=input_gain(spec, "norse"),
                **common,  # type: ignore[arg-type]
            )
        raise ValueError(f"backend={backend!r}; use one of {', '.join(SEMANTICS)}")


# --------------------------------------------------------------------------- surrogates


def surrogate_grad(x: Tensor, surrogate: str, slope: float, semantics: str) -> Tensor:
    """d spike / d x of the surrogate at ``x = membrane - threshold`` (the libraries' formulas,
    from the surrogate's record; e.g. Norse's SuperSpike ignores the slope: 1 / (|x| + 1)^2)."""
    entry = surrogate_record(surrogate)
    return entry.grad(x, entry.slope_for(slope, semantics))


def _smooth_step(x: Tensor, surrogate: str, slope: float, semantics: str) -> Tensor:
    """A smooth function whose derivative is the surrogate (test mode for gradcheck)."""
    entry = surrogate_record(surrogate)
    return entry.smooth(x, entry.slope_for(slope, semantics))


# --------------------------------------------------------------------------- forward


def _forward(
    c: Tensor, cfg: LIFConfig, relaxed: bool, use_numpy: bool = True
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run the recurrence; returns (spikes, membrane, saved membrane for s', reset signal).

    CPU tensors run the numpy twin of this loop (``use_numpy=False``: the torch loop, tests).
    """
    cpu = c.device.type == "cpu" and c.dtype in (torch.float32, torch.float64)
    if use_numpy and not relaxed and cpu:
        return _forward_numpy(c, cfg)
    th = cfg.threshold
    spk = torch.empty_like(c)
    mem = torch.empty_like(c)
    pre = mem if cfg.semantics == "snntorch" else torch.empty_like(c)  # x[t] = pre[t] - th
    rsig = torch.empty_like(c) if relaxed else spk
    cs, ss, ms, ps, rs = c.unbind(0), spk.unbind(0), mem.unbind(0), pre.unbind(0), rsig.unbind(0)
    tmp = torch.zeros_like(cs[0])
    tmp2 = torch.zeros_like(cs[0])
    state_a = torch.zeros_like(cs[0])  # synaptic current (y / i), rolling
    state_b = torch.zeros_like(cs[0])
    prev_m = torch.zeros_like(cs[0])
    prev_r: Tensor | None = None
    snn, syn, zero = cfg.semantics == "snntorch", cfg.kind == "synaptic", cfg.reset == "zero"
    for t in range(c.shape[0]):
        if snn:
            m = ms[t]
            if syn:
                y_new = state_b
                torch.mul(state_a, cfg.alpha, out=y_new)  # alpha * syn
                y_new.add_(cs[t])  # + input
                state_a, state_b = y_new, state_a
                torch.mul(prev_m, cfg.beta, out=m)  # beta * mem
                m.add_(y_new)  # + syn
                if prev_r is not None:
                    if zero:
                        m.addcmul_(m, prev_r, value=-1.0)  # mem - mem * reset
                    else:
                        m.sub_(prev_r, alpha=th)  # mem - reset * threshold
            else:
                torch.mul(prev_m, cfg.beta, out=tmp)  # beta * mem
                if zero and prev_r is not None:
                    tmp.addcmul_(tmp, prev_r, value=-1.0)  # (1 - reset) * mem, then * beta
                torch.add(tmp, cs[t], out=m)  # + input
                if not zero and prev_r is not None:
                    m.sub_(prev_r, alpha=th)  # - reset * threshold
            x_src = m
        else:
            vd = ps[t]
            if syn:
                i_new = state_b
                torch.add(state_a, cs[t], out=i_new)  # i + input
                torch.sub(i_new, prev_m, out=tmp)  # (v_leak - v) + i
                tmp.mul_(cfg.tau_mem)  # dt * tau_mem_inv * (...)
                torch.add(prev_m, tmp, out=vd)  # v + dv
                torch.mul(i_new, -cfg.tau_syn, out=tmp2)  # -dt * tau_syn_inv * i
                state_a, state_b = i_new.add_(tmp2), state_a  # i + di (decayed current)
            else:
                torch.sub(cs[t], prev_m, out=tmp)  # input + v_leak - v
                tmp.mul_(cfg.tau_mem)
                torch.add(prev_m, tmp, out=vd)
            x_src = vd
        if relaxed:
            x = x_src - th
            ss[t].copy_(_smooth_step(x, cfg.surrogate, cfg.slope, cfg.semantics))
            if snn or cfg.detach_reset:
                torch.gt(x_src, th, out=rs[t])
            else:
                rs[t].copy_(ss[t])
        else:
            torch.gt(x_src, th, out=ss[t])  # H(x - th) with H(0) = 0, as float
        if not snn:
            v = ms[t]
            if zero:
                torch.addcmul(x_src, x_src, rs[t], value=-1.0, out=v)  # (1 - z) * v + z * 0
            else:
                torch.sub(x_src, rs[t], alpha=th, out=v)  # (1 - z) * v + z * (v - th)
            prev_m = v
        else:
            prev_m = ms[t]
        prev_r = rs[t]
    return spk, mem, pre, rsig


def _forward_numpy(c: Tensor, cfg: LIFConfig) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The CPU recurrence with numpy ufuncs on the tensors' memory (no copies).

    The same elementwise operations, in the same order and precision, as the torch loop of
    :func:`_forward` (bit-identical results, tested); one numpy call costs about a microsecond
    against several for a torch call, which is what a loop over T steps of small tensors pays.
    """
    spk_t, mem_t = torch.empty_like(c), torch.empty_like(c)
    snn = cfg.semantics == "snntorch"
    pre_t = mem_t if snn else torch.empty_like(c)
    cs, ss, ms, ps = c.numpy(), spk_t.numpy(), mem_t.numpy(), pre_t.numpy()
    dt = cs.dtype.type
    beta, alpha, th = dt(cfg.beta), dt(cfg.alpha), dt(cfg.threshold)
    tau_mem, neg_tau_syn = dt(cfg.tau_mem), dt(-cfg.tau_syn)
    shape = cs.shape[1:]
    tmp, tmp2 = np.zeros(shape, cs.dtype), np.zeros(shape, cs.dtype)
    state = np.zeros(shape, cs.dtype)  # synaptic current (y / i)
    prev_m = np.zeros(shape, cs.dtype)
    prev_r: np.ndarray | None = None
    syn, zero = cfg.kind == "synaptic", cfg.reset == "zero"
    for t in range(cs.shape[0]):
        if snn:
            m = ms[t]
            if syn:
                np.multiply(state, alpha, out=state)  # alpha * syn
                np.add(state, cs[t], out=state)  # + input
                np.multiply(prev_m, beta, out=m)  # beta * mem
                np.add(m, state, out=m)  # + syn
                if prev_r is not None:
                    if zero:
                        np.multiply(m, prev_r, out=tmp2)
                        np.subtract(m, tmp2, out=m)  # mem - mem * reset
                    else:
                        np.multiply(prev_r, th, out=tmp2)
                        np.subtract(m, tmp2, out=m)  # mem - reset * threshold
            else:
                np.multiply(prev_m, beta, out=tmp)  # beta * mem
                if zero and prev_r is not None:
                    np.multiply(tmp, prev_r, out=tmp2)
                    np.subtract(tmp, tmp2, out=tmp)  # (1 - reset) * mem, then * beta
                np.add(tmp, cs[t], out=m)  # + input
                if not zero and prev_r is not None:
                    np.multiply(prev_r, th, out=tmp2)
                    np.subtract(m, tmp2, out=m)  # - reset * threshold
            x_src = m
        else:
            vd = ps[t]
            if syn:
                np.add(state, cs[t], out=state)  # i + input
                np.subtract(state, prev_m, out=tmp)  # (v_leak - v) + i
                np.multiply(tmp, tau_mem, out=tmp)  # dt * tau_mem_inv * (...)
                np.add(prev_m, tmp, out=vd)  # v + dv
                np.multiply(state, neg_tau_syn, out=tmp2)  # -dt * tau_syn_inv * i
                np.add(state, tmp2, out=state)  # i + di (decayed current)
            else:
                np.subtract(cs[t], prev_m, out=tmp)  # input + v_leak - v
                np.multiply(tmp, tau_mem, out=tmp)
                np.add(prev_m, tmp, out=vd)
            x_src = vd
        np.greater(x_src, th, out=ss[t])  # H(x - th) with H(0) = 0, as float
        if not snn:
            v = ms[t]
            if zero:
                np.multiply(x_src, ss[t], out=tmp2)
            else:
                np.multiply(ss[t], th, out=tmp2)
            np.subtract(x_src, tmp2, out=v)  # zero: (1 - z) * v; subtract: v - z * th
            prev_m = v
        else:
            prev_m = ms[t]
        prev_r = ss[t]
    return spk_t, mem_t, pre_t, spk_t


# --------------------------------------------------------------------------- backward


def _scan(seq: Tensor, coef: Tensor | float, lag: int = 1) -> Tensor:
    """In place: seq[t] += coef[t + lag] * seq[t+1] for t = T-2 .. 0 (coef float: constant).

    CPU tensors loop with numpy ufuncs on the same memory (a microsecond per call, see
    :func:`_forward_numpy`); the product is rounded before the sum.
    """
    if seq.device.type == "cpu" and seq.dtype in (torch.float32, torch.float64):
        a = seq.numpy()
        prod = np.empty(a.shape[1:], a.dtype)
        if isinstance(coef, float):
            k = a.dtype.type(coef)
            for t in range(a.shape[0] - 2, -1, -1):
                np.multiply(a[t + 1], k, out=prod)
                np.add(a[t], prod, out=a[t])
        else:
            cn = coef.detach().numpy()
            for t in range(a.shape[0] - 2, -1, -1):
                np.multiply(cn[t + lag], a[t + 1], out=prod)
                np.add(a[t], prod, out=a[t])
        return seq
    steps = seq.unbind(0)
    if isinstance(coef, float):
        for t in range(len(steps) - 2, -1, -1):
            steps[t].add_(steps[t + 1], alpha=coef)
    else:
        cs = coef.unbind(0)
        for t in range(len(steps) - 2, -1, -1):
            steps[t].addcmul_(cs[t + lag], steps[t + 1])
    return seq


def _backward(
    cfg: LIFConfig, pre: Tensor, rsig: Tensor, g_s: Tensor | None, g_m: Tensor | None
) -> Tensor:
    """Gradient w.r.t. the input current, given output gradients (None = zero)."""
    th = cfg.threshold
    sg = surrogate_grad(pre - th, cfg.surrogate, cfg.slope, cfg.semantics)  # (T, B, ...)
    zero = cfg.reset == "zero"
    if cfg.semantics == "snntorch":
        a = sg.mul_(g_s) if g_s is not None else torch.zeros_like(pre)
        if g_m is not None:
            a.add_(g_m)
        keep = None
        if zero:  # k[t] = 1 - r[t] = 1 - spikes[t-1]; k[0] = 1
            keep = torch.ones_like(pre)
            torch.sub(1.0, rsig[:-1], out=keep[1:])
            dm = _scan(a, keep * cfg.beta)  # coefficient for step t+1: beta * k[t+1]
        else:
            dm = _scan(a, cfg.beta)
        if cfg.kind == "leaky":
            return dm
        u = dm.mul_(keep) if keep is not None else dm
        return _scan(u, cfg.alpha)
    # Norse
    if zero:
        p = 1.0 - rsig  # dv/dvd = 1 - z
        if not cfg.detach_reset:
            p.addcmul_(pre, sg, value=-1.0)  # + dv/dz * s' with dv/dz = -vd
    else:
        p = torch.ones_like(pre) if cfg.detach_reset else sg.mul(-th).add_(1.0)
    e = p * g_m if g_m is not None else torch.zeros_like(pre)
    if g_s is not None:
        e.addcmul_(g_s, sg)
    d = _scan(e, p.mul_(1.0 - cfg.tau_mem), lag=0)  # D[t] = E[t] + P[t](1-tau) D[t+1]
    if cfg.kind == "leaky":
        return d.mul_(cfg.tau_mem)
    return _scan(d.mul_(cfg.tau_mem), 1.0 - cfg.tau_syn)


class FusedLIF(torch.autograd.Function):
    """(currents (T, B, ...), config, relaxed) -> (spikes, membrane); see the module docstring.

    ``relaxed=True`` is a test mode: spikes are a smooth step whose derivative is the surrogate
    (and so is a non-detached reset), so ``torch.autograd.gradcheck`` can verify the backward.
    """

    @staticmethod
    def forward(ctx: Any, current: Tensor, config: LIFConfig, relaxed: bool) -> Any:
        spk, mem, pre, rsig = _forward(current, config, relaxed)
        ctx.config = config
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(pre, rsig)
        return spk, mem

    @staticmethod
    def backward(ctx: Any, g_s: Tensor | None, g_m: Tensor | None) -> Any:
        if g_s is None and g_m is None:
            return None, None, None
        pre, rsig = ctx.saved_tensors
        return _backward(ctx.config, pre, rsig, g_s, g_m), None, None


def lif_sequence(
    current: Tensor, config: LIFConfig, relaxed: bool = False, kernel: str = "auto"
) -> tuple[Tensor, Tensor]:
    """Currents ``(T, B, ...)`` -> ``(spikes, membrane)`` of the neuron described by ``config``.

    Reduced-precision currents (bf16/fp16 from autocast) are integrated in float32.
    ``kernel``: "auto" uses the Triton kernels (triton_lif.py) for CUDA tensors when Triton is
    installed and this module's torch loop otherwise; "torch" / "triton" insist.
    """
    if kernel not in ("auto", "torch", "triton"):
        raise ValueError(f"kernel={kernel!r}; use 'auto', 'torch' or 'triton'")
    if current.dim() < 2:
        raise ValueError(
            f"current must be time-major (T, B, ...), got shape {tuple(current.shape)}"
        )
    if current.dtype in (torch.float16, torch.bfloat16):
        current = current.float()
    if config.input_gain != 1.0:
        current = current * config.input_gain
    use_triton = kernel == "triton"
    if kernel == "auto" and current.device.type == "cuda" and not relaxed:
        from spikeenergy.models.fast import triton_lif  # imports Triton itself only when present

        use_triton = triton_lif.available(current.device)
    if use_triton:
        if relaxed:
            raise ValueError("relaxed=True (gradcheck mode) runs on the torch kernel only")
        from spikeenergy.models.fast.triton_lif import lif_sequence_triton

        return lif_sequence_triton(current, config)
    out: tuple[Tensor, Tensor] = FusedLIF.apply(current.contiguous(), config, relaxed)
    return out
