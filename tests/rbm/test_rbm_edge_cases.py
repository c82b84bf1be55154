"""Inputs and settings at the edges, each against what scikit-learn or imbalanced-learn does with them:
constant columns, warm start after set_params, awkward DataFrame columns, messages and output dtypes."""
from __future__ import annotations

import numpy as np
import pytest
from imblearn.over_sampling import SMOTE, RandomOverSampler
from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from layerwise.rbm import DBN, BernoulliRBM, GaussianBernoulliRBM, RBMOversampler

pd = pytest.importorskip("pandas")


def binary_data(n_rows: int = 50, n_features: int = 6) -> np.ndarray:
    return (np.random.RandomState(0).rand(n_rows, n_features) > 0.5).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_constant_columns_stay_exactly_at_their_value_where_standard_scaler_finds_them(dtype):
    X = np.random.RandomState(0).randn(200, 5)
    X[:, 2] = 0.25  # exactly constant: std 0
    X[:, 3] = 0.3  # constant, but its computed std is ~5e-17 (the mean is an ulp off 0.3)
    X[:, 4] = 1e3 + 1e-3 * X[:, 4]  # small spread next to its size, but a real one (in float32 too)
    X = X.astype(dtype)
    constant = StandardScaler().fit(X).scale_ == 1.0  # the columns scikit-learn leaves unscaled
    np.testing.assert_array_equal(constant, [False, False, True, True, False])
    rbm = GaussianBernoulliRBM(n_components=8, n_iter=20, random_state=0).fit(X)
    X_missing = X.copy()
    X_missing[::2, [0, 2]] = np.nan
    for out in (rbm.gibbs(X), rbm.sample(20, burn_in=2), rbm.conditional_sample(X_missing, n_steps=3)):
        np.testing.assert_array_equal(out[:, constant], np.broadcast_to(X[0, constant], out[:, constant].shape))
        assert (out[:, ~constant].std(0) > 0).all()


def test_partial_fit_scales_but_does_not_hold_a_column_constant_in_its_first_batch():
    X = np.random.RandomState(0).randn(40, 3)
    X[:10, 2] = 0.3  # constant in the first batch only
    rbm = GaussianBernoulliRBM(n_components=4, random_state=0).partial_fit(X[:10]).partial_fit(X[10:])
    np.testing.assert_array_equal(rbm.scale_[2], StandardScaler().partial_fit(X[:10]).scale_[2])  # 1, not 5e-17
    assert rbm.gibbs(X)[:, 2].std() > 0  # later batches vary, so the column is still learned


def test_oversampler_keeps_a_column_constant_within_the_class_constant_as_smote():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = np.r_[np.zeros(45, int), np.ones(15, int)]
    X[y == 1, 1] = 0.25  # std 0 in the class
    X[y == 1, 2] = 0.3  # std ~5e-17 in the class (rounding)
    theirs, _ = SMOTE(random_state=0).fit_resample(X, y)
    ours, y_res = RBMOversampler(n_components=8, n_iter=20, random_state=0).fit_resample(X, y)
    assert len(ours) == len(theirs) == 90 and (y_res[60:] == 1).all()
    np.testing.assert_array_equal(ours[60:, 1:], theirs[60:, 1:])  # the class's values exactly, as SMOTE's
    assert ours[60:, 0].std() > 0


@pytest.mark.parametrize("cls", [BernoulliRBM, GaussianBernoulliRBM])
def test_warm_start_continues_with_a_new_batch_size(cls):
    # MLPClassifier(warm_start=True) likewise trains on with a batch_size changed by set_params.
    X = binary_data()
    rbm = cls(n_components=3, n_iter=1, random_state=0, warm_start=True, persistent=True).fit(X)
    before = rbm.components_.copy()
    for batch_size in (20, 4):
        rbm.set_params(batch_size=batch_size).fit(X)
        assert rbm.h_samples_.shape == (batch_size, 3)
    assert rbm._optimizer_state.epochs_done == 3  # trained on, not restarted
    assert not np.allclose(rbm.components_, before)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_warm_start_refuses_a_model_of_another_shape():
    X = binary_data()
    rbm = BernoulliRBM(n_components=3, n_iter=1, random_state=0, warm_start=True).fit(X)
    with pytest.raises(ValueError, match=r"n_components=5 but .* has 3 hidden units\. Set warm_start=False"):
        rbm.set_params(n_components=5).fit(X)
    rbm.set_params(n_components=3)
    # A changed number of features is a ValueError in scikit-learn's warm-started estimators too.
    mlp = MLPClassifier(hidden_layer_sizes=(3,), max_iter=1, warm_start=True).fit(X, np.arange(50) % 2)
    with pytest.raises(ValueError, match="4 features"):
        mlp.fit(X[:, :4], np.arange(50) % 2)
    with pytest.raises(ValueError, match=r"X has 4 features, .* has 6\. Set warm_start=False"):
        rbm.fit(X[:, :4])
    assert rbm.fit(X).components_.shape == (3, 6)  # the unchanged model still trains on


