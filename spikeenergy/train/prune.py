"""Magnitude pruning that makes zero weights real, so the ledger stops charging their synapses.

The joules term's weight handle (:func:`spikeenergy.energy.ledger.weight_mask`) pushes the
weights of costly synapses towards zero, but gradient steps never land exactly on zero; the
:class:`Pruner` does: after each epoch it removes the synapses whose weight magnitude is below
``prune_below`` times the mean magnitude of the surviving weights of that tensor, and after each
optimizer step it sets removed weights back to zero, so a removed synapse stays removed.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

#: Modules whose weights are synapses the ledger counts (biases are not synapses).
_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.GRU)


def synapse_weights(model: nn.Module) -> dict[str, Tensor]:
    """Name -> weight tensor of every synapse group the ledger counts (Linear, Conv, GRU)."""
    out: dict[str, Tensor] = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.GRU):
            for p in ("weight_ih_l0", "weight_hh_l0"):
                w: Tensor = getattr(m, p)
                out[f"{name}.{p}"] = w
        elif isinstance(m, _WEIGHTED):
            weight: Tensor = m.weight  # type: ignore[assignment]
            out[f"{name}.weight"] = weight
    return out


class Pruner:
    """Remove small synapses at epoch ends and keep them removed (masks live here, not in hooks).

    ``prune_below``: the relative magnitude threshold (e.g. 0.05: weights below 5 % of the
    tensor's mean surviving magnitude are removed). Works on any model, on both engines: it
    writes zeros into the weights in place and installs no hook.
    """

    def __init__(self, model: nn.Module, prune_below: float) -> None:
        if not (math.isfinite(prune_below) and 0 < prune_below < 1):
            raise ValueError(f"prune_below={prune_below} must lie in (0, 1)")
        self.prune_below = float(prune_below)
        self.weights = synapse_weights(model)
        if not self.weights:
            raise ValueError("Pruner: the model has no Linear/Conv/GRU weights to prune")
        self.masks = {n: w.detach() != 0 for n, w in self.weights.items()}

    @torch.no_grad()
    def prune(self) -> float:
        """Remove weights below the threshold; returns the pruned fraction of all synapses."""
        for n, w in self.weights.items():
            mask = self.masks[n] & (w != 0)
            alive = w.abs()[mask]
            if alive.numel():
                mask &= w.abs() >= self.prune_below * alive.mean()
            self.masks[n] = mask
            w.mul_(mask.to(w.dtype))
        return self.pruned_fraction()

    @torch.no_grad()
    def apply(self) -> None:
        """Zero the removed synapses again (after an optimizer step moved them)."""
        for n, w in self.weights.items():
            w.mul_(self.masks[n].to(w.dtype))

    def pruned_fraction(self) -> float:
        """Removed synapses / all synapses of the counted weight tensors."""
        removed = sum(int((~m).sum()) for m in self.masks.values())
        return removed / sum(m.numel() for m in self.masks.values())
