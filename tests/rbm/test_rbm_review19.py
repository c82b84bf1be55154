"""Review 19: a diverging RBM says so and names the learning rate (it crashed in torch or returned huge rows)."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_wine

from layerwise.rbm import GaussianBernoulliRBM, RBMOversampler


@pytest.fixture(scope="module")
def wine():
    return load_wine(return_X_y=True)


@pytest.mark.parametrize("learning_rate", [1.0, 5.0])
def test_gaussian_rbm_diverging_names_the_learning_rate(wine, learning_rate):
    # 1.0 grew the weights to 4e25 silently; 5.0 crashed in torch.bernoulli ("Expected p_in >= 0 && p_in <= 1").
    X, _ = wine
    rbm = GaussianBernoulliRBM(n_components=16, n_iter=20, learning_rate=learning_rate, random_state=0)
    with pytest.raises(ValueError, match=r"GaussianBernoulliRBM: training diverged in epoch \d+.*Lower learning_rate"):
        rbm.fit(X)


def test_partial_fit_diverging_names_the_learning_rate(wine):
    X, _ = wine
    rbm = GaussianBernoulliRBM(n_components=16, learning_rate=1000.0, random_state=0)
    with pytest.raises(ValueError, match="training diverged.*learning_rate"):
        for _ in range(20):
            rbm.partial_fit(X)


def test_oversampler_does_not_return_rows_from_a_diverged_model(wine):
    X, y = wine  # learning_rate=1.0 gave new rows with values near 5e24
    with pytest.raises(ValueError, match="training diverged.*Lower learning_rate"):
        RBMOversampler(learning_rate=1.0, n_iter=50, random_state=0).fit_resample(X, y)


def test_a_sensible_learning_rate_still_trains(wine):
    X, _ = wine
    rbm = GaussianBernoulliRBM(n_components=16, n_iter=20, learning_rate=0.3, random_state=0).fit(X)
    assert np.isfinite(rbm.transform(X)).all()


@pytest.mark.parametrize("container", ["csr_array", "csc_array", "csr_matrix"])
def test_oversampler_keeps_the_sparse_container_as_random_oversampler(wine, container):
    # A csr_array came back as a csr_matrix (RandomOverSampler keeps csr_array).
    from imblearn.over_sampling import RandomOverSampler
    from scipy import sparse

    X, y = wine
    Xs = getattr(sparse, container)(X[:, :4])
    ours, _ = RBMOversampler(n_components=4, n_iter=2, random_state=0).fit_resample(Xs, y)
    theirs, _ = RandomOverSampler(random_state=0).fit_resample(Xs, y)
    assert type(ours) is type(theirs) is type(Xs)