@pytest.mark.parametrize("dtype", ["Int64", "Float64"])
def test_oversampler_names_a_nullable_column_holding_pd_na(dtype):
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    values = pd.array([1, 2, None, 4] * 10, dtype=dtype)
    mixed = pd.DataFrame({"c": pd.Categorical(["a", "b"] * 20), "i": values})
    for X in (mixed, mixed[["i"]]):
        with pytest.raises(ValueError, match=r"Input X contains NaN \(column 'i'\).*RBMImputer"):
            RBMOversampler(n_iter=2).fit_resample(X, y)


def test_oversampler_takes_an_object_column_mixing_text_and_numbers():
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    X = pd.DataFrame({"o": pd.Series(["a", 1] * 20, dtype=object), "x": np.arange(40.0)})
    theirs, _ = RandomOverSampler(random_state=0).fit_resample(X, y)
    ours, _ = RBMOversampler(n_components=4, n_iter=5, random_state=0).fit_resample(X, y)
    assert ours.shape == theirs.shape and (ours.dtypes == theirs.dtypes).all()
    assert set(ours["o"].iloc[40:]) <= {"a", 1}


def test_oversampler_words_infinity_apart_from_missing_values():
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    x = np.r_[np.arange(39.0), np.inf]
    for X in (pd.DataFrame({"x": x}), pd.DataFrame({"c": pd.Categorical(["a", "b"] * 20), "x": x})):
        with pytest.raises(ValueError, match=r"infinity \(column 'x'\)\. RBMOversampler needs finite") as err:
            RBMOversampler(n_iter=2).fit_resample(X, y)
        assert "RBMImputer" not in str(err.value)


def test_dbn_messages_name_the_dbn_and_its_own_settings():
    X = np.random.RandomState(0).randn(50, 3)
    with pytest.raises(ValueError, match=r"DBN .*MinMaxScaler, or pass first_layer='gaussian'") as err:
        DBN((4, 2), n_iter=1).fit(X)
    assert "BernoulliRBM" not in str(err.value)
    dbn = DBN((4, 2), n_iter=1, first_layer="gaussian", random_state=0).fit(X)
    X[0, 0] = np.nan
    for method in (dbn.fit, dbn.transform):
        with pytest.raises(ValueError, match="DBN does not accept missing values.*RBMImputer"):
            method(X)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_score_samples_dtype_follows_the_input_as_scikit_learn(dtype):
    X = binary_data().astype(dtype)
    for cls in (SkBernoulliRBM, BernoulliRBM):
        scores = cls(n_components=3, n_iter=1, random_state=0).fit(X).score_samples(X)
        assert scores.dtype == (np.float32 if dtype == np.float32 else np.float64), cls


def test_oversampler_checks_column_names_of_a_mixed_frame_as_random_oversampler():
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    X = pd.DataFrame({"c": pd.Categorical(["a", "b"] * 20), 1: np.arange(40.0)})
    for sampler in (RandomOverSampler(), RBMOversampler(n_iter=2)):
        with pytest.raises(TypeError, match="Feature names are only supported if all input features have string"):
            sampler.fit_resample(X, y)
    X.columns = ["c", "x"]
    ours = RBMOversampler(n_iter=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(ours.feature_names_in_, RandomOverSampler().fit(X, y).feature_names_in_)


def test_a_gaussian_rbm_pickled_before_constant_columns_were_held_still_samples():
    X = np.random.RandomState(0).randn(60, 3)
    rbm = GaussianBernoulliRBM(n_components=4, n_iter=2, random_state=0).fit(X)
    state = rbm.__getstate__()
    for key in ("_fixed", "_fixed_t"):  # what older versions did not write
        state.pop(key)
    old = GaussianBernoulliRBM.__new__(GaussianBernoulliRBM)
    old.__setstate__(state)
    assert old.gibbs(X).shape == X.shape and np.isfinite(old.gibbs(X)).all()
