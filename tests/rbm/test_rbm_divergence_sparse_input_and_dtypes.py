"""RBMs whose training diverges say so and name the learning rate (they crashed in torch or returned huge rows);
sparse input fitted batch by batch and kept in its container, and taken by a DBN; values beyond the compute dtype
refused by name; a DBN of one int size; output dtypes that follow the
input as scikit-learn's."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse
from sklearn.datasets import load_wine
from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM

from layerwise.rbm import DBN, BernoulliRBM, GaussianBernoulliRBM, RBMImputer, RBMOversampler


@pytest.fixture(scope="module")
def wine():
    return load_wine(return_X_y=True)


def binary(n=60, d=12, seed=0):
    rng = np.random.RandomState(seed)
    return (rng.rand(n, d) < 0.2).astype(np.float64)


# ---- training that diverges ----------------------------------------------------------------------------------------

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


def test_imputer_diverging_names_the_learning_rate():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    X[rng.rand(60, 4) < 0.2] = np.nan
    with pytest.raises(ValueError, match=r"RBMImputer: training diverged.*learning_rate \(now 1000.0\)"):
        RBMImputer(learning_rate=1e3, n_iter=2, n_rounds=2, n_components=8, random_state=0).fit(X)


# ---- sparse input --------------------------------------------------------------------------------------------------

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


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_fit_matches_dense_fit_without_densifying_whole(fmt, monkeypatch):
    X = binary()
    dense = BernoulliRBM(n_components=5, n_iter=3, batch_size=7, random_state=0).fit(X)
    Xs = sparse.csr_matrix(X).asformat(fmt)
    calls = []
    original = sparse.csr_matrix.toarray

    def spy(self, *a, **k):
        calls.append(self.shape[0])
        return original(self, *a, **k)

    monkeypatch.setattr(sparse.csr_matrix, "toarray", spy)
    ours = BernoulliRBM(n_components=5, n_iter=3, batch_size=7, random_state=0).fit(Xs)
    assert calls and max(calls) < X.shape[0]  # never the whole matrix at once
    np.testing.assert_allclose(ours.components_, dense.components_, atol=1e-6)
    np.testing.assert_allclose(ours.transform(Xs), dense.transform(X), atol=1e-6)
    np.testing.assert_allclose(ours.score_samples(Xs), dense.score_samples(X), atol=1e-5)


def test_sparse_fit_rejects_values_outside_unit_interval_and_keeps_input():
    Xs = sparse.csr_matrix(binary() * 2.0)
    with pytest.raises(ValueError, match=r"values in \[0, 1\]"):
        BernoulliRBM(n_iter=1).fit(Xs)
    Xs = sparse.csr_matrix(binary() * (1 + 1e-9))
    before = Xs.data.copy()
    BernoulliRBM(n_components=3, n_iter=1, random_state=0).fit(Xs)
    np.testing.assert_array_equal(Xs.data, before)


def test_dbn_takes_sparse_input_as_its_bottom_rbm_does():
    X = binary()
    Xs = sparse.csr_matrix(X * (1 + 1e-9))  # MinMaxScaler-style rounding past 1, clipped on a copy
    before = Xs.data.copy()
    ours = DBN([5, 3], n_iter=2, random_state=0).fit(Xs)
    dense = DBN([5, 3], n_iter=2, random_state=0).fit(X)
    np.testing.assert_array_equal(Xs.data, before)
    np.testing.assert_allclose(ours.transform(Xs), dense.transform(X), atol=1e-5)
    with pytest.raises(ValueError, match=r"DBN \(first_layer='bernoulli'\) expects values in \[0, 1\]"):
        DBN([3], n_iter=1).fit(sparse.csr_matrix(X * 2.0))
    gaussian = DBN([3], first_layer="gaussian", n_iter=1, random_state=0)
    np.testing.assert_allclose(gaussian.fit(Xs * 5.0).transform(Xs * 5.0),
                               gaussian.fit(X * 5.0).transform(X * 5.0), atol=1e-5)


# ---- values beyond the compute dtype's range ----------------------------------------------------------------------

def test_values_beyond_float32_are_refused_naming_the_estimator_not_turned_into_nan():
    # scikit-learn's float32 estimators refuse such values too ("a value too large for dtype('float32')").
    rng = np.random.RandomState(0)
    big = np.array([[1e39, -1e39, 0.5, 0.5, 0.5]])
    with pytest.raises(ValueError, match=r"BernoulliRBM computes in float32.*the input holds 1e\+39"):
        BernoulliRBM(4, n_iter=1, random_state=0).fit(rng.rand(50, 5)).transform(big)
    with pytest.raises(ValueError, match=r"GaussianBernoulliRBM \(on standardised values\) computes in float32"):
        GaussianBernoulliRBM(4, n_iter=1, random_state=0).fit(rng.randn(50, 5)).transform(big)


def test_gaussian_columns_whose_variance_overflows_are_named():
    X = np.random.RandomState(0).randn(30, 3)
    X[:, 1] *= 1e160
    for estimator in (GaussianBernoulliRBM(4, n_iter=1), DBN([4], first_layer="gaussian", n_iter=1)):
        with pytest.raises(ValueError, match=r"cannot standardise column\(s\) \[1\].*overflows float64"):
            estimator.fit(X)


# ---- a DBN of one int size, output dtypes --------------------------------------------------------------------------

def test_dbn_takes_an_int_as_mlpclassifier():
    X = binary()
    dbn = DBN(hidden_layer_sizes=4, n_iter=1, random_state=0).fit(X)
    assert len(dbn.rbms_) == 1 and dbn.transform(X).shape == (60, 4)
    with pytest.raises(Exception, match="hidden_layer_sizes"):
        DBN(hidden_layer_sizes=0).fit(X)
    for n_classes in (2.5, 0, True):  # Dense(2.5) is refused in Keras; int() would have truncated it
        with pytest.raises(ValueError, match=f"n_classes must be a positive integer.*{n_classes!r}"):
            dbn.to_sequential(n_classes=n_classes)
    assert dbn.to_sequential(n_classes=np.int64(3)).output_shape == (None, 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_dtypes_follow_input_as_scikit_learn_for_one_dtype(dtype):
    X = binary().astype(dtype)
    sk = SkBernoulliRBM(n_components=3, n_iter=1, random_state=0).fit(X)
    ours = BernoulliRBM(n_components=3, n_iter=1, random_state=0).fit(X)
    for name in ("transform", "gibbs", "score_samples"):
        assert getattr(ours, name)(X).dtype == getattr(sk, name)(X).dtype, name
    assert ours.free_energy(X).dtype == dtype
    g = GaussianBernoulliRBM(n_components=3, n_iter=1, random_state=0).fit(X)
    assert g.score_samples(X).dtype == g.gibbs(X).dtype == dtype
