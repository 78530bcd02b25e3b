"""When reduced precision (bf16 autocast) pays, and when it must not be used.

bf16 matmuls are fast only where the hardware computes in bf16: x86 CPUs with AVX512-BF16 or
AMX-BF16, Arm CPUs with the BF16 extension, CUDA GPUs of compute capability >= 8.0. Elsewhere
oneDNN emulates bf16 by converting to float32 and back, which is several times *slower* than
plain float32 (measured 6.8-7.9x slower than the fp32 matmul floor on an AVX512F Xeon without
BF16, see docs/performance.md). :func:`bf16_pays` says whether to autocast to bf16 on a device:
never where the CPU flags show no native bf16; where they do (or cannot be read), only if a
short fp32-vs-bf16 timing of a training-sized matmul (forward + backward) measures bf16 at least
``MIN_SPEEDUP`` faster. The answer is measured once per process and device type and cached.

Usage::

    dtype = autocast_dtype(device)          # torch.bfloat16 or None
    with torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        logits = model(x)
"""

from __future__ import annotations

import functools
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

#: bf16 must be at least this much faster than fp32 to be picked (margin over timing noise).
MIN_SPEEDUP = 1.2
_X86_NATIVE = ("avx512_bf16", "amx_bf16")


def cpu_has_native_bf16(cpuinfo: str | None = None) -> bool | None:
    """True / False from the CPU feature flags in ``/proc/cpuinfo`` text; None if unreadable.

    x86: ``avx512_bf16`` or ``amx_bf16`` in ``flags``; Arm (aarch64): ``bf16`` in ``Features``.
    """
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text()
        except OSError:
            return None
    flags: set[str] = set()
    seen = False
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            seen = True
            flags.update(value.split())
    if not seen:
        return None
    return any(f in flags for f in _X86_NATIVE) or "bf16" in flags


def measure_bf16_speedup(
    rows: int = 4096, in_features: int = 2048, out_features: int = 256, repeats: int = 5
) -> float:
    """fp32 time / bf16-autocast time of a linear layer's forward + backward on the CPU (median
    of ``repeats``, interleaved so load changes hit both alike); > 1 means bf16 is faster."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand(rows, in_features, generator=g)
    w = torch.randn(out_features, in_features, generator=g, requires_grad=True)

    def step(bf16: bool) -> float:
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            y = torch.nn.functional.linear(x, w)
        y.float().sum().backward()
        w.grad = None
        return time.perf_counter() - t0

    step(False), step(True)  # warm-up (oneDNN kernel selection)
    fp32, bf16 = [], []
    for _ in range(repeats):
        fp32.append(step(False))
        bf16.append(step(True))
    return statistics.median(fp32) / statistics.median(bf16)


def decide_bf16(native: bool | None, measure: Callable[[], float]) -> bool:
    """The rule: no native bf16 -> never; native or unknown -> only if ``measure()`` (a speed-up)
    is at least MIN_SPEEDUP (``measure`` is not called when the flags rule bf16 out)."""
    if native is False:
        return False
    return measure() >= MIN_SPEEDUP


@functools.cache
def bf16_pays(device_type: str = "cpu") -> bool:
    """Whether bf16 autocast is faster than float32 on ``device_type`` ("cpu" or "cuda")."""
    if device_type == "cuda":
        if not torch.cuda.is_available():
            return False
        major, _ = torch.cuda.get_device_capability()
        return major >= 8 and torch.cuda.is_bf16_supported()
    if device_type != "cpu":
        return False
    return decide_bf16(cpu_has_native_bf16(), measure_bf16_speedup)


def autocast_dtype(device: torch.device | str) -> torch.dtype | None:
    """``torch.bfloat16`` where :func:`bf16_pays` on ``device``, else None (stay in float32)."""
    dev = torch.device(device)
    return torch.bfloat16 if bf16_pays(dev.type) else None
