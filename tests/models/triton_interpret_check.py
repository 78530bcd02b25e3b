"""Run the Triton LIF kernels in Triton's interpreter against the CPU path; print JSON results.

Triton reads TRITON_INTERPRET when it is first imported, so the comparison runs in its own
process (started by test_models_fast_triton.py with TRITON_INTERPRET=1); each case reports
whether spikes and membranes are bit-identical and how far the input gradients are apart
(torch's CPU kernels for ``add(alpha=)`` / ``addcmul`` may use fused multiply-add, the kernels
do not: the gradients agree to the last bits, not always bit for bit).
"""

from __future__ import annotations

import json
import os
import sys

import torch
from test_models_fast import NEURONS  # the 64 neuron options (same folder)

from spikeenergy.models.fast import lif_sequence
from spikeenergy.models.fast.lif import LIFConfig
from spikeenergy.models.spec import NeuronSpec


def compare(cfg: LIFConfig, cur: torch.Tensor, g_s, g_m) -> dict:
    res = {}
    for kernel in ("torch", "triton"):
        c = cur.detach().clone().requires_grad_()
        spk, mem = lif_sequence(c, cfg, kernel=kernel)
        outs = [o for o, g in zip((spk, mem), (g_s, g_m), strict=True) if g is not None]
        torch.autograd.backward(outs, [g for g in (g_s, g_m) if g is not None])
        res[kernel] = (spk.detach(), mem.detach(), c.grad)
    (s0, m0, d0), (s1, m1, d1) = res["torch"], res["triton"]
    return {
        "n_spikes": int(s0.sum()),
        "spikes_equal": bool(torch.equal(s0, s1)),
        "membrane_equal": bool(torch.equal(m0, m1)),
        "grad_equal": bool(torch.equal(d0, d1)),
        "grad_max_abs_diff": float((d0 - d1).abs().max()),
        "grad_max_abs": float(d0.abs().max()),
    }


def main() -> None:
    if os.environ.get("TRITON_INTERPRET") != "1":
        sys.exit("run with TRITON_INTERPRET=1")
    out = {}
    for i, (backend, spec) in enumerate(NEURONS):
        cfg = LIFConfig.from_spec(spec, backend)
        g = torch.Generator().manual_seed(i)
        cur = (torch.randn(10, 3, 5, generator=g) * 0.8 + 0.4) * cfg.input_gain
        g_s, g_m = torch.randn(2, 10, 3, 5, generator=g)
        key = f"{backend}-{spec.kind}-{spec.reset}-{spec.detach_reset}-{spec.surrogate}{spec.slope}"
        out[key] = compare(cfg, cur, g_s, g_m)
    # 3 x 100 = 300 neurons: two programs of 256 (the second masked), one output gradient each
    for backend, spec in (
        ("snntorch", NeuronSpec("synaptic", reset="zero")),
        ("norse", NeuronSpec()),
    ):
        cfg = LIFConfig.from_spec(spec, backend)
        g = torch.Generator().manual_seed(1)
        cur = (torch.randn(6, 3, 100, generator=g) + 0.5) * cfg.input_gain
        grad = torch.randn(6, 3, 100, generator=g)
        out[f"wide-{backend}-spikes"] = compare(cfg, cur, grad, None)
        out[f"wide-{backend}-membrane"] = compare(cfg, cur, None, grad)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
