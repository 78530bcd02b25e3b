"""The fused LIF recurrence as Triton kernels, used automatically for CUDA tensors.

:func:`~spikeenergy.models.fast.lif.lif_sequence` calls :func:`lif_sequence_triton` when the
currents live on a CUDA device and Triton imports; CPU tensors never import Triton (CPU-only
installs do not need it). The kernels (``_triton_kernels.py``) replay the CPU path's update and
reverse scan operation by operation, compiled without fused multiply-add
(``enable_fp_fusion=False``), so spikes and membranes equal the CPU path's up to the last bit of
the ``tanh`` surrogate; the tests run them in Triton's interpreter (``TRITON_INTERPRET=1``) on
CPU against the CPU path. The forward reads each current once and writes spikes and membrane
once, the backward is one pass in reverse time: about 3 and 5 memory passes over ``(T, N)``
instead of some 10 and 15 kernel launches per time step.
"""

from __future__ import annotations

import importlib
import math
import os
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from spikeenergy.models.families import surrogate
from spikeenergy.models.fast.lif import LIFConfig

BLOCK = 256


def kernels() -> ModuleType | None:
    """The kernel module, or None when Triton does not import (imported on first call)."""
    try:
        return importlib.import_module("spikeenergy.models.fast._triton_kernels")
    except ImportError:
        return None


def available(device: torch.device) -> bool:
    """True when :func:`lif_sequence` should use the Triton kernels for tensors on ``device``:
    a CUDA device with Triton installed, or any device in Triton's interpreter mode."""
    if device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        return False
    return kernels() is not None


def _surrogate_constants(cfg: LIFConfig) -> tuple[float, float, float, int]:
    """(k, c1, c2, code) of the surrogate, as lif.surrogate_grad uses them."""
    entry = surrogate(cfg.surrogate)
    k = entry.slope_for(cfg.slope, cfg.semantics)
    return k, math.pi / 2 * cfg.slope, cfg.slope / 2, entry.kernel


def _launch(kernel: Any, n: int, *args: Any, **meta: Any) -> None:
    grid = (triton_cdiv(n, BLOCK),)
    kernel[grid](*args, BLOCK=BLOCK, enable_fp_fusion=False, **meta)


def triton_cdiv(a: int, b: int) -> int:
    """Ceiling division (the launch grid)."""
    return -(-a // b)


class TritonLIF(torch.autograd.Function):
    """(currents (T, B, ...) float32 contiguous, config) -> (spikes, membrane) via Triton."""

    @staticmethod
    def forward(ctx: Any, current: Tensor, config: LIFConfig) -> Any:
        mod = kernels()
        if mod is None:
            raise RuntimeError("Triton is not installed; use the CPU path (lif.FusedLIF)")
        steps = current.shape[0]
        n = current.numel() // steps
        spk = torch.empty_like(current)
        mem = torch.empty_like(current)
        snn = config.semantics == "snntorch"
        pre = mem if snn else torch.empty_like(current)
        _launch(
            mod.lif_forward_kernel,
            n,
            current,
            spk,
            mem,
            pre,
            steps,
            n,
            config.beta,
            config.alpha,
            config.tau_mem,
            -config.tau_syn,
            config.threshold,
            SNN=snn,
            SYN=config.kind == "synaptic",
            ZERO=config.reset == "zero",
        )
        ctx.config = config
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(pre, spk)
        return spk, mem

    @staticmethod
    def backward(ctx: Any, g_s: Tensor | None, g_m: Tensor | None) -> Any:
        if g_s is None and g_m is None:
            return None, None
        mod = kernels()
        assert mod is not None
        pre, spk = ctx.saved_tensors
        cfg: LIFConfig = ctx.config
        steps = pre.shape[0]
        n = pre.numel() // steps
        dc = torch.empty_like(pre)
        k, c1, c2, code = _surrogate_constants(cfg)
        dummy = pre  # never read: HAS_GS / HAS_GM are False
        _launch(
            mod.lif_backward_kernel,
            n,
            pre,
            spk,
            g_s.contiguous() if g_s is not None else dummy,
            g_m.contiguous() if g_m is not None else dummy,
            dc,
            steps,
            n,
            cfg.beta,
            cfg.alpha,
            cfg.tau_mem,
            1.0 - cfg.tau_mem,
            1.0 - cfg.tau_syn,
            cfg.threshold,
            k,
            c1,
            c2,
            SNN=cfg.semantics == "snntorch",
            SYN=cfg.kind == "synaptic",
            ZERO=cfg.reset == "zero",
            DETACH=bool(cfg.detach_reset),
            SURR=code,
            HAS_GS=g_s is not None,
            HAS_GM=g_m is not None,
        )
        return dc, None


def lif_sequence_triton(current: Tensor, config: LIFConfig) -> tuple[Tensor, Tensor]:
    """The Triton twin of ``lif_sequence`` (float32 currents already multiplied by the gain)."""
    _surrogate_constants(config)  # unknown surrogates fail before any launch
    out: tuple[Tensor, Tensor] = TritonLIF.apply(current.float().contiguous(), config)
    return out
