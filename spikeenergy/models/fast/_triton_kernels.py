"""Triton kernels of the fused LIF recurrence (imported only by triton_lif.py, on first CUDA use).

One program owns ``BLOCK`` neurons of the flattened ``(T, N)`` currents and runs the whole time
loop with its state in registers: the forward reads each current once and writes spikes and
membrane once; the backward is the reverse scan of lif.py in one pass. Every expression repeats
the CPU path's floating-point operations in the same order (see lif.py), so in Triton's
interpreter (``TRITON_INTERPRET=1``, numpy) the results are bit-identical to the CPU path except
for the ``tanh`` surrogate (computed from ``exp``); on a GPU the compiler may contract a * b + c
into one fused multiply-add, which differs in the last bit.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def lif_forward_kernel(
    c_ptr,
    spk_ptr,
    mem_ptr,
    pre_ptr,
    steps,
    n,
    beta,
    alpha,
    tau_mem,
    neg_tau_syn,
    th,
    SNN: tl.constexpr,
    SYN: tl.constexpr,
    ZERO: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    prev_m = tl.zeros([BLOCK], dtype=tl.float32)
    prev_r = tl.zeros([BLOCK], dtype=tl.float32)
    state = tl.zeros([BLOCK], dtype=tl.float32)  # synaptic current (y / i)
    for t in range(steps):
        idx = t * n + offs
        c = tl.load(c_ptr + idx, mask=mask, other=0.0)
        if SNN:
            if SYN:
                state = state * alpha + c  # y = alpha * y + input
                m = prev_m * beta + state  # beta * mem + syn
                if ZERO:
                    m = m - m * prev_r  # mem - mem * reset
                else:
                    m = m - prev_r * th  # mem - reset * threshold
            else:
                tmp = prev_m * beta
                if ZERO:
                    tmp = tmp - tmp * prev_r  # (1 - reset) * beta * mem
                m = tmp + c
                if not ZERO:
                    m = m - prev_r * th
            s = (m > th).to(tl.float32)
            tl.store(mem_ptr + idx, m, mask=mask)
            prev_m = m
        else:
            if SYN:
                i_new = state + c
                vd = prev_m + (i_new - prev_m) * tau_mem
                state = i_new + i_new * neg_tau_syn  # i - dt * tau_syn_inv * i
            else:
                vd = prev_m + (c - prev_m) * tau_mem
            s = (vd > th).to(tl.float32)
            if ZERO:
                v = vd - vd * s
            else:
                v = vd - s * th
            tl.store(pre_ptr + idx, vd, mask=mask)
            tl.store(mem_ptr + idx, v, mask=mask)
            prev_m = v
        tl.store(spk_ptr + idx, s, mask=mask)
        prev_r = s


@triton.jit
def _surrogate(x, k, c1, c2, SURR: tl.constexpr):
    """d spike / d x (lif.surrogate_grad): 0 fast_sigmoid, 1 atan, 2 triangle, 3 tanh."""
    if SURR == 0:
        v = tl.abs(x) * k + 1.0
        g = 1.0 / (v * v)
    elif SURR == 1:
        w = x * c1
        g = (1.0 / (w * w + 1.0)) * c2
    elif SURR == 2:
        g = tl.maximum(1.0 - tl.abs(x), 0.0) * k
    else:
        e = tl.exp(-2.0 * tl.abs(x * k))
        th_ = (1.0 - e) / (1.0 + e)  # tanh(|k x|); the square drops the sign
        g = 1.0 - th_ * th_
    return g


@triton.jit
def lif_backward_kernel(  # noqa: C901 - one fused reverse-time loop compiled into one GPU
    # kernel; its branches are the compile-time neuron kind, reset and detach variants
    pre_ptr,
    spk_ptr,
    gs_ptr,
    gm_ptr,
    dc_ptr,
    steps,
    n,
    beta,
    alpha,
    tau_mem,
    one_minus_tau_mem,
    one_minus_tau_syn,
    th,
    k,
    c1,
    c2,
    SNN: tl.constexpr,
    SYN: tl.constexpr,
    ZERO: tl.constexpr,
    DETACH: tl.constexpr,
    SURR: tl.constexpr,
    HAS_GS: tl.constexpr,
    HAS_GM: tl.constexpr,
    BLOCK: tl.constexpr,
):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    carry = tl.zeros([BLOCK], dtype=tl.float32)  # dm[t+1] (snnTorch) / D[t+1] (Norse)
    carry2 = tl.zeros([BLOCK], dtype=tl.float32)  # dy[t+1] / G[t+1] (synaptic)
    for step in range(steps):
        t = steps - 1 - step
        idx = t * n + offs
        pre = tl.load(pre_ptr + idx, mask=mask, other=0.0)
        sg = _surrogate(pre - th, k, c1, c2, SURR)
        if SNN:
            a = tl.zeros([BLOCK], dtype=tl.float32)
            if HAS_GS:
                a = sg * tl.load(gs_ptr + idx, mask=mask, other=0.0)
            if HAS_GM:
                a = a + tl.load(gm_ptr + idx, mask=mask, other=0.0)
            if step == 0:
                dm = a
            else:
                if ZERO:  # coefficient beta * k[t+1], k[t+1] = 1 - spikes[t]
                    s_t = tl.load(spk_ptr + idx, mask=mask, other=0.0)
                    dm = a + ((1.0 - s_t) * beta) * carry
                else:
                    dm = a + carry * beta
            carry = dm
            if SYN:
                u = dm
                if ZERO:
                    if t > 0:  # k[t] = 1 - spikes[t-1]
                        s_prev = tl.load(spk_ptr + idx - n, mask=mask, other=0.0)
                        u = dm * (1.0 - s_prev)
                if step == 0:
                    dy = u
                else:
                    dy = u + carry2 * alpha
                carry2 = dy
                out = dy
            else:
                out = dm
        else:
            s = tl.load(spk_ptr + idx, mask=mask, other=0.0)
            if ZERO:
                p = 1.0 - s
                if not DETACH:
                    p = p - pre * sg
            else:
                if DETACH:
                    p = tl.full([BLOCK], 1.0, dtype=tl.float32)
                else:
                    p = sg * (-th) + 1.0
            e = tl.zeros([BLOCK], dtype=tl.float32)
            if HAS_GM:
                e = p * tl.load(gm_ptr + idx, mask=mask, other=0.0)
            if HAS_GS:
                e = e + tl.load(gs_ptr + idx, mask=mask, other=0.0) * sg
            if step == 0:
                d = e
            else:
                d = e + (p * one_minus_tau_mem) * carry
            carry = d
            if SYN:
                g = d * tau_mem
                if step != 0:
                    g = g + carry2 * one_minus_tau_syn
                carry2 = g
                out = g
            else:
                out = d * tau_mem
        tl.store(dc_ptr + idx, out, mask=mask)
