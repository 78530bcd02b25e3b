"""Dense associative memories (polynomial, exponential) and modern Hopfield retrieval."""

import math

import pytest
import torch

from spikeenergy.dynamics import (
    DenseAssociativeMemory,
    HopfieldLayer,
    HopfieldNetwork,
    ModernHopfield,
    dense_memory_capacity,
    modern_hopfield_energy,
)


def _patterns(p: int, n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.where(torch.rand(p, n, generator=g) < 0.5, -1.0, 1.0)


def test_capacity_formulas():
    # degree 3: N^2 / (2 * 3!! * ln N) = 10000 / (6 * ln 100) = 361.9
    assert dense_memory_capacity(100, "polynomial", 3) == pytest.approx(10000 / (6 * math.log(100)))
    # degree 4: (2*4-3)!! = 5!! = 15 -> N^3 / (30 ln N)
    assert dense_memory_capacity(50, "polynomial", 4) == pytest.approx(50**3 / (30 * math.log(50)))
    assert dense_memory_capacity(100, "classical") == pytest.approx(13.8)
    assert dense_memory_capacity(20, "exponential") == pytest.approx(1024.0)
    with pytest.raises(ValueError, match="unknown interaction"):
        dense_memory_capacity(10, "cubic")


def test_energy_hand_computed():
    xi = torch.tensor([[1.0, 1.0, -1.0], [1.0, -1.0, 1.0]])
    s = torch.tensor([[1.0, -1.0, -1.0]])
    # overlaps: xi_1 . s = 1 - 1 + 1 = 1, xi_2 . s = 1 + 1 - 1 = 1
    poly = DenseAssociativeMemory(xi, "polynomial", degree=3)
    assert poly.energy(s).item() == pytest.approx(-(1**3 + 1**3))
    expo = DenseAssociativeMemory(xi, "exponential")
    assert expo.energy(s).item() == pytest.approx(-math.log(math.e + math.e))
    rect = DenseAssociativeMemory(xi, "polynomial", degree=2, rectified=True)
    # s' = (-1, -1, 1): overlaps -1 - 1 - 1 = -3 -> 0 and -1 + 1 + 1 = 1 -> 1^2; E = -1
    assert rect.energy(torch.tensor([[-1.0, -1.0, 1.0]])).item() == pytest.approx(-1.0)


@pytest.mark.parametrize("interaction", ["polynomial", "exponential"])
def test_energy_never_increases(interaction):
    mem = DenseAssociativeMemory(_patterns(60, 30, 0), interaction, degree=3, order="random")
    traj = mem.run(_patterns(12, 30, 1), steps=6, generator=0)
    assert (traj.max_energy_increase() <= 1e-9).all()


def test_polynomial_stores_beyond_classical_capacity():
    # N = 40, P = 30 = 0.75 N: five times the Hebbian limit 0.138 N = 5.5, well below the
    # degree-3 capacity 1600 / (6 ln 40) = 72
    xi = _patterns(30, 40, 2).double()
    dam = DenseAssociativeMemory(xi, "polynomial", degree=3)
    assert torch.equal(dam.step(xi), xi)
    hebb = HopfieldNetwork.from_patterns(xi, dtype=torch.float64)
    assert (hebb.step(xi) != xi).any()


def test_exponential_retrieves_from_corrupted_cue():
    xi = _patterns(300, 24, 3).double()  # 300 patterns in 24 units (2^(N/2) = 4096)
    dam = DenseAssociativeMemory(xi, "exponential")
    cue = xi[:50].clone()
    cue[:, :2] *= -1  # two flipped bits each
    assert torch.equal(dam.run(cue, steps=5, tol=0.0).final, xi[:50])


def test_modern_hopfield_energy_hand_computed():
    # one memory x = (3, 4), state 0: -lse(0) + 0 + log(1) + 1/2 * 25 = 12.5
    e = modern_hopfield_energy(torch.zeros(1, 2), torch.tensor([[3.0, 4.0]]), beta=1.0)
    assert e.item() == pytest.approx(12.5)


def test_modern_hopfield_descends_and_retrieves():
    g = torch.Generator().manual_seed(4)
    mem = torch.randn(20, 16, generator=g, dtype=torch.float64)
    # equal norms make every memory separated (x_i.x_i > x_i.x_j), as the retrieval theorem needs
    mem = 4.0 * mem / mem.norm(dim=1, keepdim=True)
    model = ModernHopfield(mem, beta=2.0, dtype=torch.float64)
    query = mem[:5] + 0.3 * torch.randn(5, 16, generator=g, dtype=torch.float64)
    traj = model.run(query, steps=5)
    assert (traj.max_energy_increase() <= 1e-9).all()
    # well separated memories: the fixed point lies within a small distance of x_mu
    assert torch.allclose(traj.final, mem[:5], atol=1e-2)
    assert not torch.allclose(query, mem[:5], atol=1e-1)
    low = ModernHopfield(mem, beta=1e-3, dtype=torch.float64)  # beta -> 0: the mean pattern
    assert torch.allclose(low.step(query), mem.mean(0).expand(5, -1), atol=1e-2)


def test_hopfield_layer_shapes_retrieval_and_gradients():
    layer = HopfieldLayer(8, 8, 8, 8, beta=50.0, generator=0)
    with torch.no_grad():
        for w in (layer.w_q, layer.w_k, layer.w_v):
            w.copy_(torch.eye(8))
    stored = torch.eye(8).unsqueeze(0) * 2.0  # (1, 8, 8): orthogonal memories
    query = stored[:, [3, 5]] + 0.1  # (1, 2, 8)
    out = layer(query, stored)
    assert out.shape == (1, 2, 8)
    assert torch.allclose(out, stored[:, [3, 5]], atol=1e-6)

    learned = HopfieldLayer(4, 6, 5, 3, n_memories=7, update_steps=2, generator=1)
    y = learned(torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(0)))
    assert y.shape == (2, 3, 3)
    y.sum().backward()
    assert learned.memory is not None
    assert learned.memory.grad is not None
    assert learned.memory.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="n_memories"):
        HopfieldLayer(4, 4, 4, 4)(torch.zeros(1, 1, 4))
