"""Built-in layers' ``get_config`` in Keras' forms: resolved window tuples (``kernel_size=3`` as ``(3, 3)``),
padding and cropping pairs, no activation as "linear", initializers, regularizers and constraints given by name
as their serialized dicts, ``trainable`` always, ``activity_regularizer`` where Keras writes it, no key Keras
leaves out; and Keras' configs rebuild the same layers."""
from __future__ import annotations

import pytest

import layerwise

# Keras writes these two for every layer; layerwise writes "dtype" only when a policy was given (see
# tests/test_mixed_precision.py).
SKIPPED = {"name", "dtype"}

CASES = [
    ("Dense", (3,), {}),
    ("Dense", (3,), {"activation": "relu", "kernel_regularizer": "l2", "kernel_constraint": "max_norm"}),
    ("Conv1D", (4, 3), {"padding": "causal"}),
    ("Conv2D", (4, 3), {"strides": 2, "dilation_rate": 1, "bias_initializer": "ones"}),
    ("Conv3D", (4, (1, 2, 3)), {}),
    ("Conv2DTranspose", (4, 3), {"strides": (2, 1)}),
    ("DepthwiseConv2D", (3,), {"depth_multiplier": 2}),
    ("SeparableConv1D", (4, 3), {}),
    ("MaxPooling2D", (), {}),
    ("MaxPooling1D", (3,), {"strides": 2}),
    ("AveragePooling3D", (2,), {}),
    ("UpSampling2D", (), {"size": 3}),
    ("UpSampling1D", (), {}),
    ("ZeroPadding1D", (), {}),
    ("ZeroPadding2D", (), {"padding": (1, 2)}),
    ("ZeroPadding3D", (), {}),
    ("Cropping1D", (), {}),
    ("Cropping2D", (), {}),
    ("Cropping3D", (), {"cropping": 2}),
    ("LSTM", (3,), {"activation": None}),
    ("LSTM", (3,), {"use_cudnn": False, "activity_regularizer": "l2"}),
    ("GRU", (3,), {}),
    ("SimpleRNN", (3,), {"recurrent_initializer": "glorot_uniform"}),
    ("SimpleRNN", (3,), {"seed": 4}),
    ("ConvLSTM2D", (2, 3), {}),
    ("Embedding", (10, 3), {}),
    ("ReversibleEmbedding", (10, 3), {}),
    ("CategoryEncoding", (4,), {}),
    ("Attention", (), {}),
    ("AdditiveAttention", (), {"seed": 2}),
    ("GroupQueryAttention", (4, 4, 2), {}),
    ("ConvLSTM1D", (2, 3), {}),
    ("BatchNormalization", (), {}),
    ("LayerNormalization", (), {}),
    ("Activation", (None,), {}),
    ("Reshape", ((2, 3),), {}),
    ("Permute", ((2, 1),), {}),
    ("Normalization", (), {}),
    ("RandomRotation", (0.1,), {}),
    ("EinsumDense", ("ab,bc->ac", 4), {}),
    ("MultiHeadAttention", (2, 4), {}),
    ("MultiHeadAttention", (2, 4), {"flash_attention": False}),
]


@pytest.mark.parametrize("name, args, kwargs", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_config_matches_keras_and_keras_configs_rebuild_the_layer(keras, name, args, kwargs):
    ours, theirs = getattr(layerwise.layers, name)(*args, **kwargs), getattr(keras.layers, name)(*args, **kwargs)
    expected = {k: v for k, v in theirs.get_config().items() if k not in SKIPPED}
    config = ours.get_config()
    assert {k: config.get(k, "<absent>") for k in expected} == expected
    assert set(config) - set(expected) - SKIPPED == set()
    rebuilt = type(ours).from_config(theirs.get_config())
    assert {k: v for k, v in rebuilt.get_config().items() if k in expected} == expected


@pytest.mark.parametrize("name", ["Bidirectional", "TimeDistributed"])
def test_wrapper_configs_write_trainable_as_keras(keras, name):
    def make(library):
        inner = library.layers.LSTM(2) if name == "Bidirectional" else library.layers.Dense(2)
        return getattr(library.layers, name)(inner, trainable=False)

    ours, theirs = make(layerwise), make(keras)
    assert set(ours.get_config()) == set(theirs.get_config()) - {"dtype"}
    assert ours.get_config()["trainable"] is theirs.get_config()["trainable"] is False
    assert type(ours).from_config(ours.get_config()).trainable is False


def test_cropping2d_crops_nothing_by_default_as_keras(keras):
    import numpy as np
    images = np.random.default_rng(0).random((2, 4, 5, 3)).astype("float32")
    out = layerwise.layers.Cropping2D()(images)
    np.testing.assert_array_equal(out.numpy(), keras.ops.convert_to_numpy(keras.layers.Cropping2D()(images)))
    assert out.shape == (2, 4, 5, 3)
