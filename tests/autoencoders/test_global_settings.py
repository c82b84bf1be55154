"""Keras' global settings (image_data_format, floatx, the dtype policy) shape what the builders make, but an
Autoencoder estimator's codes depend on its parameters and data only, and it leaves the settings as it found them."""

import numpy as np
import pytest

from layerwise import backend
from layerwise.autoencoders import Autoencoder, conv_autoencoder
from layerwise.dtype_policies import dtype_policy
from layerwise.dtype_policies.dtype_policy import set_dtype_policy

DENSE = dict(code_size=2, hidden_layers=(8,), epochs=2, random_state=0)
CONV = dict(kind="conv", code_size=4, filters=(4,), epochs=2, random_state=0)
X = np.random.default_rng(0).random((20, 6))
# The settings each test changes are put back by conftest's global_settings_restored, an unset policy too.
IMAGES = np.random.default_rng(1).random((20, 8, 6, 3))


def test_builders_lay_images_out_channels_last_whatever_the_global_format():
    backend.set_image_data_format("channels_first")
    encoder, decoder, _ = conv_autoencoder((8, 6, 3), 4, filters=(4,))
    assert decoder.output_shape == (None, 8, 6, 3) and encoder.output_shape == (None, 4)


def test_conv_estimator_ignores_channels_first():
    expected = Autoencoder(**CONV).fit(IMAGES).transform(IMAGES)
    backend.set_image_data_format("channels_first")
    np.testing.assert_array_equal(Autoencoder(**CONV).fit(IMAGES).transform(IMAGES), expected)
    assert backend.image_data_format() == "channels_first"


@pytest.mark.parametrize("floatx", ["float64", "bfloat16"])
def test_dense_estimator_computes_in_float32_whatever_floatx(floatx):
    expected = Autoencoder(**DENSE).fit(X).transform(X)
    backend.set_floatx(floatx)
    np.testing.assert_array_equal(Autoencoder(**DENSE).fit(X).transform(X), expected)
    assert backend.floatx() == floatx
    backend.set_floatx("float16")
    assert dtype_policy().name == "float16"  # the unset policy still follows floatx


def test_dense_estimator_ignores_the_global_dtype_policy():
    expected = Autoencoder(**DENSE).fit(X).transform(X)
    set_dtype_policy("mixed_bfloat16")
    np.testing.assert_array_equal(Autoencoder(**DENSE).fit(X).transform(X), expected)
    assert dtype_policy().name == "mixed_bfloat16"
