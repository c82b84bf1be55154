"""Autoencoder input scaling and range: constant columns under scale='standard' scaled as StandardScaler scales
them, and values beyond float32's range refused with a clear error, without a NumPy overflow warning first."""
import warnings

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from layerwise.autoencoders import Autoencoder
from layerwise.autoencoders._input import scaling_stats

TINY = dict(hidden_layers=(4,), epochs=1, random_state=0, scale="standard")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_standard_scaling_keeps_constant_columns_as_standardscaler(dtype):
    # a constant 1000.1 has a std of ~1e-13 from rounding alone; StandardScaler gives it a scale of 1
    X = np.column_stack([np.arange(7.0), np.full(7, 1000.1)]).astype(dtype)
    shift, scale = scaling_stats(X, "standard")
    reference = StandardScaler().fit(X)
    np.testing.assert_allclose(scale, reference.scale_, rtol=1e-6)
    np.testing.assert_allclose(shift, reference.mean_, rtol=1e-6)
    assert scale[1] == 1.0 and shift.dtype == scale.dtype == dtype


def test_new_value_in_a_training_constant_column_gives_moderate_codes():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4))
    X[:, 3] = 1000.1
    ae = Autoencoder(**TINY).fit(X)
    shifted = X[:3].copy()
    shifted[:, 3] = 1000.2  # 0.1 away from the training constant: StandardScaler maps it to 0.1, not 1e12
    assert np.abs(ae.transform(shifted) - ae.transform(X[:3])).max() < 10


def test_values_beyond_float32_raise_the_clear_error_without_a_numpy_overflow_warning():
    X = np.random.default_rng(0).normal(size=(10, 3))
    X[0, 0] = 1e39
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast" came first, under -W error instead
        with pytest.raises(ValueError, match="beyond float32's range"):
            Autoencoder(hidden_layers=(4,), epochs=1, random_state=0).fit(X)
