"""EnergyRegularizedLoss: lam = 0 is exactly cross-entropy; lam > 0 adds lam * E."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spikeenergy.energy import ActivityEnergy, EnergyRegularizedLoss, LossParts, SynapticOps
from spikeenergy.models import ModelSpec, build_model
from spikeenergy.record import ActivityRecorder

SHAPE = (2, 4, 4)


def _grads(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("family", ["snn-cnn", "mlp"])
def test_lambda_zero_is_exactly_the_cross_entropy_step(family):
    torch.manual_seed(0)
    model = build_model(ModelSpec(family, hidden=(6,), conv_channels=(3,)), SHAPE, 3)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(4, 5, *SHAPE, generator=g) < 0.4).float()
    y = torch.tensor([0, 1, 2, 0, 1])

    model.zero_grad()
    plain = F.cross_entropy(model(x), y)
    plain.backward()
    g_plain = _grads(model)

    loss = EnergyRegularizedLoss(F.cross_entropy, ActivityEnergy() + SynapticOps(), lam=0.0)
    model.zero_grad()
    with ActivityRecorder(model, needs=loss.needs) as rec:
        parts = loss(model(x), y, rec.record())
    parts.total.backward()
    assert isinstance(parts, LossParts)
    assert parts.total.item() == plain.item()
    assert parts.energy.item() > 0
    assert not parts.energy.requires_grad
    for a, b in zip(g_plain, _grads(model), strict=True):
        assert torch.equal(a, b)

    # lam > 0: total = task + lam * energy and the gradient changes
    loss = EnergyRegularizedLoss(F.cross_entropy, ActivityEnergy(), lam=0.5)
    model.zero_grad()
    with ActivityRecorder(model, needs=loss.needs) as rec:
        parts = loss(model(x), y, rec.record())
    assert parts.total.item() == pytest.approx(parts.task.item() + 0.5 * parts.energy.item())
    parts.total.backward()
    assert any(not torch.equal(a, b) for a, b in zip(g_plain, _grads(model), strict=True))


def test_energy_pressure_lowers_activity():
    # a few steps of pure energy pressure (large lam) must reduce the recorded activity
    torch.manual_seed(0)
    model = build_model(ModelSpec("snn-mlp", hidden=(16,)), SHAPE, 2)
    x = (torch.rand(6, 8, *SHAPE) < 0.5).float() * 2.0
    y = torch.arange(8) % 2
    loss = EnergyRegularizedLoss(F.cross_entropy, ActivityEnergy(), lam=50.0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    energies = []
    with ActivityRecorder(model, needs=loss.needs) as rec:
        for _ in range(10):
            rec.clear()
            parts = loss(model(x), y, rec.record())
            opt.zero_grad()
            parts.total.backward()
            opt.step()
            energies.append(parts.energy.item())
    assert energies[0] > 0.05, energies
    assert energies[-1] < 0.5 * energies[0], energies


def test_invalid_lambda_and_energy():
    with pytest.raises(ValueError, match="lam"):
        EnergyRegularizedLoss(F.cross_entropy, ActivityEnergy(), lam=-1.0)
    with pytest.raises(ValueError, match="lam"):
        EnergyRegularizedLoss(F.cross_entropy, ActivityEnergy(), lam=float("nan"))
    with pytest.raises(TypeError, match="EnergyTerm"):
        EnergyRegularizedLoss(F.cross_entropy, lambda r: 0.0, lam=1.0)  # type: ignore[arg-type]
