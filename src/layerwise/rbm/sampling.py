"""Block Gibbs sampling from a fitted RBM: free chains, burn-in and thinning, clamped (conditional) chains.

All functions work in the model's space (torch tensors on its device) and run every chain in parallel;
the only Python loop is over Gibbs steps.
"""
from __future__ import annotations

import torch


def gibbs_step(rbm, v: torch.Tensor, gen: torch.Generator, *, mean_field: bool = False) -> torch.Tensor:
    """One step v → h → v'. ``mean_field`` uses P(h|v) and E[v|h] instead of samples; shape (n, nv)."""
    ph = rbm._hidden_probs(v)
    if mean_field:
        return rbm._visible_mean(rbm._visible_pre(ph))
    h = torch.bernoulli(ph, generator=gen)
    return rbm._visible_sample(rbm._visible_pre(h), gen)


def _random_start(rbm, n: int, gen: torch.Generator) -> torch.Tensor:
    """Start rows drawn from the visible units alone (hidden units all off)."""
    pre = rbm.params_[:-1, -1].expand(n, -1)
    return rbm._visible_sample(pre.contiguous(), gen)


def sample_chains(rbm, n_samples: int, *, burn_in: int = 1000, thin: int = 1, n_chains: int | None = None,
                  init: torch.Tensor | None = None, generator: torch.Generator) -> torch.Tensor:
    """``n_samples`` visible states, shape (n_samples, nv).

    ``n_chains`` parallel chains (default ``n_samples``) start from ``init`` rows (cycled if fewer) or
    from random rows, run ``burn_in`` steps, then each contributes every ``thin``-th state.
    """
    n_chains = n_samples if n_chains is None else min(int(n_chains), n_samples)
    if n_samples < 1 or n_chains < 1 or burn_in < 0 or thin < 1:
        raise ValueError(f"need n_samples >= 1, n_chains >= 1, burn_in >= 0, thin >= 1; got {n_samples}, "
                         f"{n_chains}, {burn_in}, {thin}.")
    if init is None:
        v = _random_start(rbm, n_chains, generator)
    else:
        v = init[torch.arange(n_chains, device=init.device) % init.shape[0]].clone()
    for _ in range(burn_in):
        v = gibbs_step(rbm, v, generator)
    kept = []
    per_chain = -(-n_samples // n_chains)
    for _ in range(per_chain):
        for _ in range(thin):
            v = gibbs_step(rbm, v, generator)
        kept.append(v)
    # Round by round, so the first rows come from different chains (and a cut drops the last round's).
    return torch.stack(kept, dim=0).reshape(-1, v.shape[1])[:n_samples]


def conditional_chain(rbm, v: torch.Tensor, observed: torch.Tensor, *, n_steps: int, generator: torch.Generator,
                      mean_field: bool = False, average_from: int | None = None) -> torch.Tensor:
    """Update the unobserved entries of ``v`` (n, nv) with the observed ones clamped.

    ``observed``: boolean mask (n, nv). With ``mean_field`` the entries converge to a fixed point of
    v_u = E[v_u | P(h | v)]; otherwise they are a Gibbs sample after ``n_steps``. With sampling and
    ``average_from`` set, the returned values instead average E[v_u | h] over the steps from
    ``average_from`` on (a Rao–Blackwellised estimate of the conditional mean).
    """
    for group in getattr(rbm, "_group_index", []):
        seen = observed[:, group]
        partial = seen.any(1) & ~seen.all(1)
        if bool(partial.any()):
            raise ValueError(f"Row {int(partial.nonzero()[0])} observes part of the one-hot group of columns "
                             f"{group.tolist()}; a softmax group is observed whole or not at all.")
    v = torch.where(observed, v, v)  # a copy: the caller's tensor is never changed
    total, count = torch.zeros_like(v), 0
    for step in range(n_steps):
        ph = rbm._hidden_probs(v)
        if mean_field:
            new = rbm._visible_mean(rbm._visible_pre(ph))
        else:
            pre = rbm._visible_pre(torch.bernoulli(ph, generator=generator))
            new = rbm._visible_sample(pre, generator)
            if average_from is not None and step >= average_from:
                total += rbm._visible_mean(pre)
                count += 1
        v = torch.where(observed, v, new)
    if count:
        v = torch.where(observed, v, total / count)
    return v
