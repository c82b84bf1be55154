"""The scikit-learn and imbalanced-learn contract in the details: parameters, attributes, dtypes, sparse input."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from imblearn.over_sampling import RandomOverSampler
from imblearn.utils.estimator_checks import check_samplers_pandas_sparse, check_samplers_sparse
from scipy import sparse
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import BernoulliRBM as SkBernoulliRBM
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, minmax_scale
from sklearn.utils._param_validation import InvalidParameterError

from layerwise import config
from layerwise.rbm import DBN, BernoulliRBM, GaussianBernoulliRBM, RBMImputer, RBMOversampler


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return minmax_scale(X), y


@pytest.fixture
def imbalanced():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (60, 3)), rng.normal(3, 1, (12, 3))])
    return X, np.r_[np.zeros(60, int), np.ones(12, int)]


def test_minmax_scaled_data_with_rounding_error_fits_and_grid_search_runs():
    X = np.random.RandomState(3).rand(30, 5) * 7 - 3
    X_scaled = MinMaxScaler().fit_transform(X)
    assert X_scaled.max() > 1.0  # MinMaxScaler's own rounding: 1 + 2.2e-16
    BernoulliRBM(n_components=4, n_iter=1, random_state=0).fit(X_scaled)
    # Test folds scaled with their training fold's minimum and maximum fall a little outside [0, 1]:
    # transform accepts them, as scikit-learn's RBM does.
    digits_X, digits_y = load_digits(return_X_y=True)
    pipe = Pipeline([("scale", MinMaxScaler()), ("rbm", BernoulliRBM(n_components=32, n_iter=10, random_state=0)),
                     ("clf", LogisticRegression(C=100, max_iter=500))])
    search = GridSearchCV(pipe, {"rbm__learning_rate": [0.05, 0.1]}, cv=2, error_score="raise")
    search.fit(digits_X[:400], digits_y[:400])
    assert search.best_score_ > 0.7  # scikit-learn's RBM in the same search: 0.775


def test_values_clearly_outside_unit_interval_are_refused_with_their_range():
    X = np.full((5, 3), 0.5)
    X[0, 0] = 1.5
    with pytest.raises(ValueError, match=r"got values from 0.5 to 1.5\. Scale the data"):
        BernoulliRBM(n_iter=1).fit(X)


def test_clipping_a_rounding_error_leaves_the_callers_array_alone():
    X = np.full((6, 2), 0.5)
    X[0, 0] = 1.0 + 1e-12
    before = X.copy()
    BernoulliRBM(n_components=2, n_iter=1).fit(X)
    np.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("estimator", [
    BernoulliRBM(n_components=0), BernoulliRBM(n_iter=-1), BernoulliRBM(n_components=2.5),
    BernoulliRBM(batch_size=0), BernoulliRBM(k=0), BernoulliRBM(learning_rate="a"),
    BernoulliRBM(momentum=1.5), GaussianBernoulliRBM(batch_size=0), DBN(batch_size=0), DBN(first_layer="relu"),
    RBMImputer(n_rounds=0), RBMImputer(keep_empty_features="yes"), RBMOversampler(learning_rate=-1),
    RBMOversampler(last_step="mode"),
], ids=lambda e: repr(e))
def test_invalid_constructor_arguments_raise_scikit_learns_error(estimator, digits, imbalanced):
    X = digits[0][:40]
    with pytest.raises(InvalidParameterError, match="parameter of"):
        if isinstance(estimator, RBMOversampler):
            estimator.fit_resample(*imbalanced)
        else:
            estimator.fit(X)


def test_partial_fit_validates_parameters_on_the_first_call(digits):
    with pytest.raises(InvalidParameterError, match="'n_components' parameter"):
        BernoulliRBM(n_components=0).partial_fit(digits[0][:20])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fitted_attributes_are_arrays_in_the_data_dtype_as_scikit_learn(digits, dtype):
    X = digits[0][:100].astype(dtype)
    ours = BernoulliRBM(n_components=8, n_iter=1, random_state=0).fit(X)
    theirs = SkBernoulliRBM(n_components=8, n_iter=1, random_state=0).fit(X)
    for name in ("components_", "intercept_hidden_", "intercept_visible_", "h_samples_"):
        mine, sk = getattr(ours, name), getattr(theirs, name)
        assert isinstance(mine, np.ndarray) and mine.dtype == sk.dtype and mine.shape == sk.shape, name


def test_assigning_and_editing_components_reaches_the_model(digits):
    X = digits[0][:100].astype(np.float32)
    rbm = BernoulliRBM(n_components=4, n_iter=1, random_state=0).fit(X)
    rbm.components_ = np.zeros((4, 64))
    rbm.intercept_hidden_ = np.array([0.0, 1.0, 2.0, 3.0])
    np.testing.assert_allclose(rbm.transform(X[:3]), np.tile(1 / (1 + np.exp(-np.arange(4.0))), (3, 1)), rtol=1e-6)
    if rbm.params_.device.type == "cpu":  # a view of the model there (a copy from a GPU), as documented
        rbm.components_[0, :] = 1.0  # in place, as with scikit-learn's array
        assert rbm.transform(X[:3])[:, 0].min() > 0.99
    with pytest.raises(ValueError, match=r"components_ must have shape \(4, 64\)"):
        rbm.components_ = np.zeros((3, 64))


@pytest.fixture
def float64_models():
    config.set_floatx("float64")
    yield
    config.set_floatx("float32")


def test_every_estimator_fits_in_float64(float64_models, digits, imbalanced):
    X = digits[0][:60]
    for est in (BernoulliRBM(n_components=4, n_iter=1), GaussianBernoulliRBM(n_components=4, n_iter=1),
                DBN((4, 2), n_iter=1)):
        assert est.fit(X).transform(X).shape[0] == 60
    X_miss = X[:, :6].copy()
    X_miss[::4, 2] = np.nan
    filled = RBMImputer(n_components=4, n_iter=1, n_rounds=1, n_gibbs_steps=2).fit_transform(X_miss)
    assert not np.isnan(filled).any()
    X_res, _ = RBMOversampler(n_components=4, n_iter=2).fit_resample(*imbalanced)
    assert X_res.shape == (120, 3)


def test_sparse_transform_matches_dense(digits):
    X = digits[0][:200]
    rbm = BernoulliRBM(n_components=8, n_iter=1, random_state=0).fit(X)
    np.testing.assert_allclose(rbm.transform(sparse.csr_matrix(X)), rbm.transform(X), rtol=1e-6)
    np.testing.assert_allclose(rbm.free_energy(sparse.csr_matrix(X)), rbm.free_energy(X), rtol=1e-6)


def test_read_only_input_gives_no_torch_warning(digits):
    X = digits[0][:50].copy()
    X.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        BernoulliRBM(n_components=4, n_iter=1).fit(X).transform(X)


def test_infinity_is_named_without_suggesting_the_imputer(digits):
    X = digits[0][:20].copy()
    X[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity.*finite values"):
        BernoulliRBM(n_iter=1).fit(X)


def test_gibbs_takes_one_row_as_scikit_learn(digits):
    X = digits[0][:50]
    for cls in (SkBernoulliRBM, BernoulliRBM):
        rbm = cls(n_components=4, n_iter=1, random_state=0).fit(X)
        assert rbm.gibbs(X[0]).shape == (64,)


def test_oversampler_names_missing_category_clearly():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"x": rng.normal(size=60), "col": rng.choice(["r", "g", "b"], 60).astype(object)})
    df.loc[45, "col"] = np.nan
    y = np.r_[np.zeros(40, int), np.ones(20, int)]
    # Named as the frame names it; RBMImputer fills numbers only, so a category column gets other advice.
    with pytest.raises(ValueError, match=r"NaN \(column 'col'\).*SimpleImputer\(strategy='most_freq"):
        RBMOversampler(n_iter=3).fit_resample(df, y)
    df.loc[45, "col"], df.loc[44, "x"] = "r", np.nan
    with pytest.raises(ValueError, match=r"NaN \(column 'x'\).*RBMImputer"):
        RBMOversampler(n_iter=3).fit_resample(df, y)


def test_oversampler_learns_numbers_in_an_object_column_as_numbers():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    values = rng.normal(size=(90, 2))
    y = np.r_[np.zeros(70, int), np.ones(20, int)]
    df = pd.DataFrame({"o": pd.Series(values[:, 0], dtype=object), "f": values[:, 1]})
    X_res, _ = RBMOversampler(n_components=4, n_iter=20, random_state=0).fit_resample(df, y)
    new = X_res["o"].to_numpy()[90:]
    assert X_res["o"].dtype == object and len(new) == 50
    # Sampled as a number, not picked among the minority rows' values as a category would be.
    assert not np.isin(new.astype(float), values[70:, 0]).any()
    codes = pd.DataFrame({"zip": pd.Series(rng.choice(["01", "02"], 90), dtype=object), "f": values[:, 1]})
    X_codes, _ = RBMOversampler(n_components=4, n_iter=20, random_state=0).fit_resample(codes, y)
    assert set(X_codes["zip"]) == {"01", "02"}  # digits in text stay categories


def test_oversampler_keeps_ints_and_bools_of_object_columns_as_random_oversampler():
    # Object columns of Python ints came back as floats such as 0.055 (some outside the seen range), and object
    # columns of True/False as floats such as 0.67: RandomOverSampler keeps both, and so do these now.
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60, int), np.ones(20, int)]
    df = pd.DataFrame({"count": pd.Series(rng.integers(0, 5, 80).tolist(), dtype=object),
                       "flag": pd.Series((rng.random(80) < 0.5).tolist(), dtype=object),
                       "x": rng.normal(size=80)})
    X_res, _ = RBMOversampler(n_components=4, n_iter=5, random_state=0).fit_resample(df, y)
    new = X_res.iloc[80:]
    assert len(new) == 40 and list(X_res.dtypes) == list(df.dtypes)
    minority = df["count"][y == 1]
    assert all(type(v) is int and minority.min() <= v <= minority.max() for v in new["count"])
    assert all(type(v) is bool for v in new["flag"])
    pd.testing.assert_frame_equal(X_res.iloc[:80], df)


def test_oversampler_keeps_int64_values_near_the_top_of_their_range():
    # The class's range was held in float64, where 2**63 - 1 rounds up to 2**63: new rows wrapped to -2**63.
    pd = pytest.importorskip("pandas")
    top = np.iinfo(np.int64).max
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60, int), np.ones(20, int)]
    for extra in ({}, {"c": rng.choice(["a", "b"], 80)}):
        df = pd.DataFrame({"h": top - rng.integers(0, 2000, 80), "x": rng.normal(size=80), **extra})
        X_res, _ = RBMOversampler(n_components=4, n_iter=5, random_state=0).fit_resample(df, y)
        new, minority = X_res["h"].to_numpy()[80:], df["h"][y == 1]
        assert X_res["h"].dtype == np.int64 and ((new >= minority.min()) & (new <= minority.max())).all()


def test_oversampler_names_a_column_too_large_to_standardise():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"colour": pd.Categorical(rng.choice(["r", "g", "b"], 40)), "size": rng.normal(size=40),
                       "huge": rng.normal(size=40) * 1e300})
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    with pytest.raises(ValueError, match=r"Column 'huge' holds values up to .*e\+300.*Rescale the column"):
        RBMOversampler(n_iter=1).fit_resample(df, y)


def test_oversampler_passes_imbalanced_learns_sparse_checks():
    sampler = RBMOversampler(n_components=4, n_iter=5, random_state=0)
    check_samplers_sparse("RBMOversampler", sampler)
    pytest.importorskip("pandas")
    check_samplers_pandas_sparse("RBMOversampler", sampler)


def test_oversampler_keeps_numeric_object_arrays_as_object(imbalanced):
    X, y = imbalanced
    X_obj = X.astype(object)
    ours, _ = RBMOversampler(n_components=4, n_iter=2, random_state=0).fit_resample(X_obj, y)
    theirs, _ = RandomOverSampler(random_state=0).fit_resample(X_obj, y)
    assert ours.dtype == theirs.dtype == object


def test_imputer_keeps_empty_features_filled_with_zero_when_asked():
    X = load_breast_cancer().data[:80, :5].copy()
    X[::3, 1] = np.nan
    X[:, 4] = np.nan
    with pytest.raises(ValueError, match=r"\[4\] are missing in every row.*keep_empty_features=True"):
        RBMImputer(n_iter=1, n_rounds=1).fit(X)
    imputer = RBMImputer(n_components=4, n_iter=2, n_rounds=1, n_gibbs_steps=3, keep_empty_features=True,
                         random_state=0)
    out = imputer.fit_transform(X)
    assert out.shape == X.shape
    np.testing.assert_array_equal(out[:, 4], 0.0)
    assert not np.isnan(out).any()
    np.testing.assert_array_equal(out[:, 0], X[:, 0])


def test_imputer_takes_pandas_na_as_missing_value():
    pd = pytest.importorskip("pandas")
    X = load_breast_cancer().data[:80, :4]
    df = pd.DataFrame(X).astype("Float64")
    df.iloc[::4, 2] = pd.NA
    out = RBMImputer(missing_values=pd.NA, n_components=4, n_iter=2, n_rounds=1, n_gibbs_steps=3,
                     random_state=0).fit_transform(df)
    assert not np.isnan(out).any()
    np.testing.assert_allclose(out[1::4, 2], X[1::4, 2])
    # With the indicator, as SimpleImputer(missing_values=pd.NA, add_indicator=True): one column for column 2.
    flagged = RBMImputer(missing_values=pd.NA, add_indicator=True, n_components=4, n_iter=2, n_rounds=1,
                         random_state=0).fit_transform(df)
    assert flagged.shape == (80, 5)
    np.testing.assert_array_equal(flagged[:, 4], df.iloc[:, 2].isna().to_numpy())


def test_exact_monitors_refuse_real_valued_visible_units(digits):
    from layerwise.rbm import ais_log_partition, exact_log_partition, pseudo_likelihood

    rbm = GaussianBernoulliRBM(n_components=3, n_iter=1, random_state=0).fit(digits[0][:50, :4])
    for monitor in (exact_log_partition, lambda r: ais_log_partition(r, n_betas=10, n_runs=2)):
        with pytest.raises(TypeError, match="defined for binary RBMs.*free_energy_gap"):
            monitor(rbm)
    with pytest.raises(TypeError, match="pseudo_likelihood is defined for binary RBMs"):
        pseudo_likelihood(rbm, digits[0][:5, :4])


def test_conditional_chain_refuses_a_partly_observed_one_hot_group():
    import torch

    from layerwise.rbm.sampling import conditional_chain

    rng = np.random.default_rng(0)
    X = np.hstack([rng.normal(size=(60, 2)), np.eye(3)[rng.integers(0, 3, 60)]])
    rbm = GaussianBernoulliRBM(n_components=3, n_iter=2, softmax_groups=[[2, 3, 4]], random_state=0).fit(X)
    v = rbm._to_model_space(X[:4])
    observed = torch.ones_like(v, dtype=torch.bool)
    observed[1, 3:] = False
    with pytest.raises(ValueError, match=r"Row 1 observes part of the one-hot group of columns \[2, 3, 4\]"):
        conditional_chain(rbm, v, observed, n_steps=2, generator=torch.Generator().manual_seed(0))
    observed[1, 2] = False  # the whole group missing is fine
    out = conditional_chain(rbm, v, observed, n_steps=2, generator=torch.Generator().manual_seed(0))
    assert out[1, 2:].sum() == 1


def test_learned_variances_follow_the_learning_rate_schedule_and_fitted_flag(digits):
    X = digits[0][:200, 20:26]
    kw = dict(n_components=4, learn_variance=True, momentum=0.0, final_momentum=0.0, learning_rate_decay=1e6,
              random_state=0)
    one = GaussianBernoulliRBM(n_iter=1, **kw).fit(X)
    two = GaussianBernoulliRBM(n_iter=2, **kw).fit(X)
    assert float(one.log_variance_.abs().max()) > 1e-3  # the first epoch learns them
    assert float((two.log_variance_ - one.log_variance_).abs().max()) < 1e-6  # the decayed second barely moves
    before = two.transform(X[:3])
    two.set_params(learn_variance=False)  # takes effect at the next fit, as scikit-learn's parameters do
    np.testing.assert_array_equal(two.transform(X[:3]), before)


def test_dbn_names_missing_values_and_the_imputer(digits):
    X = digits[0][:20].copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="DBN does not accept missing values.*RBMImputer"):
        DBN((4,), n_iter=1).fit(X)


def test_dbn_passes_rbm_params_to_the_layers_that_have_them(digits):
    X = digits[0][:120]
    dbn = DBN((6, 4), first_layer="gaussian", n_iter=1, random_state=0,
              rbm_params={"k": 2, "weight_decay": 0.0, "learn_variance": True}).fit(X)
    bottom, top = dbn.rbms_
    assert bottom.k == top.k == 2 and bottom.weight_decay == top.weight_decay == 0.0
    assert bottom.learn_variance and not hasattr(top, "learn_variance")
    with pytest.raises(ValueError, match=r"rbm_params: set \['n_components'\] on the DBN"):
        DBN((4,), n_iter=1, rbm_params={"n_components": 3}).fit(X)
    with pytest.raises(ValueError, match=r"\['momentun'\] are not settings"):
        DBN((4,), n_iter=1, rbm_params={"momentun": 0.5}).fit(X)
    with pytest.raises(ValueError, match="positive ints"):
        DBN((True,), n_iter=1).fit(X)


def test_softmax_groups_given_as_an_array_fit_as_the_list():
    """The parameter is declared array-like; a numpy array of groups used to fail on its truth value."""
    rng = np.random.default_rng(0)
    X = np.hstack([rng.normal(size=(60, 2)), np.eye(3)[rng.integers(0, 3, 60)]])
    as_list = GaussianBernoulliRBM(n_components=3, n_iter=2, softmax_groups=[[2, 3, 4]], random_state=0).fit(X)
    as_array = GaussianBernoulliRBM(n_components=3, n_iter=2, softmax_groups=np.array([[2, 3, 4]]),
                                    random_state=0).fit(X)
    np.testing.assert_array_equal(as_array.components_, as_list.components_)
