"""One-pass dense-associative-memory classifier: each class an energy landscape of its examples.

Every training example is stored once, as a memory of its class (no gradient descent, one pass).
With (optionally centred) unit-norm features and similarity s(x, xi) = x . xi, class ``c`` with
stored examples ``X_c`` (P_c of them) has the energy

    E_c(x) = -(1/beta) log sum_{mu in c} exp(beta x . xi_mu) + log(P_c) / beta

which is the modern-Hopfield energy of Ramsauer et al. (2020; see
:func:`spikeenergy.dynamics.modern_hopfield_energy`) of state ``x`` given memories ``X_c``, minus
terms that do not depend on the class (1/2 |x|^2 and M^2/2 = 1/2 for unit-norm memories).
Prediction is the class of lowest energy. ``beta`` is the one knob and interpolates between two
classic rules: beta -> 0 gives E_c = -mean_mu x . xi_mu (nearest class mean of the normalised
examples, a prototype rule) and beta -> inf gives E_c = -max_mu x . xi_mu (1-nearest neighbour
by cosine). ``count_term=False`` drops log(P_c)/beta (only matters for unbalanced classes).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from spikeenergy.onepass.encoders import OpCounts


class DenseMemoryClassifier:
    """Stores examples as minima of per-class dense-associative-memory energies; argmin predicts."""

    def __init__(
        self,
        beta: float = 10.0,
        center: bool = True,
        count_term: bool = True,
        chunk: int = 1024,
    ) -> None:
        if not (math.isfinite(beta) and beta > 0):
            raise ValueError(f"beta={beta} must be a positive finite number (inverse temperature)")
        self.beta = float(beta)
        self.center = center
        self.count_term = count_term
        self.chunk = int(chunk)
        self.memories: Tensor | None = None  # (P, F) unit-norm stored examples
        self.labels: Tensor | None = None  # (P,)
        self.mean: Tensor | None = None  # (F,) feature mean of the stored examples
        self.num_classes = 0

    def _normalize(self, x: Tensor) -> Tensor:
        if self.mean is not None:
            x = x - self.mean
        return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)

    @torch.no_grad()
    def fit(self, features: Tensor, labels: Tensor, num_classes: int | None = None) -> OpCounts:
        """Store every example (B, F) once under its label; returns the ops spent (normalising)."""
        if features.dim() != 2 or labels.shape != (features.shape[0],):
            raise ValueError(
                f"features must be (N, F) with labels (N,), got {tuple(features.shape)} and "
                f"{tuple(labels.shape)}"
            )
        if features.shape[0] == 0:
            raise ValueError("no training examples: pass at least one example per class")
        labels = labels.long()
        self.num_classes = int(num_classes) if num_classes is not None else int(labels.max()) + 1
        self.mean = features.float().mean(0) if self.center else None
        self.memories = self._normalize(features.float())
        self.labels = labels
        n, f = features.shape
        return OpCounts.executed(acs=float(n * f), macs=float(n * f))  # mean + norms

    def _check(self) -> tuple[Tensor, Tensor]:
        if self.memories is None or self.labels is None:
            raise ValueError("the classifier holds no memories yet; call fit(features, labels)")
        return self.memories, self.labels

    @torch.no_grad()
    def energy(self, features: Tensor) -> Tensor:
        """Class energies (B, C) of features (B, F); classes without memories get +inf."""
        mem, lab = self._check()
        x = self._normalize(features.float())
        out = torch.full((x.shape[0], self.num_classes), math.inf, device=x.device)
        for start in range(0, x.shape[0], self.chunk):
            sim = x[start : start + self.chunk] @ mem.T  # (b, P)
            for c in range(self.num_classes):
                sel = lab == c
                if not bool(sel.any()):
                    continue
                e = -torch.logsumexp(self.beta * sim[:, sel], dim=1) / self.beta  # (b,)
                if self.count_term:
                    e = e + math.log(int(sel.sum())) / self.beta
                out[start : start + self.chunk, c] = e
        return out

    def predict(self, features: Tensor) -> Tensor:
        """Label of the lowest class energy, (B,)."""
        return self.energy(features).argmin(dim=1)

    def inference_ops(self) -> OpCounts:
        """Ops per classified sample: P x F MACs (similarities) + 2F (centring, normalising) + P
        (exponentials, counted as one MAC each): arithmetic outside any network."""
        mem, _ = self._check()
        p, f = mem.shape
        return OpCounts.executed(macs=float(p * f + 2 * f + p))


__all__ = ["DenseMemoryClassifier"]
