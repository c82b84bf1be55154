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
    (dict(kind="recurrent"), "kind must be"), (dict(noise="speckle"), "noise must be"),
    (dict(scale="robust"), "scale must be"), (dict(code_size=0), "code_size"),
    (dict(epochs=1.5), "epochs"), (dict(validation_fraction=1.0), "validation_fraction"),
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
