"""The semi-restricted Gaussian RBM behind RBMImputer, checked against the Gaussian formulas it must obey."""
from __future__ import annotations

import numpy as np
import torch

from layerwise.rbm.lateral import LateralGaussianRBM


def _model(seed: int = 0, nv: int = 5, nh: int = 3) -> LateralGaussianRBM:
    gen = torch.Generator().manual_seed(seed)
    model = LateralGaussianRBM(nv, nh, init_scale=0.5, generator=gen).double()
    with torch.no_grad():
        model.L_raw.copy_(0.3 * torch.randn(nv, nv, generator=gen, dtype=torch.float64))
        model.b.copy_(torch.randn(nv, generator=gen, dtype=torch.float64))
        model.c.copy_(torch.randn(nh, generator=gen, dtype=torch.float64))
    return model


def test_missing_entries_get_the_gaussian_conditional_mean():
    """E[v_m | v_o, h] = μ_m + Σ_mo Σ_oo⁻¹ (v_o − μ_o) with Σ = Λ⁻¹ and μ = Σ(b + Wh), row by row."""
    model = _model()
    rng = np.random.default_rng(1)
    v = torch.tensor(rng.normal(size=(6, 5)))
    h = torch.tensor(rng.integers(0, 2, size=(6, 3)), dtype=torch.float64)
    observed = torch.tensor(rng.random((6, 5)) < 0.5)
    observed[0] = True  # a complete row stays as it is
    observed[1] = False  # a row with nothing observed gets the unconditional mean
    with torch.no_grad():
        filled = model.fill_missing(v, observed, h).numpy()
        cov = np.linalg.inv(model.precision().numpy())
        means = (cov @ (model.b + h @ model.W.T).numpy().T).T
    for r in range(6):
        o, m = observed[r].numpy(), ~observed[r].numpy()
        expected = v[r].numpy().copy()
        expected[m] = means[r, m] + cov[np.ix_(m, o)] @ np.linalg.solve(cov[np.ix_(o, o)],
                                                                       v[r].numpy()[o] - means[r, o])
        np.testing.assert_allclose(filled[r], expected, atol=1e-10)


def test_draws_have_the_conditional_and_joint_covariances():
    model = _model(seed=2)
    gen = torch.Generator().manual_seed(3)
    n = 40_000
    with torch.no_grad():
        cov = np.linalg.inv(model.precision().numpy())
        h = torch.zeros(n, 3, dtype=torch.float64)
        joint = model.visible_sample(h, gen).numpy()
        observed = torch.tensor([True, False, True, False, False]).expand(n, 5)
        v = torch.zeros(n, 5, dtype=torch.float64)
        conditional = model.fill_missing(v, observed, h, gen).numpy()
        mean = model.fill_missing(v[:1], observed[:1], h[:1]).numpy()[0]
    np.testing.assert_allclose(np.cov(joint.T), cov, atol=0.03 * np.abs(cov).max())
    o, m = np.array([0, 2]), np.array([1, 3, 4])
    expected = cov[np.ix_(m, m)] - cov[np.ix_(m, o)] @ np.linalg.solve(cov[np.ix_(o, o)], cov[np.ix_(o, m)])
    np.testing.assert_allclose(np.cov(conditional[:, m].T), expected, atol=0.03 * np.abs(expected).max())
    np.testing.assert_allclose(conditional[:, m].mean(0), mean[m], atol=0.02)
    np.testing.assert_array_equal(conditional[:, o], 0.0)  # observed entries are never touched


def test_cd_gradient_is_data_minus_reconstruction_statistics():
    """Autograd of mean F(v0) − mean F(v1) equals the CD-1 statistics: −<v>, −<v P(h|v)ᵀ>, ½<vvᵀ> through L."""
    model = _model(seed=4)
    rng = np.random.default_rng(5)
    v0, v1 = torch.tensor(rng.normal(size=(7, 5))), torch.tensor(rng.normal(size=(7, 5)))
    loss = model.free_energy(v0).mean() - model.free_energy(v1).mean()
    loss.backward()
    with torch.no_grad():
        p0, p1 = model.hidden_probs(v0), model.hidden_probs(v1)
        np.testing.assert_allclose(model.b.grad, -(v0.mean(0) - v1.mean(0)), atol=1e-12)
        np.testing.assert_allclose(model.W.grad, -(v0.T @ p0 - v1.T @ p1) / 7, atol=1e-12)
        np.testing.assert_allclose(model.c.grad, -(p0.mean(0) - p1.mean(0)), atol=1e-12)
        # ∂/∂Λ of ½ vᵀΛv is ½ vvᵀ; through Λ = LLᵀ that is (vvᵀ) L, on L's lower triangle.
        L = model.precision_factor()
        grad_L = ((v0.T @ v0 - v1.T @ v1) / 7) @ L
        expected = torch.tril(grad_L, -1) + torch.diag(torch.diagonal(grad_L) * torch.diagonal(L))
        np.testing.assert_allclose(model.L_raw.grad, expected, atol=1e-12)


def test_free_energy_marginalises_the_hidden_units():
    """exp(−F(v)) = Σ_h exp(−E(v, h)), by enumerating the 2³ hidden states."""
    model = _model(seed=6)
    v = torch.tensor(np.random.default_rng(7).normal(size=(4, 5)))
    states = torch.tensor([[(k >> j) & 1 for j in range(3)] for k in range(8)], dtype=torch.float64)
    with torch.no_grad():
        quad = 0.5 * ((v @ model.precision()) * v).sum(1, keepdim=True) - (v @ model.b)[:, None]
        energy = quad - states @ model.c - v @ model.W @ states.T  # (4, 8)
        np.testing.assert_allclose(model.free_energy(v), -torch.logsumexp(-energy, dim=1), atol=1e-10)


def test_without_lateral_connections_the_precision_is_diagonal():
    gen = torch.Generator().manual_seed(0)
    model = LateralGaussianRBM(4, 2, lateral=False, generator=gen)
    with torch.no_grad():
        model.L_raw.normal_(generator=gen)
        precision = model.precision()
    np.testing.assert_array_equal(precision - torch.diag(torch.diagonal(precision)), 0.0)
    assert (torch.diagonal(precision) > 0).all()


def test_chunked_solves_and_the_diagonal_shortcut_agree_with_the_direct_formulas(monkeypatch):
    from layerwise.rbm import lateral

    model = _model(seed=8)
    rng = np.random.default_rng(9)
    v = torch.tensor(rng.normal(size=(50, 5)))
    h = torch.tensor(rng.integers(0, 2, size=(50, 3)), dtype=torch.float64)
    observed = torch.tensor(rng.random((50, 5)) < 0.6)
    with torch.no_grad():
        whole = model.fill_missing(v, observed, h)
        monkeypatch.setattr(lateral, "_FLOATS_PER_SOLVE", 7 * 25)  # 7 rows per solve
        np.testing.assert_allclose(model.fill_missing(v, observed, h), whole, atol=1e-12)
        model.lateral = False  # the same parameters with a diagonal precision
        L = model.precision_factor()
        means = torch.cholesky_solve((model.b + h @ model.W.T).T, L).T
        np.testing.assert_allclose(model.fill_missing(v, observed, h), torch.where(observed, v, means), atol=1e-12)
        draws = model.fill_missing(v[:1].expand(4000, 5), observed[:1].expand(4000, 5), h[:1].expand(4000, 3),
                                   torch.Generator().manual_seed(0))
        missing = ~observed[0]
        np.testing.assert_allclose(draws[:, missing].std(0), 1 / torch.diagonal(L)[missing], rtol=0.05)
