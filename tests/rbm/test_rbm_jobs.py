"""The jobs: oversampling inside imbalanced-learn, imputation, dtype preservation and bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from imblearn.pipeline import Pipeline
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.impute import KNNImputer, SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler, minmax_scale

from layerwise.rbm import BernoulliRBM, GaussianBernoulliRBM, RBMImputer, RBMOversampler


@pytest.fixture(scope="module")
def imbalanced():
    X, y = load_wine(return_X_y=True)
    keep = np.r_[np.flatnonzero(y != 2), np.flatnonzero(y == 2)[:12]]
    return X[keep], y[keep]


def test_fit_resample_balances_inside_imblearn_pipeline(imbalanced):
    X, y = imbalanced
    X_in, y_in = X.copy(), y.copy()
    sampler = RBMOversampler(random_state=0, n_iter=50)
    X_res, y_res = sampler.fit_resample(X, y)
    counts = np.bincount(y_res)
    assert counts.min() == counts.max() == np.bincount(y).max()
    np.testing.assert_array_equal(X_res[: len(X)], X)  # the original rows come first, unchanged
    new = X_res[len(X):][y_res[len(X):] == 2]
    # Generated rows resemble their class: closer to its mean than to the other classes'.
    means = np.stack([X[y == c].mean(0) for c in range(3)])
    scale = X.std(0)
    dist = (((new[:, None, :] - means[None]) / scale) ** 2).sum(-1)
    assert (dist.argmin(1) == 2).mean() > 0.8
    np.testing.assert_array_equal(X, X_in)
    np.testing.assert_array_equal(y, y_in)
    pipe = Pipeline([("scale", StandardScaler()), ("over", RBMOversampler(random_state=0, n_iter=50)),
                     ("clf", LogisticRegression(max_iter=1000))])
    assert pipe.fit(X, y).score(X, y) > 0.9


def test_sampling_strategy_dict_and_float(imbalanced):
    X, y = imbalanced
    _, y_res = RBMOversampler(sampling_strategy={2: 30}, random_state=0, n_iter=20).fit_resample(X, y)
    assert np.bincount(y_res)[2] == 30


def test_dataframe_dtypes_survive():
    rng = np.random.RandomState(0)
    n = 60
    df = pd.DataFrame({
        "x": rng.normal(size=n),
        "count": rng.randint(0, 5, n).astype(np.int64),
        "colour": pd.Categorical(rng.choice(["red", "green", "blue"], n)),
        "flag": rng.rand(n) > 0.5,
    })
    y = pd.Series(np.r_[np.zeros(50, int), np.ones(10, int)], name="target")
    df_in = df.copy()
    X_res, y_res = RBMOversampler(random_state=0, n_iter=30).fit_resample(df, y)
    assert isinstance(X_res, pd.DataFrame) and isinstance(y_res, pd.Series)
    assert list(X_res.dtypes) == list(df.dtypes)
    assert set(X_res["colour"].dropna()) <= {"red", "green", "blue"} and X_res["colour"].notna().all()
    assert X_res["count"].between(0, 4).all()
    assert (y_res == 1).sum() == 50
    pd.testing.assert_frame_equal(df, df_in)


def test_int_numpy_array_stays_int(imbalanced):
    X, y = imbalanced
    Xi = np.rint(X * 10).astype(np.int32)
    X_res, _ = RBMOversampler(random_state=0, n_iter=20).fit_resample(Xi, y)
    assert X_res.dtype == np.int32


def test_imputer_beats_mean_and_knn_and_lateral_connections_help():
    X = minmax_scale(load_breast_cancer().data)
    rng = np.random.RandomState(0)
    missing = rng.rand(*X.shape) < 0.2
    X_miss = X.copy()
    X_miss[missing] = np.nan
    X_miss_in = X_miss.copy()

    def rmse(filled):
        return np.sqrt(((filled[missing] - X[missing]) ** 2).mean())

    imputer = RBMImputer(random_state=0, n_iter=10, n_rounds=2)
    filled = imputer.fit_transform(X_miss)
    plain = RBMImputer(random_state=0, n_iter=10, n_rounds=2, lateral=False).fit_transform(X_miss)
    # Measured: 0.061 with lateral connections, 0.083 without, KNN 0.077, mean 0.146.
    assert rmse(filled) < 0.85 * rmse(KNNImputer().fit_transform(X_miss)) < 0.5 * rmse(
        SimpleImputer().fit_transform(X_miss))
    assert rmse(filled) < 0.85 * rmse(plain)
    np.testing.assert_array_equal(filled[~missing], X[~missing])
    observed = np.where(missing, np.nan, X)
    assert (filled >= np.nanmin(observed, 0)).all() and (filled <= np.nanmax(observed, 0)).all()  # clipped
    np.testing.assert_array_equal(np.isnan(X_miss), np.isnan(X_miss_in))  # caller's array untouched
    np.testing.assert_allclose(imputer.transform(X_miss[:50]), imputer.transform(X_miss[:50]))
    draws = imputer.multiple_imputations(X_miss[:20])
    assert draws.shape == (5, 20, 30) and not np.allclose(draws[0], draws[1])
    spread = draws.std(0)[missing[:20]].mean()
    assert 0.005 < spread < 0.1, spread  # draws vary about as much as the imputation error
    with_indicator = RBMImputer(add_indicator=True, n_iter=1, n_rounds=1, random_state=0).fit(X_miss)
    assert with_indicator.transform(X_miss).shape == (len(X), 60)
    assert with_indicator.get_feature_names_out().shape == (60,)


def test_imputer_accepts_other_missing_marker():
    X = np.arange(40, dtype=float).reshape(10, 4)
    X[0, 1] = X[3, 2] = -1
    out = RBMImputer(missing_values=-1, n_iter=2, n_rounds=1, random_state=0).fit_transform(X)
    assert (out != -1).all()


# ---- bad input ---------------------------------------------------------------------------------------
def test_bernoulli_rejects_values_outside_unit_interval():
    with pytest.raises(ValueError, match=r"\[0, 1\].*MinMaxScaler.*GaussianBernoulliRBM"):
        BernoulliRBM(n_iter=1).fit(np.array([[0.0, 2.0], [1.0, 0.5]]))


@pytest.mark.parametrize("make", [
    lambda: BernoulliRBM(n_iter=1), lambda: GaussianBernoulliRBM(n_iter=1),
])
def test_nan_is_rejected_outside_the_imputer(make):
    X = np.array([[0.0, np.nan], [1.0, 0.5], [0.2, 0.3]])
    with pytest.raises(ValueError, match="NaN.*RBMImputer"):
        make().fit(X)


def test_oversampler_rejects_nan(imbalanced):
    X, y = imbalanced
    X = X.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RBMOversampler().fit_resample(X, y)


def test_column_missing_everywhere_is_named():
    df = pd.DataFrame({"a": [1.0, 2.0, 3.0], "empty": [np.nan] * 3, "c": [0.0, np.nan, 1.0]})
    with pytest.raises(ValueError, match="empty"):
        RBMImputer().fit(df)


def test_tiny_minority_class_says_how_many_rows(imbalanced):
    X, y = imbalanced
    keep = np.r_[np.flatnonzero(y != 2), np.flatnonzero(y == 2)[:3]]
    with pytest.raises(ValueError, match=r"Class 2 has only 3 row\(s\).*RandomOverSampler.*k_neighbors below 3"):
        RBMOversampler().fit_resample(X[keep], y[keep])


def test_single_class_y_is_rejected(imbalanced):
    X, _ = imbalanced
    with pytest.raises(ValueError, match="more than 1 class"):
        RBMOversampler().fit_resample(X, np.zeros(len(X), int))


def test_sampling_strategy_naming_an_absent_class(imbalanced):
    X, y = imbalanced
    with pytest.raises(ValueError, match="not present"):
        RBMOversampler(sampling_strategy={7: 50}).fit_resample(X, y)


def test_inputs_are_not_modified():
    rng = np.random.RandomState(0)
    X = rng.rand(30, 5)
    X_in = X.copy()
    for est in (BernoulliRBM(n_components=4, n_iter=2), GaussianBernoulliRBM(n_components=4, n_iter=2)):
        est.fit(X)
        est.transform(X)
        est.gibbs(X)
        est.score_samples(X)
        np.testing.assert_array_equal(X, X_in)


def test_sampled_rows_spread_like_their_class_and_means_shrink():
    rng = np.random.RandomState(0)
    X = np.r_[rng.normal(0, 1, (200, 4)), rng.normal(3, 1, (40, 4))]
    y = np.r_[np.zeros(200, int), np.ones(40, int)]
    spread = {}
    for last_step in ("sample", "mean"):
        X_res, _ = RBMOversampler(random_state=0, n_iter=50, last_step=last_step).fit_resample(X, y)
        new = X_res[len(X):]
        assert np.abs(new.mean(0) - 3).max() < 0.5  # centred on the minority class either way
        spread[last_step] = (new.std(0) / X[y == 1].std(0)).mean()
    assert 0.7 < spread["sample"] < 1.4
    assert spread["mean"] < spread["sample"] - 0.2


def test_oversampler_rejects_unknown_last_step(imbalanced):
    X, y = imbalanced
    with pytest.raises(ValueError, match="'last_step' parameter of RBMOversampler must be a str among"):
        RBMOversampler(last_step="mode").fit_resample(X, y)
