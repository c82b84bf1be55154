"""Ways to watch an RBM learn: reconstruction error, free-energy gap, pseudo-likelihood and AIS.

Functions take a fitted RBM and data in the caller's units (numpy) or in model space (tensors), and
return Python floats. Reconstruction error is cheap but not what CD optimises; the free-energy gap
between held-out and training data grows when the model overfits (Hinton's guide, section 6);
pseudo-likelihood and the AIS log-likelihood (Salakhutdinov & Murray 2008) measure the density itself.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from layerwise.rbm._validation import torch_generator


def _model_space(rbm, X) -> torch.Tensor:
    if isinstance(X, torch.Tensor):
        n_visible = rbm.params_.shape[0] - 1
        if X.ndim != 2 or X.shape[1] != n_visible:
            raise ValueError(f"X has shape {tuple(X.shape)}, but {type(rbm).__name__} has {n_visible} visible "
                             f"units: expected (n_samples, {n_visible}).")
        return X.to(rbm.params_.device, rbm.params_.dtype)
    return rbm._to_model_space(rbm._validate(X, reset=False))


def _require_binary(rbm, what: str) -> None:
    if not getattr(rbm, "_binary_visible", False):
        raise TypeError(f"{what} is defined for binary RBMs (BernoulliRBM); {type(rbm).__name__} has real-valued "
                        "visible units. Compare such models with free_energy_gap or reconstruction_error.")


@torch.no_grad()
def reconstruction_error(rbm, X) -> float:
    """Mean squared error of one mean-field pass v → P(h|v) → E[v|h], in model space."""
    v = _model_space(rbm, X)
    recon = rbm._visible_mean(rbm._visible_pre(rbm._hidden_probs(v)))
    return float(((recon - v) ** 2).mean())


@torch.no_grad()
def free_energy_gap(rbm, X_train, X_valid) -> float:
    """Mean free energy of ``X_valid`` minus that of ``X_train``; a growing gap signals overfitting."""
    return float(rbm._free_energy(_model_space(rbm, X_valid)).mean()
                 - rbm._free_energy(_model_space(rbm, X_train)).mean())


@torch.no_grad()
def pseudo_likelihood(rbm, X, chunk: int = 256) -> float:
    """Exact mean pseudo-log-likelihood Σ_i log P(v_i | v_-i) of binary rows ``X`` (n, nv).

    Flipping unit i changes the hidden inputs by (1 − 2 v_i) W_i, so all nv flips of a row are one
    broadcast of shape (rows, nv, nh); rows go in chunks to bound memory. Rows in [0, 1] that are not binary
    (grey levels) get the same formula with 1 − v_i as the flip, as scikit-learn's ``score_samples`` does: a
    figure to compare models by, not a likelihood.
    """
    _require_binary(rbm, "pseudo_likelihood")
    v_all = _model_space(rbm, X)
    W, b, c = rbm._W, rbm.params_[:-1, -1], rbm.params_[-1, :-1]
    total = 0.0
    for v in v_all.split(chunk):
        pre = v @ W + c  # (n, nh)
        sign = 1.0 - 2.0 * v  # +1 turns a unit on, −1 off
        pre_flip = pre[:, None, :] + sign[:, :, None] * W[None, :, :]
        # F(flipped) − F(v) = −sign·b − Σ_j [softplus(pre_flip) − softplus(pre)]
        gap = -sign * b - (F.softplus(pre_flip) - F.softplus(pre)[:, None, :]).sum(2)
        total += float(-F.softplus(-gap).sum())
    return total / v_all.shape[0]


@torch.no_grad()
def exact_log_partition(rbm) -> float:
    """log Z by summing over every state of the smaller layer of a binary RBM (at most 24 units)."""
    _require_binary(rbm, "exact_log_partition")
    W, b, c = rbm._W.double(), rbm.params_[:-1, -1].double(), rbm.params_[-1, :-1].double()
    nv, nh = W.shape
    if min(nv, nh) > 24:
        raise ValueError(f"exact_log_partition enumerates 2^min(nv, nh) states; got nv={nv}, nh={nh}.")
    if nh <= nv:
        h = _all_states(nh, W.device)
        terms = h @ c + F.softplus(h @ W.T + b).sum(1)
    else:
        v = _all_states(nv, W.device)
        terms = v @ b + F.softplus(v @ W + c).sum(1)
    return float(torch.logsumexp(terms, 0))


def _all_states(n: int, device) -> torch.Tensor:
    codes = torch.arange(2**n, device=device)
    return ((codes[:, None] >> torch.arange(n, device=device)) & 1).double()


@torch.no_grad()
def ais_log_partition(rbm, *, n_betas: int = 10000, n_runs: int = 100, base_visible_bias=None,
                      random_state=None) -> tuple[float, float]:
    """Annealed importance sampling estimate of log Z for a binary RBM; returns (log Z, its std error).

    Anneals from a base RBM with no weights and visible biases ``base_visible_bias`` (default: the
    model's own, which is a fair choice once trained; pass the data's log-odds for a better base)
    through ``n_betas`` temperatures, with ``n_runs`` parallel runs.
    """
    _require_binary(rbm, "ais_log_partition")
    if int(n_betas) < 2 or int(n_runs) < 1:
        raise ValueError(f"ais_log_partition needs n_betas >= 2 (the temperatures from 0 to 1) and n_runs >= 1; "
                         f"got n_betas={n_betas}, n_runs={n_runs}.")
    gen = torch_generator(random_state, rbm.params_.device)
    W, b, c = rbm._W.double(), rbm.params_[:-1, -1].double(), rbm.params_[-1, :-1].double()
    bA = b.clone() if base_visible_bias is None else torch.as_tensor(base_visible_bias, dtype=torch.float64,
                                                                       device=W.device)
    betas = torch.linspace(0.0, 1.0, int(n_betas), dtype=torch.float64).tolist()
    nh = W.shape[1]

    def log_p_star(v: torch.Tensor, beta: float) -> torch.Tensor:
        # Unnormalised log marginal of the intermediate model at inverse temperature beta.
        return (1 - beta) * (v @ bA) + beta * (v @ b) + F.softplus(beta * (v @ W + c)).sum(1)

    v = torch.bernoulli(torch.sigmoid(bA).expand(int(n_runs), -1).contiguous(), generator=gen)
    log_w = torch.zeros(int(n_runs), dtype=torch.float64, device=W.device)
    for prev, beta in zip(betas[:-1], betas[1:]):
        log_w += log_p_star(v, beta) - log_p_star(v, prev)
        h = torch.bernoulli(torch.sigmoid(beta * (v @ W + c)), generator=gen)
        v = torch.bernoulli(torch.sigmoid((1 - beta) * bA + beta * (h @ W.T + b)), generator=gen)
    log_za = float(F.softplus(bA).sum()) + nh * math.log(2.0)
    log_mean_w = float(torch.logsumexp(log_w, 0)) - math.log(n_runs)
    # Delta method: std of the mean importance weight relative to the mean, in log space.
    w = torch.exp(log_w - log_w.max())
    rel_se = float(w.std() / (w.mean() * math.sqrt(n_runs))) if n_runs > 1 else float("nan")
    return log_za + log_mean_w, rel_se


@torch.no_grad()
def log_likelihood(rbm, X, log_z: float) -> float:
    """Mean log-likelihood −F(v) − log Z of binary rows ``X`` given a log partition function."""
    return float(-rbm._free_energy(_model_space(rbm, X)).mean()) - float(log_z)


def monitor_report(rbm, X_train, X_valid) -> dict[str, float]:
    """The cheap monitors at once (reconstruction error, free-energy gap), for logging."""
    return {"reconstruction_error": reconstruction_error(rbm, X_train),
            "free_energy_gap": free_energy_gap(rbm, X_train, X_valid)}


__all__ = ["reconstruction_error", "free_energy_gap", "pseudo_likelihood", "exact_log_partition",
           "ais_log_partition", "log_likelihood", "monitor_report"]
