"""Review 20: imputer divergence, sparse fitting, DBN int sizes, output dtypes."""
import numpy as np
import pytest
from scipy import sparse
from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM

from layerwise.rbm import DBN, BernoulliRBM, GaussianBernoulliRBM, RBMImputer


def binary(n=60, d=12, seed=0):
    rng = np.random.RandomState(seed)
    return (rng.rand(n, d) < 0.2).astype(np.float64)


def test_imputer_diverging_names_the_learning_rate():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4)
    X[rng.rand(60, 4) < 0.2] = np.nan
    with pytest.raises(ValueError, match=r"RBMImputer: training diverged.*learning_rate \(now 1000.0\)"):
        RBMImputer(learning_rate=1e3, n_iter=2, n_rounds=2, n_components=8, random_state=0).fit(X)


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


def test_dbn_takes_an_int_as_mlpclassifier():
    X = binary()
    dbn = DBN(hidden_layer_sizes=4, n_iter=1, random_state=0).fit(X)
    assert len(dbn.rbms_) == 1 and dbn.transform(X).shape == (60, 4)
    with pytest.raises(Exception, match="hidden_layer_sizes"):
        DBN(hidden_layer_sizes=0).fit(X)


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
