"""The Triton LIF kernels against the CPU path, in Triton's interpreter (TRITON_INTERPRET=1).

No GPU here: the interpreter runs the kernels' code with numpy on CPU tensors, which checks the
kernels' arithmetic and indexing (every neuron option of both semantics, one-output gradients,
masking across programs) and the dispatch that sends CUDA tensors to them. Triton reads
TRITON_INTERPRET when it is first imported, so the comparison runs in a child process
(triton_interpret_check.py). Compilation for and timing on a GPU: benchmarks/perf/run_perf.py
--device cuda.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_models_fast import NEURONS

from spikeenergy.models.fast import lif_sequence
from spikeenergy.models.fast.lif import LIFConfig
from spikeenergy.models.spec import NeuronSpec

pytest.importorskip("triton")

KERNELS = "spikeenergy.models.fast._triton_kernels"
IDS = [f"{b}-{s.kind}-{s.reset}-{s.detach_reset}-{s.surrogate}{s.slope}" for b, s in NEURONS]


@pytest.fixture(scope="module")
def interpreted() -> dict:
    """Results of triton_interpret_check.py run once in interpreter mode."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(root)}
    script = Path(__file__).with_name("triton_interpret_check.py")
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=root
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("key", IDS)
def test_triton_kernels_equal_cpu_path(interpreted, key):
    r = interpreted[key]
    assert r["n_spikes"] > 0  # the comparison includes spikes and resets
    # the forward: bit for bit
    assert r["spikes_equal"]
    assert r["membrane_equal"]
    # the backward: the same operations in the same order, but torch's CPU add(alpha=) and
    # addcmul may fuse multiply-add (and Triton's tanh comes from exp): last-bit differences
    assert r["grad_max_abs_diff"] <= 2e-6 * max(1.0, r["grad_max_abs"])


@pytest.mark.parametrize("backend", ["snntorch", "norse"])
@pytest.mark.parametrize("which", ["spikes", "membrane"])
def test_triton_kernels_one_output_gradient_and_many_programs(interpreted, backend, which):
    r = interpreted[f"wide-{backend}-{which}"]
    assert r["n_spikes"] > 0
    assert r["spikes_equal"]
    assert r["membrane_equal"]
    assert r["grad_max_abs_diff"] <= 2e-6 * max(1.0, r["grad_max_abs"])


def test_cpu_tensors_never_import_triton():
    code = (
        "import sys, torch\n"
        "from spikeenergy.models.fast import lif_sequence\n"
        "from spikeenergy.models.fast.lif import LIFConfig\n"
        "from spikeenergy.models.spec import NeuronSpec\n"
        "cfg = LIFConfig.from_spec(NeuronSpec(), 'snntorch')\n"
        "c = torch.randn(5, 2, 3, requires_grad=True)\n"
        "s, m = lif_sequence(c, cfg)\n"
        "(s.sum() + m.sum()).backward()\n"
        "assert 'triton' not in sys.modules, 'triton imported for CPU tensors'\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok", out.stderr


def test_dispatch_rules(monkeypatch):
    from spikeenergy.models.fast import triton_lif

    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    assert triton_lif.available(torch.device("cuda"))  # Triton installed: CUDA tensors use it
    assert not triton_lif.available(torch.device("cpu"))
    cfg = LIFConfig.from_spec(NeuronSpec(), "snntorch")
    with pytest.raises(ValueError, match="kernel"):
        lif_sequence(torch.zeros(2, 1), cfg, kernel="cuda")
    with pytest.raises(ValueError, match="relaxed"):
        lif_sequence(torch.zeros(2, 1), cfg, relaxed=True, kernel="triton")
    # without Triton: CUDA tensors fall back to the torch loop
    monkeypatch.setitem(sys.modules, "triton", None)
    monkeypatch.delitem(sys.modules, KERNELS, raising=False)
    assert triton_lif.kernels() is None
    assert not triton_lif.available(torch.device("cuda"))
