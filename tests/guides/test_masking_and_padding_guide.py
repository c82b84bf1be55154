"""Keras 3's guide "Understanding masking & padding", listing by listing, run with ``import layerwise as
keras``; outputs are compared with Keras 3 (torch backend) from the same weights."""
from __future__ import annotations

import numpy as np
from guide_helpers import as_numpy, assert_close, fresh, libraries

import layerwise as keras
from layerwise import layers, ops

raw_inputs = [
    [711, 632, 71],
    [73, 8, 3215, 55, 927],
    [83, 91, 1, 645, 1253, 927],
]


def test_padding_sequence_data_matches_keras(real_keras):
    for padding in ("post", "pre"):
        padded_inputs = keras.utils.pad_sequences(raw_inputs, padding=padding)
        np.testing.assert_array_equal(padded_inputs, real_keras.utils.pad_sequences(raw_inputs, padding=padding))
    assert padded_inputs.shape == (3, 6)


def test_masks_attached_to_eager_outputs():
    padded_inputs = keras.utils.pad_sequences(raw_inputs, padding="post")
    embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    masked_output = embedding(padded_inputs)
    np.testing.assert_array_equal(as_numpy(masked_output._keras_mask), padded_inputs != 0)


def test_compute_mask_of_embedding_and_masking(real_keras):
    padded_inputs = keras.utils.pad_sequences(raw_inputs, padding="post")
    embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    np.testing.assert_array_equal(as_numpy(embedding.compute_mask(padded_inputs)), padded_inputs != 0)
    masking_layer = layers.Masking()
    # Simulate the embedding lookup by expanding the 2D input to 3D, with embedding dimension of 10.
    unmasked_embedding = ops.cast(ops.tile(ops.expand_dims(padded_inputs, axis=-1), [1, 1, 10]), "float32")
    masked_embedding = masking_layer(unmasked_embedding)
    assert_close(as_numpy(masked_embedding), as_numpy(unmasked_embedding))
    np.testing.assert_array_equal(as_numpy(masking_layer.compute_mask(unmasked_embedding)), padded_inputs != 0)


def masked_lstms(keras, layers, ops):
    fresh(keras)
    sequential = keras.Sequential([layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True),
                                   layers.LSTM(32)])
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    outputs = layers.LSTM(32)(x)
    return sequential, keras.Model(inputs, outputs)


def test_mask_propagation_in_sequential_and_functional_models_matches_keras(real_keras):
    padded_inputs = keras.utils.pad_sequences(raw_inputs, padding="post")
    (ours_seq, ours_fn), (theirs_seq, theirs_fn) = [masked_lstms(*lib) for lib in libraries(real_keras)]
    theirs_seq(padded_inputs)
    for ours, theirs in ((ours_seq, theirs_seq), (ours_fn, theirs_fn)):
        ours(padded_inputs)
        ours.set_weights(theirs.get_weights())
        assert_close(as_numpy(ours(padded_inputs)), as_numpy(theirs(padded_inputs)), rtol=1e-5, atol=1e-6)
    # Padding must not change the result: the last real step's state is returned.
    short = as_numpy(ours_fn(np.array([raw_inputs[0]])))
    assert_close(short[0], as_numpy(ours_fn(padded_inputs))[0], rtol=1e-5, atol=1e-6)


def my_layer_listing(keras, layers, ops):
    class MyLayer(layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
            self.lstm = layers.LSTM(32)

        def call(self, inputs):
            x = self.embedding(inputs)
            # Note that you could also prepare a `mask` tensor manually.
            # It only needs to be a boolean tensor
            # with the right shape, i.e. (batch_size, timesteps).
            mask = self.embedding.compute_mask(inputs)
            output = self.lstm(x, mask=mask)  # The layer will ignore the masked values
            return output

    return MyLayer()


def test_passing_mask_tensors_directly_to_layers_matches_keras(real_keras):
    x = keras.utils.pad_sequences(raw_inputs, padding="post").astype("int32") % 5000
    ours, theirs = [my_layer_listing(*lib) for lib in libraries(real_keras)]
    theirs(x)
    ours(x)
    ours.set_weights(theirs.get_weights())
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)


def custom_embedding_class(keras, ops):
    class CustomEmbedding(keras.layers.Layer):
        def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
            super().__init__(**kwargs)
            self.input_dim = input_dim
            self.output_dim = output_dim
            self.mask_zero = mask_zero

        def build(self, input_shape):
            self.embeddings = self.add_weight(
                shape=(self.input_dim, self.output_dim),
                initializer="random_normal",
                dtype="float32",
            )

        def call(self, inputs):
            inputs = ops.cast(inputs, "int32")
            return ops.take(self.embeddings, inputs, axis=0)

        def compute_mask(self, inputs, mask=None):
            if not self.mask_zero:
                return None
            return ops.not_equal(inputs, 0)

    return CustomEmbedding


def test_a_mask_generating_layer_of_ones_own():
    CustomEmbedding = custom_embedding_class(keras, ops)
    layer = CustomEmbedding(10, 32, mask_zero=True)
    x = np.random.default_rng(0).random((3, 10)) * 9
    x = x.astype("int32")
    y = layer(x)
    mask = layer.compute_mask(x)
    assert tuple(y.shape) == (3, 10, 32)
    np.testing.assert_array_equal(as_numpy(mask), x != 0)


def temporal_softmax_model(keras, layers, ops):
    fresh(keras)

    class TemporalSoftmax(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            assert mask is not None
            broadcast_float_mask = ops.expand_dims(ops.cast(mask, "float32"), -1)
            inputs_exp = ops.exp(inputs) * broadcast_float_mask
            inputs_sum = ops.sum(inputs_exp * broadcast_float_mask, axis=-1, keepdims=True)
            return inputs_exp / inputs_sum

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=10, output_dim=32, mask_zero=True)(inputs)
    x = layers.Dense(1)(x)
    outputs = TemporalSoftmax()(x)
    return keras.Model(inputs, outputs)


def test_a_layer_that_reads_the_mask_matches_keras(real_keras):
    ours, theirs = [temporal_softmax_model(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(1).integers(0, 10, size=(32, 100))
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)


def mask_passing_model(keras, layers, ops):
    fresh(keras)

    class MyActivation(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Signal that the layer is safe for mask propagation
            self.supports_masking = True

        def call(self, inputs):
            return ops.relu(inputs)

    inputs = keras.Input(shape=(None,), dtype="int32")
    x = layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    x = MyActivation()(x)  # Will pass the mask along
    outputs = layers.LSTM(32)(x)  # Will receive the mask
    return keras.Model(inputs, outputs)


def test_a_layer_that_passes_the_mask_on_matches_keras(real_keras):
    ours, theirs = [mask_passing_model(*lib) for lib in libraries(real_keras)]
    ours.set_weights(theirs.get_weights())
    x = keras.utils.pad_sequences(raw_inputs, padding="post") % 5000
    assert_close(as_numpy(ours(x)), as_numpy(theirs(x)), rtol=1e-5, atol=1e-6)
