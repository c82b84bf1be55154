"""Bad input gets a clear error (or warning) that says what to do."""
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from layerwise.autoencoders import Autoencoder

FAST = dict(hidden_layers=(8,), epochs=2, random_state=0)
X = np.random.default_rng(0).random((60, 10))


def test_transform_before_fit():
    for method in ("transform", "inverse_transform", "score"):
        with pytest.raises(NotFittedError):
            getattr(Autoencoder(), method)(X)


def test_wrong_feature_count_names_both_counts():
    ae = Autoencoder(code_size=2, **FAST).fit(X)
    with pytest.raises(ValueError, match="X has 9 features, but Autoencoder is expecting 10 features"):
        ae.transform(X[:, :9])
    with pytest.raises(ValueError, match="X has 3 features, but Autoencoder is expecting 2 features"):
        ae.inverse_transform(np.zeros((4, 3)))


def test_code_not_smaller_than_input_warns():
    with pytest.warns(UserWarning, match="not a compression"):
        Autoencoder(code_size=10, **FAST).fit(X)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_infinity_point_to_an_imputer(bad):
    X_bad = X.copy()
    X_bad[3, 4] = bad
    with pytest.raises(ValueError, match="SimpleImputer"):
        Autoencoder(**FAST).fit(X_bad)
    ae = Autoencoder(**FAST).fit(X)
    with pytest.raises(ValueError, match="impute"):
        ae.transform(X_bad)


def test_codes_that_inverse_transform_cannot_take_are_named():
    ae = Autoencoder(code_size=2, **FAST).fit(X)
    with pytest.raises(ValueError, match="1 NaN and 0 infinite"):  # scikit-learn's generic "Input contains NaN"
        ae.inverse_transform(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="beyond float32's range"):  # was called infinite, and "before training"
        ae.inverse_transform(np.array([[1e300, 1.0]]))


def test_images_given_to_dense_are_flattened_with_a_note():
    images = X.reshape(60, 2, 5)
    with pytest.warns(UserWarning, match=r"flattens the images of shape \(2, 5\) into 10 features"):
        ae = Autoencoder(code_size=2, **FAST).fit(images)
    assert ae.transform(images).shape == (60, 2)
    assert ae.inverse_transform(ae.transform(images)).shape == (60, 2, 5)


def test_flat_rows_to_conv_without_image_shape():
    with pytest.raises(ValueError, match=r"kind=.conv.\) needs images.*image_shape"):
        Autoencoder(kind="conv", **FAST).fit(X)
    with pytest.raises(ValueError, match="holds 12 values"):
        Autoencoder(kind="conv", image_shape=(3, 4), **FAST).fit(X)


@pytest.mark.parametrize("params, message", [
    (dict(kind="recurrent"), "'kind' parameter"), (dict(noise="speckle"), "'noise' parameter"),
    (dict(scale="robust"), "'scale' parameter"), (dict(code_size=0), "code_size"),
    (dict(epochs=1.5), "epochs"), (dict(validation_fraction=1.0), "validation_fraction"),
    (dict(learning_rate=-1.0), "'learning_rate' parameter"), (dict(patience=-3), "'patience' parameter"),
    (dict(early_stopping="yes"), "'early_stopping' parameter"),
    (dict(validation_fraction="0.1"), "validation_fraction"),
    (dict(hidden_layers=8), "'hidden_layers' parameter"), (dict(upsampling="bogus"), "'upsampling' parameter"),
    (dict(noise="masking", noise_level=1.0), "noise_level is the fraction of values masking hits"),
    (dict(noise_level="a"), "'noise_level' parameter"),
])
def test_bad_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        Autoencoder(**{**FAST, **params}).fit(X)


def test_empty_and_one_dimensional_input():
    with pytest.raises(ValueError):
        Autoencoder(**FAST).fit(np.zeros((0, 10)))
    ae = Autoencoder(code_size=2, **FAST).fit(X)
    with pytest.raises(ValueError, match="2D array"):
        ae.transform(X[0])


def test_numpy_integer_layer_sizes_as_a_grid_search_gives_them():
    ae = Autoencoder(**{**FAST, "hidden_layers": (np.int64(8),)}).fit(X)
    assert ae.transform(X).shape == (len(X), 2)


def test_wrong_image_shapes_and_dimensions_are_refused():
    images = np.random.default_rng(0).random((40, 8, 8)).astype("float32")
    conv = Autoencoder(kind="conv", code_size=2, filters=(4,), **FAST).fit(images)
    assert conv.transform(images[..., None]).shape == (40, 2)  # a channel of 1 may come or go
    with pytest.raises(ValueError, match=r"fitted on samples of shape \(8, 8\); got samples of shape \(4, 16\)"):
        conv.transform(images.reshape(40, 4, 16))
    dense = Autoencoder(**FAST).fit(X)
    with pytest.raises(ValueError, match="got samples of shape"):
        dense.transform(X.reshape(len(X), 1, -1))


def test_diverging_training_is_an_error_not_nan_codes():
    with pytest.raises(ValueError, match="Training diverged.*Lower learning_rate"):
        Autoencoder(code_size=2, hidden_layers=(8,), epochs=5, learning_rate=1e6, early_stopping=False,
                    random_state=0).fit(X * 1000)


def test_values_beyond_float32_are_named():
    big = X.astype(np.float64).copy()
    big[0, 0] = 1e39
    with pytest.raises(ValueError, match="beyond float32's range"):
        Autoencoder(**FAST).fit(big)


def test_without_early_stopping_every_row_trains():
    ae = Autoencoder(**{**FAST, "early_stopping": False}).fit(X)
    assert "val_loss" not in ae.history_


def test_a_failed_refit_keeps_the_previous_model():
    ae = Autoencoder(code_size=2, **FAST).fit(X)
    codes = ae.transform(X)
    with pytest.raises(ValueError, match="Training diverged"):
        ae.set_params(learning_rate=1e6, early_stopping=False, epochs=5).fit(X * 1000)
    np.testing.assert_array_equal(ae.transform(X), codes)  # not NaN codes from the diverged weights
    with pytest.raises(ValueError, match="holds 12 values"):  # fails after reading 9 features
        ae.set_params(kind="conv", image_shape=(3, 4)).fit(X[:, :9])
    assert ae.n_features_in_ == 10
    np.testing.assert_array_equal(ae.transform(X), codes)


def test_refit_on_an_array_forgets_the_dataframe_feature_names():
    pd = pytest.importorskip("pandas")
    ae = Autoencoder(code_size=2, **FAST).fit(pd.DataFrame(X, columns=[f"f{i}" for i in range(10)]))
    assert not hasattr(ae.fit(X), "feature_names_in_")


def test_image_shape_must_agree_with_image_arrays():
    images = np.random.default_rng(0).random((10, 8, 8))
    conv = dict(kind="conv", code_size=2, filters=(4,), **FAST)
    with pytest.raises(ValueError, match=r"image_shape=\(4, 16\) disagrees with the images' own shape \(8, 8\)"):
        Autoencoder(image_shape=(4, 16), **conv).fit(images)
    assert Autoencoder(image_shape=(8, 8, 1), **conv).fit(images).image_shape_ == (8, 8, 1)  # a channel of 1 aside


def test_conv_on_samples_of_more_than_three_dimensions_names_their_shape():
    with pytest.raises(ValueError, match=r"kind='conv'\) takes samples of shape \(height, width\) or \(height, "
                                         r"width, channels\); X has samples of shape \(4, 4, 2, 2\)"):
        Autoencoder(kind="conv", code_size=4, filters=(4,), **FAST).fit(np.zeros((10, 4, 4, 2, 2)))
