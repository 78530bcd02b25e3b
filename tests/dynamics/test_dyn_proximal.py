"""LCA sparse coding against scikit-learn's Lasso, and proximal-gradient flows against scipy."""

import numpy as np
import pytest
import torch
from scipy.optimize import lsq_linear, minimize
from sklearn.linear_model import Lasso

from spikeenergy.dynamics import (
    LCA,
    BoxConstraint,
    L1Penalty,
    ProximalGradientFlow,
    SimplexConstraint,
    hard_threshold,
    project_simplex,
    soft_threshold,
)


def _problem(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    phi = torch.randn(20, 40, generator=g, dtype=torch.float64)
    phi = phi / phi.norm(dim=0)  # unit-norm atoms
    x = torch.randn(4, 20, generator=g, dtype=torch.float64)
    return phi, x


def test_thresholds_hand_computed():
    u = torch.tensor([-2.0, -0.5, 0.0, 0.3, 1.5])
    # soft at 1: sign(u) max(|u| - 1, 0) = (-1, 0, 0, 0, 0.5); hard keeps |u| > 1 unchanged
    assert torch.equal(soft_threshold(u, 1.0), torch.tensor([-1.0, 0.0, 0.0, 0.0, 0.5]))
    assert torch.equal(hard_threshold(u, 1.0), torch.tensor([-2.0, 0.0, 0.0, 0.0, 1.5]))


@pytest.mark.parametrize("threshold", ["soft", "hard"])
def test_lca_energy_never_increases(threshold):
    phi, x = _problem(1)
    lca = LCA(phi, x, lam=0.3, threshold=threshold, dt=0.05)
    traj = lca.run(lca.initial_state(), t_span=30.0)
    assert (traj.max_energy_increase() <= 1e-9).all()
    assert (traj.final_energy < traj.energies[0]).all()


def test_lca_converges_to_sklearn_lasso():
    phi, x = _problem(2)
    lam = 0.2
    codes = LCA(phi, x, lam=lam, dt=0.2).solve(steps=5000, tol=1e-12)
    # sklearn minimises (1 / (2 D)) ||x - Phi a||^2 + alpha ||a||_1: alpha = lam / D, D = 20
    for b in range(x.shape[0]):
        ref = Lasso(alpha=lam / 20, fit_intercept=False, tol=1e-12, max_iter=100_000)
        ref.fit(phi.numpy(), x[b].numpy())
        np.testing.assert_allclose(codes[b].numpy(), ref.coef_, atol=1e-5)
    assert (codes == 0).double().mean() > 0.3  # the l1 penalty makes the code sparse


def test_project_simplex_matches_scipy():
    assert torch.allclose(project_simplex(torch.tensor([[2.0, 0.0]])), torch.tensor([[1.0, 0.0]]))
    # (0.5, 0.5) already lies on the simplex
    assert torch.allclose(project_simplex(torch.tensor([[0.5, 0.5]])), torch.tensor([[0.5, 0.5]]))
    rng = np.random.default_rng(0)
    v = rng.normal(size=6)
    ref = minimize(
        lambda y: 0.5 * np.sum((y - v) ** 2),
        np.full(6, 1 / 6),
        method="SLSQP",
        bounds=[(0, None)] * 6,
        constraints=[{"type": "eq", "fun": lambda y: y.sum() - 1}],
        options={"ftol": 1e-12},
    ).x
    out = project_simplex(torch.tensor(v)[None])[0].numpy()
    np.testing.assert_allclose(out, ref, atol=1e-6)


def _least_squares(seed: int):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(15, 6))
    y = rng.normal(size=15)
    at, yt = torch.tensor(a), torch.tensor(y)
    lip = float(np.linalg.eigvalsh(a.T @ a).max())  # Lipschitz constant of grad f

    def f(x: torch.Tensor) -> torch.Tensor:
        r = x @ at.T - yt
        return 0.5 * (r * r).sum(-1)

    return a, y, f, 1.0 / lip


def test_box_constrained_flow_matches_lsq_linear():
    a, y, f, eta = _least_squares(3)
    flow = ProximalGradientFlow(f, BoxConstraint(-0.2, 0.3), step_size=eta)
    traj = flow.run(torch.zeros(1, 6, dtype=torch.float64), steps=3000)
    assert (traj.max_energy_increase() <= 1e-12).all()
    ref = lsq_linear(a, y, bounds=(-0.2, 0.3), tol=1e-12).x
    np.testing.assert_allclose(traj.final[0].numpy(), ref, atol=1e-6)


def test_simplex_constrained_flow_matches_slsqp():
    a, y, f, eta = _least_squares(4)
    flow = ProximalGradientFlow(f, SimplexConstraint(), step_size=eta)
    traj = flow.run(torch.full((1, 6), 1 / 6, dtype=torch.float64), steps=3000)
    assert (traj.max_energy_increase() <= 1e-12).all()
    ref = minimize(
        lambda z: 0.5 * np.sum((a @ z - y) ** 2),
        np.full(6, 1 / 6),
        method="SLSQP",
        bounds=[(0, None)] * 6,
        constraints=[{"type": "eq", "fun": lambda z: z.sum() - 1}],
        options={"ftol": 1e-14, "maxiter": 1000},
    ).x
    np.testing.assert_allclose(traj.final[0].numpy(), ref, atol=1e-5)


def test_l1_flow_with_explicit_gradient_matches_lasso():
    a, y, f, eta = _least_squares(5)
    at, yt = torch.tensor(a), torch.tensor(y)
    flow = ProximalGradientFlow(
        f, L1Penalty(0.5), step_size=eta, gradient=lambda x: (x @ at.T - yt) @ at
    )
    out = flow.run(torch.zeros(1, 6, dtype=torch.float64), steps=5000).final[0]
    ref = Lasso(alpha=0.5 / 15, fit_intercept=False, tol=1e-12, max_iter=100_000).fit(a, y)
    np.testing.assert_allclose(out.numpy(), ref.coef_, atol=1e-6)


def test_invalid_arguments_name_the_problem():
    phi, x = _problem(0)
    with pytest.raises(ValueError, match="signal must have shape"):
        LCA(phi, x[:, :5], lam=0.1)
    with pytest.raises(ValueError, match="threshold"):
        LCA(phi, x, lam=0.1, threshold="firm")
    with pytest.raises(ValueError, match="lower"):
        BoxConstraint(1.0, 0.0)


def test_lca_rejects_unstable_euler_step():
    phi, x = _problem(0)
    with pytest.raises(ValueError, match="unstable"):
        LCA(phi, x, lam=0.1, dt=1.5)
