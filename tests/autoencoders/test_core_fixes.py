"""Core engine fixes found while building autoencoders (each test failed before its fix)."""
import copy
import pickle

import numpy as np

from layerwise import Sequential, layers


def test_deepcopy_and_pickle_compute_with_their_own_weights():
    # The execution plan's steps are closures over the layers: a deepcopy used to keep running the
    # original's layers, and pickle refused the closures.
    model = Sequential([layers.Input((4,)), layers.Dense(3, activation="relu", bias_initializer="ones")])
    x = np.ones((2, 4), np.float32)
    clone = copy.deepcopy(model)
    clone.set_weights([np.zeros_like(w) for w in clone.get_weights()])
    np.testing.assert_array_equal(clone.predict(x, verbose=0), 0.0)
    assert model.predict(x, verbose=0).any()
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_conv2d_transpose_accepts_zero_output_padding_per_axis():
    # Keras allows output_padding entries of 0 (each must be below the stride); (0, 1) was refused.
    layer = layers.Conv2DTranspose(2, 3, strides=2, padding="same", output_padding=(0, 1))
    out = layer(np.zeros((1, 7, 7, 1), np.float32))
    assert tuple(out.shape) == (1, 13, 14, 2)
