"""bf16 is picked only where the CPU computes in bf16 and a timing shows it pays."""

from __future__ import annotations

import math

import pytest
import torch

from spikeenergy.models.fast import precision

XEON_NO_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\n"
SAPPHIRE_RAPIDS = "flags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
GRAVITON3 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


def test_cpu_flags():
    assert precision.cpu_has_native_bf16(XEON_NO_BF16) is False
    assert precision.cpu_has_native_bf16(SAPPHIRE_RAPIDS) is True
    assert precision.cpu_has_native_bf16(GRAVITON3) is True
    assert precision.cpu_has_native_bf16("model name : something\n") is None  # no flags line


def test_no_native_bf16_is_never_picked_and_never_measured():
    def measure():
        raise AssertionError("must not time bf16 on a CPU without native bf16")

    assert precision.decide_bf16(False, measure) is False


@pytest.mark.parametrize(("speedup", "picked"), [(0.14, False), (1.1, False), (2.7, True)])
def test_native_or_unknown_bf16_is_picked_only_if_measured_faster(speedup, picked):
    for native in (True, None):
        assert precision.decide_bf16(native, lambda: speedup) is picked


def test_answer_is_cached_per_device_type(monkeypatch):
    calls = []
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setattr(precision, "measure_bf16_speedup", lambda: calls.append(1) or 3.0)
    precision.bf16_pays.cache_clear()
    try:
        assert precision.autocast_dtype("cpu") is torch.bfloat16
        assert precision.autocast_dtype(torch.device("cpu")) is torch.bfloat16
        assert calls == [1]  # measured once
        assert precision.autocast_dtype("meta") is None
    finally:
        precision.bf16_pays.cache_clear()


def test_measure_runs_and_is_a_positive_ratio():
    r = precision.measure_bf16_speedup(rows=64, in_features=64, out_features=16, repeats=2)
    assert math.isfinite(r)
    assert r > 0
