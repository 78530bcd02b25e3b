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

Inference: the detectors are integrate-and-fire neurons (beta = 1, subtractive reset, snnTorch or
Norse via :func:`spikeenergy.models.build_neuron`) driven by W s[t] each step; the prediction is
the detector with most output spikes, ties broken by the residual membrane (with subtractive
reset, count * theta + membrane = the total drive W_c . r, so this is exactly the arg-max drive).
"""

from __future__ import annotations

import torch
from torch import Tensor

from spikeenergy.models import NeuronSpec, build_neuron
from spikeenergy.onepass.encoders import OpCounts, RandomSpikingEncoder


class SpikingPrototypeClassifier:
    """Fixed random spiking layer + integrate-and-fire class detectors set in one Hebbian pass."""

    def __init__(
        self, encoder: RandomSpikingEncoder, target_spikes: float = 10.0, backend: str = "snntorch"
    ) -> None:
        if target_spikes <= 0:
            raise ValueError(f"target_spikes={target_spikes} must be positive")
        self.encoder = encoder
        self.target_spikes = float(target_spikes)
        self.backend = backend
        self.weight: Tensor | None = None  # (C, H)
        self.threshold: float | None = None

    @torch.no_grad()
    def fit(self, x: Tensor, labels: Tensor, num_classes: int | None = None) -> OpCounts:
        """One pass over time-major streams x (T, N, ...): Hebbian prototypes, then threshold."""
        if x.shape[1] != labels.shape[0]:
            raise ValueError(f"{x.shape[1]} streams but {labels.shape[0]} labels")
        labels = labels.long()
        c_n = int(num_classes) if num_classes is not None else int(labels.max()) + 1
        spk = self.encoder.spikes(x)  # (T, N, H)
        r = spk.sum(0)  # (N, H)
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
        self.weight = w
        self.threshold = theta if theta > 0 else 1.0
        n = x.shape[1]
        return self.encoder.ops(x, spk) + OpCounts(acs=float(n * r.shape[1] * 2))

    @torch.no_grad()
    def detector_spikes(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Output spike trains (T, B, C), final membranes (B, C) and hidden spikes (T, B, H)."""
        if self.weight is None or self.threshold is None:
            raise ValueError("the classifier is not set yet; call fit(x, labels) first")
        spec = NeuronSpec(beta=1.0, threshold=self.threshold, reset="subtract")
        if self.backend == "norse":
            # Norse needs beta < 1 (tau_mem_inv = 1 - beta); 1 - 1e-6 leaks < 1e-4 over 100 steps
            spec = NeuronSpec(beta=1.0 - 1e-6, threshold=self.threshold, reset="subtract")
        neuron, driver = build_neuron(spec, self.backend)
        hidden = self.encoder.spikes(x)  # (T, B, H)
        state, out, mem = None, [], None
        for s_t in hidden.unbind(0):
            o, state = driver.step(neuron, s_t @ self.weight.T, state)  # (B, C)
            out.append(o)
        mem = state if isinstance(state, Tensor) else state.v  # type: ignore[union-attr]
        return torch.stack(out), mem, hidden

    def scores(self, x: Tensor) -> Tensor:
        """Resets applied + membrane / theta per detector (B, C): the total drive / theta.

        snnTorch resets one step after a spike (a last-step spike is not yet subtracted from the
        final membrane: resets = count - last-step spikes); Norse resets in the same step.
        """
        out, mem, _ = self.detector_spikes(x)
        assert self.threshold is not None
        resets = out.sum(0) - out[-1] if self.backend == "snntorch" else out.sum(0)
        return resets + mem / self.threshold

    def predict(self, x: Tensor) -> Tensor:
        """Most active detector (B,), ties broken by the residual membrane."""
        return self.scores(x).argmax(dim=1)

    def inference_ops(self, x: Tensor) -> OpCounts:
        """Ops per sample on streams x: encoder synapses + hidden spikes x C + neuron updates."""
        assert self.weight is not None
        hidden = self.encoder.spikes(x)
        t, b = x.shape[:2]
        c = self.weight.shape[0]
        total = self.encoder.ops(x, hidden) + OpCounts(
            acs=float(hidden.sum()) * c, neuron_updates=float(t * b * c)
        )
        return total.scaled(1.0 / b)


__all__ = ["SpikingPrototypeClassifier"]
