"""Keras' own docstring examples of ``keras.layers`` run on layerwise, against Keras (the oracle).

The cases layerwise once ran differently: ``Dot`` on integer arrays (the ``Dot(axes=(1, 2))`` example) returns Keras'
matmul dtype, and ``Masking.compute_mask`` / ``Embedding.compute_mask`` take numpy data, as Keras code calls them,
and return tensors. The other examples here print values (pooling, padding, activations): they guard the
docstrings' results.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise


def _values(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy() if isinstance(tensor, torch.Tensor) else np.asarray(tensor)


def test_dot_docstring_example_on_integers_matches_keras(keras):
    x = np.arange(10).reshape(1, 5, 2)
    y = np.arange(10, 20).reshape(1, 2, 5)
    expected = keras.layers.Dot(axes=(1, 2))([x, y])
    got = layerwise.layers.Dot(axes=(1, 2))([x, y])
    assert got.dtype == expected.dtype == torch.int32  # Keras' matmul promotes int64 with int64 to int32
    np.testing.assert_array_equal(_values(got), _values(expected))
    np.testing.assert_array_equal(_values(got), [[[260, 360], [320, 445]]])  # the docstring's output


@pytest.mark.parametrize("dtypes", [("int8", "int8"), ("int32", "int64"), ("float32", "int32"), ("bool", "bool")])
def test_dot_promotes_mixed_and_integer_inputs_as_keras(keras, dtypes):
    rng = np.random.default_rng(0)
    x, y = (rng.integers(0, 3, size=(2, 3, 4)).astype(d) for d in dtypes)
    expected = keras.layers.Dot(axes=2)([x, y])
    got = layerwise.layers.Dot(axes=2)([x, y])
    assert got.dtype == expected.dtype
    np.testing.assert_array_equal(_values(got), _values(expected))


def test_masking_compute_mask_takes_numpy_inputs_as_keras(keras):
    x = np.random.default_rng(1).random((2, 4, 3)).astype("float32")
    x[:, 1] = 0.0
    x[0, 3] = 0.0
    expected = keras.layers.Masking(mask_value=0.0).compute_mask(x)
    got = layerwise.layers.Masking(mask_value=0.0).compute_mask(x)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.bool
    np.testing.assert_array_equal(_values(got), _values(expected))


def test_embedding_compute_mask_takes_numpy_ids_as_keras(keras):
    ids = np.array([[1, 2, 0], [3, 0, 0]])
    expected = keras.layers.Embedding(10, 3, mask_zero=True).compute_mask(ids)
    got = layerwise.layers.Embedding(10, 3, mask_zero=True).compute_mask(ids)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.bool
    np.testing.assert_array_equal(_values(got), _values(expected))
    assert layerwise.layers.Embedding(10, 3).compute_mask(ids) is None


# Docstring examples whose printed results are values: (expression on module ``m``, its input arrays).
_VALUE_EXAMPLES = {
    "Activation": ("m.layers.Activation('relu')(a)", [np.array([-3.0, -1.0, 0.0, 2.0])]),
    "Softmax": ("m.layers.Softmax()(a)", [np.array([1.0, 2.0, 1.0])]),
    "AveragePooling1D": ("m.layers.AveragePooling1D(pool_size=2, strides=1, padding='valid')(a)",
                         [np.arange(1.0, 6.0).reshape(1, 5, 1)]),
    "MaxPooling1D-same": ("m.layers.MaxPooling1D(pool_size=2, strides=1, padding='same')(a)",
                          [np.arange(1.0, 6.0).reshape(1, 5, 1)]),
    "AveragePooling2D": ("m.layers.AveragePooling2D(pool_size=(2, 2), strides=(2, 2), padding='valid')(a)",
                         [np.arange(1.0, 13.0).reshape(1, 3, 4, 1)]),
    "MaxPooling2D-same": ("m.layers.MaxPooling2D(pool_size=(2, 2), strides=(1, 1), padding='same')(a)",
                          [np.arange(1.0, 10.0).reshape(1, 3, 3, 1)]),
    "Concatenate": ("m.layers.Concatenate(axis=1)([a, b])",
                    [np.arange(20).reshape(2, 2, 5), np.arange(20, 30).reshape(2, 1, 5)]),
    "UnitNormalization": ("m.layers.UnitNormalization()(a)", [np.arange(6.0).reshape(2, 3)]),
    "UpSampling1D": ("m.layers.UpSampling1D(size=2)(a)", [np.arange(12.0).reshape(2, 2, 3)]),
    "ZeroPadding2D": ("m.layers.ZeroPadding2D(padding=1)(a)", [np.arange(4.0).reshape(1, 1, 2, 2)]),
    "Cropping1D": ("m.layers.Cropping1D(cropping=1)(a)", [np.arange(12.0).reshape(2, 3, 2)]),
}


@pytest.mark.parametrize("name", sorted(_VALUE_EXAMPLES))
def test_docstring_value_examples_match_keras(keras, name):
    expression, arrays = _VALUE_EXAMPLES[name]
    inputs = dict(zip("ab", arrays))
    expected = eval(expression, {"m": keras, **inputs})  # noqa: S307 - fixed expressions above
    got = eval(expression, {"m": layerwise, **inputs})  # noqa: S307
    assert tuple(got.shape) == tuple(expected.shape)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(_values(got), _values(expected), rtol=1e-6, atol=1e-6)


def test_layer_docstring_compute_sum_example_gives_a_scalar_shape_as_keras(keras):
    """``keras.layers.Layer``'s ``ComputeSum`` example returns a scalar (its running total): its symbolic output
    has shape ``()``, as Keras traces it, not a batch axis; eager calls add up as in Keras."""

    def compute_sum(module):
        class ComputeSum(module.layers.Layer):
            def __init__(self, input_dim):
                super().__init__()
                self.total = self.add_weight(shape=(), initializer="zeros", trainable=False, name="total")

            def call(self, inputs):
                self.total.assign(self.total + module.ops.sum(inputs))
                return self.total

        return ComputeSum(2)

    ours, theirs = compute_sum(layerwise), compute_sum(keras)
    assert tuple(ours(layerwise.Input((2,))).shape) == tuple(theirs(keras.Input((2,))).shape) == ()
    assert float(ours.total.numpy()) == float(theirs.total.numpy()) == 0.0  # tracing adds nothing
    for _ in range(2):
        got, expected = ours(layerwise.ops.ones((2, 2))), theirs(keras.ops.ones((2, 2)))
    assert float(got.numpy()) == float(expected.numpy()) == 8.0
    assert ours.weights == [ours.total] and ours.non_trainable_weights == [ours.total]
    assert ours.trainable_weights == []


@pytest.mark.parametrize("make", [
    lambda m: m.layers.LSTM(4, return_sequences=True, return_state=True),  # the LSTM docstring example
    lambda m: m.layers.GRU(4, return_state=True),
    lambda m: m.layers.RNN(m.layers.SimpleRNNCell(4), return_sequences=True, return_state=True),
    lambda m: m.layers.Bidirectional(m.layers.GRU(4, return_sequences=True), merge_mode=None),
    lambda m: m.layers.Bidirectional(m.layers.LSTM(4, return_state=True), merge_mode="sum"),
])
def test_recurrent_outputs_with_states_are_tuples_as_keras(keras, make):
    """``whole_seq_output, final_memory_state, final_carry_state = lstm(inputs)``: Keras returns the outputs as a
    tuple, eagerly and on symbolic inputs; so does layerwise, with the same shapes."""
    inputs = np.random.default_rng(2).random((3, 5, 8)).astype("float32")
    expected, got = make(keras)(inputs), make(layerwise)(inputs)
    assert type(got) is type(expected) is tuple
    assert [tuple(t.shape) for t in got] == [tuple(t.shape) for t in expected]
    expected, got = make(keras)(keras.Input((5, 8))), make(layerwise)(layerwise.Input((5, 8)))
    assert type(got) is type(expected) is tuple
    assert [tuple(t.shape) for t in got] == [tuple(t.shape) for t in expected]


def test_a_functional_model_on_recurrent_states_runs_as_keras(keras):
    """Keras' seq2seq pattern: the encoder's states (a tuple now) feed the decoder's ``initial_state``."""
    rng = np.random.default_rng(3)
    x, y = rng.random((2, 5, 3)).astype("float32"), rng.random((2, 4, 3)).astype("float32")

    def model(m):
        enc_in, dec_in = m.Input((5, 3)), m.Input((4, 3))
        _, h, c = m.layers.LSTM(2, return_state=True)(enc_in)
        out = m.layers.LSTM(2, return_sequences=True)(dec_in, initial_state=[h, c])
        return m.Model([enc_in, dec_in], out)

    theirs, ours = model(keras), model(layerwise)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(_values(ours([x, y])), _values(theirs([x, y])), rtol=1e-5, atol=1e-6)
