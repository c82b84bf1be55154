"""A Gaussian–Bernoulli RBM whose visible units are also connected to each other: a semi-restricted
Boltzmann machine (Osindero & Hinton, NIPS 2008), the model ``RBMImputer`` fills missing values with.

Energy, for standardised real-valued visible units v (nv) and binary hidden units h (nh)::

    E(v, h) = ½ vᵀΛv − bᵀv − cᵀh − vᵀWh,     Λ = LLᵀ  (L lower triangular, positive diagonal)

so p(h_j = 1 | v) = σ(c_j + vᵀW_j) and p(v | h) = N(Λ⁻¹(b + Wh), Λ⁻¹). The lateral connections are the
off-diagonal entries of the precision Λ: they let the visible units express linear relations between
columns (radius, perimeter and area of a cell nucleus) directly, which hidden units alone learn only
slowly, while the hidden units model what is not Gaussian. With ``lateral=False`` L is diagonal: a plain
Gaussian–Bernoulli RBM with learned variances. Given a row's observed entries o, its missing ones m are
Gaussian given h: N(μ_m − Λ_mm⁻¹Λ_mo(v_o − μ_o), Λ_mm⁻¹) with μ = Λ⁻¹(b + Wh).

Training is CD-1: the gradient of mean F(data) − mean F(reconstruction) with respect to the parameters,
the reconstruction held fixed, is the CD estimate of the log-likelihood gradient (F is the free energy);
autograd takes it through the parametrisation Λ = LLᵀ, which keeps Λ positive definite, and Adam steps.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

# Floats per (rows, nv, nv) block of the conditional Gaussian: each row has its own missing pattern and so
# its own (nv, nv) system; rows are solved in chunks that keep each block near 64 MiB.
_FLOATS_PER_SOLVE = 2**24


class LateralGaussianRBM(nn.Module):
    """Parameters ``b`` (nv), ``c`` (nh), ``W`` (nv, nh) and the precision factor's raw entries."""

    def __init__(self, n_visible: int, n_hidden: int, *, lateral: bool = True, init_scale: float = 0.05,
                 generator: torch.Generator, device: torch.device | None = None, dtype: torch.dtype | None = None):
        super().__init__()
        self.lateral = lateral
        like = dict(device=device, dtype=dtype)
        self.b = nn.Parameter(torch.zeros(n_visible, **like))
        self.c = nn.Parameter(torch.zeros(n_hidden, **like))
        self.W = nn.Parameter(init_scale * torch.randn(n_visible, n_hidden, generator=generator, **like))
        # L = tril(raw, -1) + diag(exp(diag(raw))): zeros give Λ = I, unit variances on standardised data.
        self.L_raw = nn.Parameter(torch.zeros(n_visible, n_visible, **like))

    def precision_factor(self) -> torch.Tensor:
        """L with Λ = LLᵀ, (nv, nv)."""
        diagonal = torch.diag(torch.exp(torch.diagonal(self.L_raw)))
        return torch.tril(self.L_raw, -1) + diagonal if self.lateral else diagonal

    def precision(self) -> torch.Tensor:
        L = self.precision_factor()
        return L @ L.T

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = ½ vᵀΛv − bᵀv − Σ softplus(c + vᵀW), shape (n,)."""
        vL = v @ self.precision_factor()
        return 0.5 * vL.square().sum(1) - v @ self.b - F.softplus(v @ self.W + self.c).sum(1)

    def hidden_probs(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(v @ self.W + self.c)

    def _visible_mean(self, h: torch.Tensor, L: torch.Tensor) -> torch.Tensor:
        """E[v | h] = Λ⁻¹(b + Wh) for every row of ``h`` (n, nh), with Λ = LLᵀ."""
        return torch.cholesky_solve((self.b + h @ self.W.T).T, L).T

    def visible_sample(self, h: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """A draw from p(v | h) for every row of ``h`` (n, nh): E[v | h] plus L⁻ᵀz."""
        L = self.precision_factor()
        mean = self._visible_mean(h, L)
        z = torch.randn(mean.shape, generator=generator, device=mean.device)
        return mean + torch.linalg.solve_triangular(L.T, z.T, upper=True).T

    def fill_missing(self, v: torch.Tensor, observed: torch.Tensor, h: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
        """``v`` (n, nv) with its unobserved entries replaced by their conditional mean given the observed
        ones and ``h``, or by a draw from that Gaussian when ``generator`` is given."""
        L = self.precision_factor()
        mean = self._visible_mean(h, L)
        if not self.lateral:  # diagonal precision: the columns are independent given h
            fill = mean
            if generator is not None:
                fill = mean + torch.randn(mean.shape, generator=generator, device=mean.device) / torch.diagonal(L)
            return torch.where(observed, v, fill)
        precision = L @ L.T
        rows = max(1, _FLOATS_PER_SOLVE // precision.numel())
        return torch.cat([self._fill_rows(v[i:i + rows], observed[i:i + rows], mean[i:i + rows], precision, generator)
                          for i in range(0, v.shape[0], rows)])

    @staticmethod
    def _fill_rows(v, observed, mean, precision, generator):
        # Each row solves Λ_mm x_m = −Λ_mo x_o for its own missing set m; observed rows and columns of
        # the system are replaced by the identity so that every row is one (nv, nv) positive-definite solve.
        missing = (~observed).to(v.dtype)
        deviation = (v - mean) * observed
        system = missing[:, :, None] * precision * missing[:, None, :] + torch.diag_embed(1.0 - missing)
        chol = torch.linalg.cholesky(system)
        x = torch.cholesky_solve((-(deviation @ precision) * missing)[:, :, None], chol)[:, :, 0]
        if generator is not None:
            z = torch.randn(v.shape, generator=generator, device=v.device)[:, :, None]
            x = x + torch.linalg.solve_triangular(chol.transpose(1, 2), z, upper=True)[:, :, 0]
        return torch.where(observed, v, mean + x)

    def fit_epochs(self, Z: torch.Tensor, n_epochs: int, batch_size: int, optimizer: torch.optim.Optimizer,
                   generator: torch.Generator) -> None:
        """``n_epochs`` shuffled passes of CD-1 over the complete rows ``Z`` (n, nv)."""
        for _ in range(n_epochs):
            for idx in torch.randperm(Z.shape[0], generator=generator, device=Z.device).split(batch_size):
                v0 = Z[idx]
                with torch.no_grad():
                    v1 = self.visible_sample(torch.bernoulli(self.hidden_probs(v0), generator=generator), generator)
                loss = self.free_energy(v0).mean() - self.free_energy(v1).mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

    @torch.no_grad()
    def conditional_chain(self, v: torch.Tensor, observed: torch.Tensor, n_steps: int,
                          generator: torch.Generator, *, mean_field: bool) -> torch.Tensor:
        """Alternate h | v and v_missing | v_observed, h for ``n_steps``: a Gibbs draw of the missing
        entries, or with ``mean_field`` the fixed point of their conditional means given P(h | v)."""
        for _ in range(n_steps):
            ph = self.hidden_probs(v)
            if mean_field:
                v = self.fill_missing(v, observed, ph)
            else:
                v = self.fill_missing(v, observed, torch.bernoulli(ph, generator=generator), generator)
        return v
