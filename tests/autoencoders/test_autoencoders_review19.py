"""Review 19: constant columns under scale='standard', NumPy sizes and kernel pairs in the builders, Gaussian
noise levels checked with a clear message, float32 overflow without a NumPy warning, join of functional models."""
import warnings

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from layerwise import Input, Model
from layerwise.autoencoders import (Autoencoder, conv_autoencoder, corrupt, dense_autoencoder, join,
                                    sequence_autoencoder)
from layerwise.autoencoders._input import scaling_stats
from layerwise.layers import Dense

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


def test_dense_autoencoder_takes_numpy_sizes():
    n_features, code = np.prod((2, 5)), np.int64(3)  # NumPy integers, as np.prod and shape arithmetic give
    encoder, decoder, autoencoder = dense_autoencoder(n_features, code, (np.int64(4),))
    assert encoder.output_shape == (None, 3) and autoencoder.output_shape == (None, 10)


def test_conv_and_sequence_builders_take_numpy_sizes():
    encoder, _, autoencoder = conv_autoencoder(np.array([6, 6, 1]), np.int64(2), (4,))
    assert encoder.output_shape == (None, 2) and autoencoder.output_shape == (None, 6, 6, 1)
    _, _, sequence = sequence_autoencoder(np.int64(5), np.int64(3), 2, (4,))
    assert sequence.output_shape == (None, 5, 3)


@pytest.mark.parametrize("bad", [-3, 0, 10.0])
def test_dense_autoencoder_rejects_bad_input_shape_by_name(bad):
    with pytest.raises(ValueError, match="input_shape must be positive integers"):
        dense_autoencoder(bad, 2)


def test_conv_autoencoder_takes_a_kernel_pair_as_conv2d_does():
    x = np.random.default_rng(0).random((2, 9, 7, 2)).astype(np.float32)
    for downsampling in ("pool", "strides"):
        encoder, _, autoencoder = conv_autoencoder((9, 7, 2), 3, (4, 6), kernel_size=(3, 5), downsampling=downsampling)
        assert encoder.layers[0].kernel_size == (3, 5)
        assert autoencoder.predict(x, verbose=0).shape == x.shape


@pytest.mark.parametrize("bad", [(3, 4), (3, 3, 3), 0])
def test_conv_autoencoder_rejects_bad_kernel_sizes_by_name(bad):
    with pytest.raises(ValueError, match="kernel_size"):
        conv_autoencoder((8, 8, 1), 2, kernel_size=bad)


@pytest.mark.parametrize("level", [-0.5, float("nan")])
def test_gaussian_noise_level_is_checked_with_a_clear_message(level):
    with pytest.raises(ValueError, match="Gaussian noise_level .* must be a finite number >= 0"):
        corrupt(np.ones((2, 3)), "gaussian", level)
    with pytest.raises(ValueError, match="Gaussian noise_level .* must be a finite number >= 0"):
        dense_autoencoder(3, 2, noise="gaussian", noise_level=level)


def test_values_beyond_float32_raise_the_clear_error_without_a_numpy_overflow_warning():
    X = np.random.default_rng(0).normal(size=(10, 3))
    X[0, 0] = 1e39
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in cast" came first, under -W error instead
        with pytest.raises(ValueError, match="beyond float32's range"):
            Autoencoder(hidden_layers=(4,), epochs=1, random_state=0).fit(X)


def test_join_takes_functional_encoder_and_decoder_and_shares_their_weights():
    inputs, codes = Input((6,)), Input((2,))
    encoder, decoder = Model(inputs, Dense(2)(inputs)), Model(codes, Dense(6)(codes))
    autoencoder = join(encoder, decoder, noise="masking", noise_level=0.2)
    X = np.random.default_rng(0).random((16, 6)).astype(np.float32)
    before = encoder.get_weights()[0].copy()
    autoencoder.compile(optimizer="adam", loss="mse")
    autoencoder.fit(X, X, epochs=1, verbose=0)
    assert not np.array_equal(encoder.get_weights()[0], before)  # trained through the autoencoder
    np.testing.assert_allclose(autoencoder.predict(X, verbose=0),
                               decoder.predict(encoder.predict(X, verbose=0), verbose=0), atol=1e-6)
