"""Built-in layers' ``get_config`` in Keras' forms: ``name``, ``trainable`` and ``dtype`` (the serialized policy,
given or not) first, then the layer's keys in Keras' order; resolved window tuples (``kernel_size=3`` as
``(3, 3)``), padding and cropping pairs, no activation as "linear", initializers, regularizers and constraints given
by name as their serialized dicts, ``activity_regularizer`` where Keras writes it, no key Keras leaves out; Keras'
configs rebuild the same layers. Also Keras' automatic config of a layer written without ``get_config``, a numpy
``mask=`` given to a call, and which layers are built from their construction."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import layerwise
from layerwise import dtype_policies

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
    expected = {k: v for k, v in theirs.get_config().items() if k != "name"}
    config = {k: v for k, v in ours.get_config().items() if k != "name"}
    assert config == expected
    assert list(config) == list(expected)  # Keras' order
    rebuilt = type(ours).from_config(theirs.get_config())
    assert {k: v for k, v in rebuilt.get_config().items() if k != "name"} == expected


@pytest.mark.parametrize("name", ["Bidirectional", "TimeDistributed"])
def test_wrapper_configs_write_trainable_and_dtype_as_keras(keras, name):
    def make(library):
        inner = library.layers.LSTM(2) if name == "Bidirectional" else library.layers.Dense(2)
        return getattr(library.layers, name)(inner, trainable=False)

    ours, theirs = make(layerwise), make(keras)
    assert list(ours.get_config()) == list(theirs.get_config())
    assert ours.get_config()["trainable"] is theirs.get_config()["trainable"] is False
    assert ours.get_config()["dtype"] == theirs.get_config()["dtype"]


# Minimal arguments of the layers whose configs are compared key by key with Keras' (the others take none).
ARGUMENTS = {
    "Activation": ("relu",), "Dense": (3,), "Conv1D": (2, 3), "Conv2D": (2, 3), "Conv2DTranspose": (2, 3),
    "DepthwiseConv2D": (3,), "SeparableConv1D": (2, 3), "Dropout": (0.5,), "AlphaDropout": (0.5,),
    "SpatialDropout2D": (0.5,), "SpatialDropout1D": (0.5,), "GaussianNoise": (0.5,), "GaussianDropout": (0.5,),
    "MaxPooling2D": (2,), "AveragePooling1D": (2,), "AveragePooling3D": (2,),
    "Permute": ((2, 1),), "Reshape": ((2, 3),), "Rescaling": (1.0,), "Embedding": (10, 3),
    "ReversibleEmbedding": (10, 3), "GRU": (3,), "LSTM": (3,), "SimpleRNN": (3,), "LSTMCell": (3,), "GRUCell": (3,),
    "RepeatVector": (2,), "ConvLSTM2D": (2, 3), "MultiHeadAttention": (2, 4), "EinsumDense": ("ab,bc->ac", 4),
    "GroupQueryAttention": (4, 4, 2), "CenterCrop": (2, 2), "RandomCrop": (2, 2), "Resizing": (2, 2),
    "RandomRotation": (0.1,), "RandomTranslation": (0.1, 0.1), "RandomShear": (0.1,), "CategoryEncoding": (4,),
    "Discretization": ((0.0, 1.0),),
}
KEY_ORDER_LAYERS = [*ARGUMENTS, "ELU", "LeakyReLU", "Flatten", "Add", "Concatenate", "Identity", "Masking",
                    "LayerNormalization", "BatchNormalization", "GlobalAveragePooling1D", "UpSampling2D",
                    "ZeroPadding2D", "Cropping1D", "UnitNormalization", "RandomFlip", "MixUp", "Equalization",
                    "Solarization", "RandomGrayscale", "Normalization", "MelSpectrogram"]


@pytest.mark.parametrize("name", KEY_ORDER_LAYERS)
def test_config_keys_are_keras_keys_in_keras_order(keras, name):
    args = ARGUMENTS.get(name, ())
    ours, theirs = getattr(layerwise.layers, name)(*args), getattr(keras.layers, name)(*args)
    assert list(ours.get_config()) == list(theirs.get_config())
    assert ours.get_config()["dtype"] == theirs.get_config()["dtype"]


def test_activity_regularizer_sits_where_keras_writes_it(keras):
    for name, args in (("Dense", (2,)), ("Conv2D", (2, 3)), ("LSTM", (2,)), ("Flatten", ())):
        for regularizer in ("l2", None):
            ours = getattr(layerwise.layers, name)(*args, activity_regularizer=regularizer).get_config()
            theirs = getattr(keras.layers, name)(*args, activity_regularizer=regularizer).get_config()
            assert list(ours) == list(theirs), (name, regularizer)
            assert ours.get("activity_regularizer") == theirs.get("activity_regularizer")


@pytest.mark.parametrize("dtype", [None, "float64", "mixed_float16"])
def test_the_policy_in_both_config_forms_rebuilds_the_layer(keras, dtype):
    ours, theirs = layerwise.layers.Dense(3, dtype=dtype), keras.layers.Dense(3, dtype=dtype)
    config = ours.get_config()
    assert config["dtype"] == theirs.get_config()["dtype"]
    for given in (config, theirs.get_config(), {**config, "dtype": config["dtype"]["config"]["name"]}):
        rebuilt = layerwise.layers.Dense.from_config(given)
        assert rebuilt.dtype_policy.name == ours.dtype_policy.name and rebuilt.get_config() == given | {
            "dtype": config["dtype"]}
    assert keras.layers.Dense.from_config(config).dtype_policy.name == theirs.dtype_policy.name


def test_without_a_policy_a_layer_takes_the_global_one_and_records_it(keras):
    try:
        for lib in (layerwise, keras):
            lib.mixed_precision.set_global_policy("mixed_bfloat16")
        ours, theirs = layerwise.layers.Dense(3).get_config(), keras.layers.Dense(3).get_config()
    finally:
        for lib in (layerwise, keras):
            lib.mixed_precision.set_global_policy("float32")
    assert ours["dtype"] == theirs["dtype"] == dtype_policies.serialize(dtype_policies.DTypePolicy("mixed_bfloat16"))
    assert layerwise.layers.Dense.from_config(ours).dtype_policy.name == "mixed_bfloat16"


def _custom_layers(lib):
    class Scaled(lib.layers.Layer):  # as Keras' guide, without get_config: its arguments are its config
        def __init__(self, units=32, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.units, self.factor = units, factor

        def call(self, x):
            return x * self.factor

    class Plain(lib.layers.Layer):  # no constructor: Layer's arguments
        def call(self, x):
            return x

    class Nameless(lib.layers.Layer):  # takes neither name nor **kwargs: no name in the config
        def __init__(self, units=32):
            super().__init__()
            self.units = units

    class Own(lib.layers.Layer):
        def __init__(self, units=32, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return Scaled, Plain, Nameless, Own


@pytest.mark.parametrize("kwargs", [{}, {"name": "n", "trainable": False}, {"dtype": "float64"},
                                    {"activity_regularizer": "l2"}])
def test_a_custom_layer_s_config_is_keras_automatic_or_base_config(keras, kwargs):
    for ours, theirs in zip(_custom_layers(layerwise), _custom_layers(keras)):
        given = {} if ours.__name__ == "Nameless" else kwargs
        args = (4,) if ours.__name__ not in ("Plain",) else ()
        config, expected = ours(*args, **given).get_config(), theirs(*args, **given).get_config()
        if "name" not in given:
            config.pop("name", None), expected.pop("name", None)
        assert json.dumps(config) == json.dumps(expected), ours.__name__  # keys, order and values
        if ours.__name__ != "Nameless":
            rebuilt = ours.from_config(config).get_config()
            assert {k: v for k, v in rebuilt.items() if k in config} == config


def test_a_custom_layer_that_cannot_take_its_config_back_is_refused_as_keras(keras):
    for lib in (layerwise, keras):
        nameless = _custom_layers(lib)[2]
        config = nameless(4).get_config()
        assert "name" not in config and config["trainable"] is True
        with pytest.raises(TypeError, match="trainable"):
            nameless.from_config(config)


def test_a_numpy_mask_reaches_call_as_a_tensor_as_in_keras(keras):
    seen = []
    for lib in (layerwise, keras):
        class Probe(lib.layers.Layer):
            def call(self, x, mask=None):
                seen.append(mask)
                return x

        x = np.ones((2, 3, 4), "float32")
        Probe()(x, mask=np.array([[True, False, True], [True, True, False]]))
        Probe()(x, mask=[np.ones((2, 3), bool), None])  # one per input: each array converted
    for mask in (seen[0], seen[2]):
        assert isinstance(mask, torch.Tensor) and mask.dtype == torch.bool
    assert seen[0].device == seen[2].device and torch.equal(seen[0].cpu(), seen[2].cpu())
    assert isinstance(seen[1][0], torch.Tensor) and seen[1][1] is None
    assert isinstance(seen[3][0], torch.Tensor) and seen[3][1] is None
    masked = layerwise.layers.LSTM(2, return_sequences=True)
    out = masked(np.ones((1, 3, 2), "float32"), mask=np.array([[True, True, False]]))
    assert torch.equal(out._keras_mask.cpu(), torch.tensor([[True, True, False]]))
    np.testing.assert_allclose(out[0, 2].detach().cpu().numpy(), out[0, 1].detach().cpu().numpy())


BUILT_LAYERS = [*ARGUMENTS, "ReLU", "ELU", "LeakyReLU", "Softmax", "Flatten", "Add", "Concatenate", "Identity",
                "Masking", "LayerNormalization", "GlobalAveragePooling1D", "GlobalMaxPooling2D", "UpSampling2D",
                "ZeroPadding2D", "Cropping1D", "UnitNormalization", "ActivityRegularization", "GaussianDropout",
                "SpatialDropout1D", "MaxPooling3D", "AveragePooling3D"]


@pytest.mark.parametrize("name", BUILT_LAYERS)
def test_built_after_construction_as_keras(keras, name):
    args = ARGUMENTS.get(name, ())
    assert getattr(layerwise.layers, name)(*args).built is getattr(keras.layers, name)(*args).built


def test_layers_built_from_construction_still_check_and_compute(keras):
    reshape, pooling = layerwise.layers.Reshape((3, 2)), layerwise.layers.MaxPooling2D(2)
    assert reshape.built and pooling.built and reshape.count_params() == pooling.count_params() == 0
    assert tuple(reshape(np.ones((2, 6), "float32")).shape) == (2, 3, 2)
    with pytest.raises(ValueError, match="max_pooling2d"):
        pooling(np.ones((2, 4, 4), "float32"))  # rank 3: the rank is checked though nothing is built
    model = layerwise.Sequential([layerwise.Input((4, 4, 1)), pooling, layerwise.layers.Flatten()])
    assert model.output_shape == (None, 4)

    for lib in (layerwise, keras):  # a subclass that builds weights is not built until it is
        class Built(lib.layers.Dropout):
            def build(self, input_shape):
                self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        layer = Built(0.1)
        assert not layer.built
        layer(np.ones((2, 3), "float32"))
        assert layer.built and layer.count_params() == 3
