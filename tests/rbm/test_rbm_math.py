"""The RBM's mathematics against brute-force enumeration of every state of tiny models."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from layerwise.rbm import BernoulliRBM, ais_log_partition, exact_log_partition, pseudo_likelihood
from layerwise.rbm import training
from layerwise.rbm.monitoring import _all_states
from layerwise.rbm.sampling import conditional_chain, sample_chains

NV, NH = 4, 3


def tiny_rbm(nv=NV, nh=NH, seed=0, scale=1.0, **kw) -> BernoulliRBM:
    """A fitted-shaped binary RBM with random parameters of the given scale."""
    rng = np.random.RandomState(seed)
    rbm = BernoulliRBM(n_components=nh, random_state=seed, momentum=0, final_momentum=0, weight_decay=0, **kw)
    rbm._setup((rng.rand(5, nv) > 0.5).astype(np.float64))
    with torch.no_grad():
        rbm.params_[:-1, :-1] = torch.as_tensor(rng.normal(0, scale, (nv, nh)), dtype=torch.float32)
        rbm.params_[:-1, -1] = torch.as_tensor(rng.normal(0, scale, nv), dtype=torch.float32)
        rbm.params_[-1, :-1] = torch.as_tensor(rng.normal(0, scale, nh), dtype=torch.float32)
    return rbm


def exact_probs(rbm) -> tuple[torch.Tensor, torch.Tensor]:
    """(all visible states (2^nv, nv), their exact probabilities)."""
    v = _all_states(rbm._W.shape[0], "cpu").float()
    logp = -rbm._free_energy(v).double()
    return v, torch.softmax(logp, 0)


def test_log_likelihood_gradient_matches_autograd_of_exact_likelihood():
    rbm = tiny_rbm(k=30, persistent=False)
    data = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.float32)
    W = rbm._W.double().clone().requires_grad_()
    b = rbm.params_[:-1, -1].double().clone().requires_grad_()
    c = rbm.params_[-1, :-1].double().clone().requires_grad_()
    v_all = _all_states(NV, "cpu")

    def free(v):
        return -(v @ b) - torch.nn.functional.softplus(v @ W + c).sum(1)

    loglik = (-free(data.double()) - torch.logsumexp(-free(v_all), 0)).mean()
    gW, gb, gc = torch.autograd.grad(loglik, (W, b, c))
    # CD-k with long chains from many copies of the data estimates exactly this gradient.
    grad, _ = training._gradient(rbm, data.repeat(10000, 1))
    assert torch.allclose(grad[:-1, :-1].double(), gW, atol=0.025)
    assert torch.allclose(grad[:-1, -1].double(), gb, atol=0.025)
    assert torch.allclose(grad[-1, :-1].double(), gc, atol=0.025)
    assert grad[-1, -1].abs() < 1e-3  # the bias-carrier entry only moves by float32 rounding


def test_cd1_update_matches_its_exact_expectation():
    rbm = tiny_rbm(k=1, persistent=False)
    v0 = torch.tensor([[1, 0, 1, 1]], dtype=torch.float32)
    W, b, c = rbm._W.double(), rbm.params_[:-1, -1].double(), rbm.params_[-1, :-1].double()
    h_all, v_all = _all_states(NH, "cpu"), _all_states(NV, "cpu")

    def bern(p, x):  # P(x) for independent Bernoulli units, all states x at once
        return (x[None] * p[:, None] + (1 - x[None]) * (1 - p[:, None])).prod(-1)

    p_h0 = bern(torch.sigmoid(v0.double() @ W + c), h_all)[0]  # (2^nh,)
    p_v1 = bern(torch.sigmoid(h_all @ W.T + b), v_all)  # (2^nh, 2^nv)
    q_v1 = p_h0 @ p_v1  # distribution of the reconstruction
    ph1 = torch.sigmoid(v_all @ W + c)
    expected_neg = (v_all * q_v1[:, None]).T @ ph1
    expected = v0.double().T @ torch.sigmoid(v0.double() @ W + c) - expected_neg
    grad, _ = training._gradient(rbm, v0.repeat(40000, 1))
    assert torch.allclose(grad[:-1, :-1].double(), expected, atol=0.01)


def test_ais_estimate_is_close_to_exact_log_partition():
    rbm = tiny_rbm(nv=12, nh=8, seed=3, scale=0.7)
    exact = exact_log_partition(rbm)
    estimate, rel_se = ais_log_partition(rbm, n_betas=1000, n_runs=100, random_state=0)
    assert abs(estimate - exact) < 0.05, (estimate, exact)
    assert rel_se < 0.05


def test_exact_log_partition_enumerates_either_layer():
    rbm = tiny_rbm(nv=5, nh=9, seed=1)
    v, p = exact_probs(rbm)
    log_z_from_v = float(torch.logsumexp(-rbm._free_energy(v).double(), 0))
    assert exact_log_partition(rbm) == pytest.approx(log_z_from_v, abs=1e-4)


def test_gibbs_samples_follow_the_exact_distribution():
    rbm = tiny_rbm(nv=3, nh=2, seed=2)
    v_all, p = exact_probs(rbm)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        samples = sample_chains(rbm, 20000, burn_in=30, generator=gen)
    codes = (samples * torch.tensor([1, 2, 4])).sum(1).long()
    observed = torch.bincount(codes, minlength=8).numpy()
    state_codes = (v_all * torch.tensor([1, 2, 4])).sum(1).long().numpy()
    expected = np.empty(8)
    expected[state_codes] = p.numpy() * 20000
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_clamped_sampling_follows_the_exact_conditional():
    rbm = tiny_rbm(nv=3, nh=2, seed=4)
    v_all, p = exact_probs(rbm)
    keep = v_all[:, 0] == 1  # condition on v_0 = 1
    cond = p[keep] / p[keep].sum()
    n = 20000
    start = torch.zeros(n, 3)
    start[:, 0] = 1
    observed_mask = torch.zeros(n, 3, dtype=torch.bool)
    observed_mask[:, 0] = True
    with torch.no_grad():
        out = conditional_chain(rbm, start, observed_mask, n_steps=30, generator=torch.Generator().manual_seed(1))
    assert (out[:, 0] == 1).all() and (start[:, 1:] == 0).all()  # clamped; the input was not touched
    codes = (out[:, 1:] * torch.tensor([1, 2])).sum(1).long()
    observed = torch.bincount(codes, minlength=4).numpy()
    sub_codes = (v_all[keep][:, 1:] * torch.tensor([1, 2])).sum(1).long().numpy()
    expected = np.empty(4)
    expected[sub_codes] = cond.numpy() * n
    assert stats.chisquare(observed, expected).pvalue > 1e-3


def test_pseudo_likelihood_matches_enumeration():
    rbm = tiny_rbm(seed=5)
    data = torch.tensor([[1, 0, 1, 1], [0, 1, 1, 0]], dtype=torch.float32)
    total = 0.0
    for row in data:
        for i in range(NV):
            flipped = row.clone()
            flipped[i] = 1 - flipped[i]
            f = rbm._free_energy(torch.stack([row, flipped])).double()
            total += float(-torch.nn.functional.softplus(f[0] - f[1]))
    assert pseudo_likelihood(rbm, data) == pytest.approx(total / 2, abs=1e-4)


def test_monitors_track_training():
    from sklearn.datasets import load_digits

    from layerwise.rbm import free_energy_gap, log_likelihood, reconstruction_error
    from layerwise.rbm.monitoring import monitor_report

    X = (load_digits().data[:400] > 7).astype(np.float64)
    rbm = BernoulliRBM(n_components=16, n_iter=1, random_state=0).fit(X[:300])
    early = reconstruction_error(rbm, X[:300])
    rbm = BernoulliRBM(n_components=16, n_iter=15, random_state=0).fit(X[:300])
    assert reconstruction_error(rbm, X[:300]) < early
    report = monitor_report(rbm, X[:300], X[300:])
    assert report["free_energy_gap"] == pytest.approx(free_energy_gap(rbm, X[:300], X[300:]))
    small = tiny_rbm(seed=6)
    v_all, p = exact_probs(small)
    rows = v_all[:3]
    expected = float(torch.log(p[:3]).mean())
    assert log_likelihood(small, rows, exact_log_partition(small)) == pytest.approx(expected, abs=1e-4)


def test_public_conditional_sample_follows_the_exact_conditional():
    # the same check through the estimator's method: NaN marks the units to draw, the rest stay clamped
    rbm = tiny_rbm(nv=3, nh=2, seed=4)
    v_all, p = exact_probs(rbm)
    keep = v_all[:, 0] == 1
    cond = p[keep] / p[keep].sum()
    n = 20000
    X = np.full((n, 3), np.nan)
    X[:, 0] = 1.0
    out = rbm.conditional_sample(X, n_steps=30, random_state=1)
    assert out.shape == (n, 3) and (out[:, 0] == 1).all() and np.isnan(X[:, 1:]).all()
    codes = (out[:, 1:] @ np.array([1, 2])).astype(int)
    sub_codes = (v_all[keep][:, 1:] * torch.tensor([1, 2])).sum(1).long().numpy()
    expected = np.empty(4)
    expected[sub_codes] = cond.numpy() * n
    assert stats.chisquare(np.bincount(codes, minlength=4), expected).pvalue > 1e-3
    with pytest.raises(ValueError, match="n_steps must be a positive int"):
        rbm.conditional_sample(X, n_steps=0)


def test_sample_gives_rows_round_by_round():
    # A model that stays where it starts: each chain repeats its first row, so the order shows.
    rbm = tiny_rbm(nv=3, nh=3)
    rbm.components_ = 20 * np.eye(3)
    rbm.intercept_hidden_ = np.full(3, -10.0)
    rbm.intercept_visible_ = np.full(3, -10.0)
    out = rbm.sample(6, n_chains=3, burn_in=0, init=np.eye(3))
    np.testing.assert_array_equal(out, np.vstack([np.eye(3), np.eye(3)]))
    assert out.dtype == np.float64  # the training data's dtype, as transform
    with pytest.raises(TypeError, match="n_samples must be an int"):
        rbm.sample(2.5)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        rbm.sample(2, init=np.full((1, 3), 3.0))


def test_monitors_take_float64_tensors_and_check_their_width():
    from layerwise.rbm import reconstruction_error

    rbm = tiny_rbm()
    assert reconstruction_error(rbm, torch.ones(3, NV, dtype=torch.float64)) == pytest.approx(
        reconstruction_error(rbm, torch.ones(3, NV)))
    with pytest.raises(ValueError, match=r"expected \(n_samples, 4\)"):
        reconstruction_error(rbm, torch.ones(3, NV + 1))


@pytest.mark.parametrize("kwargs", [dict(n_betas=1), dict(n_betas=0), dict(n_runs=0)])
def test_ais_refuses_settings_that_cannot_anneal(kwargs):
    with pytest.raises(ValueError, match="n_betas >= 2"):
        ais_log_partition(tiny_rbm(), **kwargs)


def test_warm_start_trains_on_where_fit_left_off():
    from sklearn.datasets import load_digits

    X = (load_digits().data[:200] > 7).astype(np.float64)
    settings = dict(n_components=8, random_state=0, momentum_switch=2, learning_rate_decay=0.5)
    whole = BernoulliRBM(n_iter=3, **settings).fit(X)
    stepwise = BernoulliRBM(n_iter=1, warm_start=True, **settings)
    for _ in range(3):
        stepwise.fit(X)  # momentum switches and the rate decays on the same epochs as in one fit
    np.testing.assert_allclose(stepwise.components_, whole.components_, atol=1e-5)
    assert stepwise._optimizer_state.epochs_done == 3
    cold = BernoulliRBM(n_iter=1, **settings)
    np.testing.assert_array_equal(cold.fit(X).components_, cold.fit(X).components_)  # without it, fit restarts


def test_the_fast_path_leaves_ordinary_tensors_that_autograd_and_later_fits_take():
    """The fast PCD loop writes inference-mode working copies; what a fit leaves on the estimator is not one."""
    X = (np.random.RandomState(0).rand(57, 6) > 0.5).astype(np.float64)  # 5 batches of 10 and a remainder of 7
    rbm = BernoulliRBM(n_components=4, n_iter=2, random_state=0).fit(X)
    assert training._uses_fast_path(rbm)
    for tensor in (rbm.params_, rbm._chain, rbm._optimizer_state.velocity):
        assert not tensor.is_inference()
    params = rbm.params_.detach().clone().requires_grad_(True)
    rbm.params_.mul(params).sum().backward()  # an inference tensor would refuse to be saved for backward
    assert torch.equal(params.grad, rbm.params_)
    before = rbm.params_.clone()
    rbm.partial_fit(X)
    assert not torch.equal(rbm.params_, before) and not rbm.params_.is_inference()
