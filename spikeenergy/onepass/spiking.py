"""Spiking one-pass classifier: event stream -> fixed random LIF layer -> one-pass class detectors.

Rule (supervised Hebbian / prototype, one pass, no gradients; see docs/onepass.md):

1. Each training stream drives the fixed random spiking layer (:class:`RandomSpikingEncoder`);
   its presynaptic activity is the spike count vector r (H,), normalised r_hat = r / |r|.
2. Hebbian update with the postsynaptic detector clamped to the teacher label (y_c = 1 for the
   true class, 0 otherwise): dW_c = eta_c * y_c * r_hat, eta_c = 1 / n_c. After the pass W_c is
   the mean normalised count vector (prototype) of class c.
3. Competition: every row has the across-class mean row subtracted (W_c - mean_k W_k, a lateral
   inhibition that removes what all classes share) and is rescaled to unit norm.
4. Threshold: theta = mean over training streams of (W_y . r) / ``target_spikes``, so that the
   true-class detector fires about ``target_spikes`` times per stream.

Inference: the detectors are a frozen ``nn.Linear(H, C)`` holding W followed by
integrate-and-fire neurons (beta = 1, subtractive reset, snnTorch or Norse via
:func:`spikeenergy.models.build_neuron`) driven by W s[t] each step; the prediction is the
detector with most output spikes, ties broken by the residual membrane (with subtractive reset,
count * theta + membrane = the total drive W_c . r, so this is exactly the arg-max drive). The
whole classifier is one recordable network: its operation counts come from the energy ledger.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from spikeenergy.models import NeuronSpec, build_neuron
from spikeenergy.onepass.encoders import OpCounts, RandomSpikingEncoder, ledger_pass


class SpikingPrototypeClassifier(nn.Module):
    """Fixed random spiking layer + integrate-and-fire class detectors set in one Hebbian pass.

    Submodules (recorded by :class:`spikeenergy.record.ActivityRecorder`): ``encoder`` (its
    ``fc`` and ``neuron``), ``detectors`` (``nn.Linear(H, C, bias=False)``, frozen) and
    ``detector_neuron``; the last two exist after :meth:`fit`.
    """

    def __init__(
        self, encoder: RandomSpikingEncoder, target_spikes: float = 10.0, backend: str = "snntorch"
    ) -> None:
        super().__init__()
        if target_spikes <= 0:
            raise ValueError(f"target_spikes={target_spikes} must be positive")
        self.encoder = encoder
        self.target_spikes = float(target_spikes)
        self.backend = backend
        self.detectors: nn.Linear | None = None
        self.detector_neuron: nn.Module | None = None
        self._driver: Any = None
        self.threshold: float | None = None

    @property
    def weight(self) -> Tensor | None:
        """The detector weights W (C, H), or None before :meth:`fit`."""
        return None if self.detectors is None else self.detectors.weight

    @torch.no_grad()
    def fit(self, x: Tensor, labels: Tensor, num_classes: int | None = None) -> OpCounts:
        """One pass over time-major streams x (T, N, ...): Hebbian prototypes, then threshold.

        Returns the ops spent (total): the encoder's pass (from the ledger) plus the Hebbian
        accumulation and the normalisations (arithmetic outside the network, 2 per weight
        update of every stream).
        """
        if x.shape[1] != labels.shape[0]:
            raise ValueError(f"{x.shape[1]} streams but {labels.shape[0]} labels")
        labels = labels.long()
        c_n = int(num_classes) if num_classes is not None else int(labels.max()) + 1
        r, enc_ops = self.encoder.encode(x)  # (N, H) spike counts, ledger counts of the pass
        r_hat = r / r.norm(dim=1, keepdim=True).clamp_min(1e-12)
        onehot = torch.nn.functional.one_hot(labels, c_n).to(r_hat)  # (N, C) teacher
        counts = onehot.sum(0).clamp_min(1.0)  # (C,)
        w = (onehot.T @ r_hat) / counts[:, None]  # Hebbian sum_i y_ci r_hat_i / n_c
        present = onehot.sum(0) > 0
        w = w - w[present].mean(0, keepdim=True)  # lateral inhibition: remove the shared part
        w = w / w.norm(dim=1, keepdim=True).clamp_min(1e-12)
        w[~present] = 0.0
        drive = (r * w[labels]).sum(1)  # (N,) true-class total drive
        theta = float(drive.clamp_min(0).mean()) / self.target_spikes
        self.threshold = theta if theta > 0 else 1.0
        self.detectors = nn.Linear(r.shape[1], c_n, bias=False)
        self.detectors.weight.requires_grad_(False)
        self.detectors.weight.copy_(w)
        spec = NeuronSpec(beta=1.0, threshold=self.threshold, reset="subtract")
        if self.backend == "norse":
            # Norse needs beta < 1 (tau_mem_inv = 1 - beta); 1 - 1e-6 leaks < 1e-4 over 100 steps
            spec = NeuronSpec(beta=1.0 - 1e-6, threshold=self.threshold, reset="subtract")
        self.detector_neuron, self._driver = build_neuron(spec, self.backend)
        n = x.shape[1]
        return enc_ops + OpCounts.executed(acs=float(n * r.shape[1] * 2))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Output spike trains (T, B, C), final membranes (B, C) and hidden spikes (T, B, H)."""
        if self.detectors is None or self.detector_neuron is None:
            raise ValueError("the classifier is not set yet; call fit(x, labels) first")
        hidden = self.encoder(x)  # (T, B, H)
        state, out = None, []
        for s_t in hidden.unbind(0):
            o, state = self._driver.step(self.detector_neuron, self.detectors(s_t), state)
            out.append(o)
        mem = state if isinstance(state, Tensor) else state.v  # type: ignore[union-attr]
        return torch.stack(out), mem, hidden

    @torch.no_grad()
    def detector_spikes(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`forward` without recording."""
        return self(x)

    def _scores(self, out: Tensor, mem: Tensor) -> Tensor:
        assert self.threshold is not None
        resets = out.sum(0) - out[-1] if self.backend == "snntorch" else out.sum(0)
        return resets + mem / self.threshold

    def scores(self, x: Tensor) -> Tensor:
        """Resets applied + membrane / theta per detector (B, C): the total drive / theta.

        snnTorch resets one step after a spike (a last-step spike is not yet subtracted from the
        final membrane: resets = count - last-step spikes); Norse resets in the same step.
        """
        out, mem, _ = self.detector_spikes(x)
        return self._scores(out, mem)

    def predict(self, x: Tensor) -> Tensor:
        """Most active detector (B,), ties broken by the residual membrane."""
        return self.scores(x).argmax(dim=1)

    def predict_with_ops(self, x: Tensor) -> tuple[Tensor, OpCounts]:
        """Predictions (B,) and the ledger's counts per sample of the recorded pass."""
        outs, ledger = ledger_pass(self, x)
        pred = torch.cat([self._scores(o, m).argmax(dim=1) for o, m, _ in outs])
        return pred, OpCounts.from_ledger(ledger.total())


__all__ = ["SpikingPrototypeClassifier"]
