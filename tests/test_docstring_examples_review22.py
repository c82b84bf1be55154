"""Keras' docstring examples of the losses, metrics, initializers, optimizers, utils... namespaces that layerwise did
not run as Keras does: the STFT initializer, ``initializers.get`` of a tensor, ``optimizers.legacy`` and
``utils.legacy``."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from layerwise import activations, initializers, layers, losses, optimizers, regularizers, utils


@pytest.mark.parametrize("side", ["real", "imag"])
@pytest.mark.parametrize("window, scaling, periodic", [("hann", "density", False), ("hamming", "spectrum", True),
                                                       (None, None, False), ("ramp", "density", False)])
def test_stft_initializer_values_match_keras(keras, side, window, scaling, periodic):
    if window == "ramp":
        window = np.linspace(0.0, 1.0, 16)
    ours = initializers.STFT(side, window, scaling, periodic)(shape=(16, 1, 9))
    theirs = keras.initializers.STFT(side, window, scaling, periodic)(shape=(16, 1, 9))
    assert ours.dtype == torch.float32 and tuple(ours.shape) == (16, 1, 9)
    np.testing.assert_allclose(ours.numpy(), np.asarray(theirs), rtol=1e-6, atol=1e-7)


def test_stft_initializer_docstring_example(keras):
    # the example of Keras' docstring: STFTInitializer("real", "hann", "density", False)(shape=(128, 1, 513))
    ours = initializers.STFTInitializer("real", "hann", "density", False)(shape=(128, 1, 513))
    theirs = keras.initializers.STFTInitializer("real", "hann", "density", False)(shape=(128, 1, 513))
    np.testing.assert_allclose(ours.numpy(), np.asarray(theirs), rtol=1e-5, atol=1e-6)
    # Keras builds one input channel whatever the shape asks for
    assert tuple(initializers.STFT()(shape=(16, 2, 9)).shape) == tuple(keras.initializers.STFT()((16, 2, 9)).shape)
    assert initializers.STFT()((16, 1, 9), dtype="float64").dtype == torch.float64


def test_stft_initializer_config_names_and_errors(keras):
    init = initializers.STFT("imag", "hamming", "spectrum", True)
    assert init.get_config() == keras.initializers.STFT("imag", "hamming", "spectrum", True).get_config()
    assert initializers.serialize(init) == keras.initializers.serialize(
        keras.initializers.STFT("imag", "hamming", "spectrum", True))
    back = initializers.deserialize(keras.initializers.serialize(keras.initializers.STFT("imag", "hamming")))
    assert isinstance(back, initializers.STFT) and (back.side, back.window) == ("imag", "hamming")
    for name in ("stft", "STFT", "STFTInitializer"):
        assert isinstance(initializers.get(name), initializers.STFT)
        assert isinstance(keras.initializers.get(name), keras.initializers.STFT)
    for kwargs in ({"side": "both"}, {"scaling": "l2"}, {"window": "no_such_window"}):
        with pytest.raises(ValueError):
            keras.initializers.STFT(**kwargs)
        with pytest.raises(ValueError, match="STFT initializer"):
            initializers.STFT(**kwargs)


def test_stft_initializer_as_conv1d_kernel_matches_keras(keras):
    ours = layers.Conv1D(9, 16, use_bias=False, kernel_initializer=initializers.STFT())
    theirs = keras.layers.Conv1D(9, 16, use_bias=False, kernel_initializer=keras.initializers.STFT())
    x = np.random.default_rng(0).normal(size=(2, 40, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(ours(torch.as_tensor(x)).detach()), keras.ops.convert_to_numpy(theirs(x)),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("make", [lambda: np.arange(6.0).reshape(2, 3), lambda: torch.ones(2, 3)])
def test_initializers_get_of_a_tensor_returns_its_values(keras, make):
    # the docstring's `keras.initializers.get(ops.ones(shape=(5, 5)))`: a function that returns the tensor
    ours, theirs = initializers.get(make()), keras.initializers.get(make())
    assert callable(ours) and callable(theirs)
    for dtype in (None, "float16"):
        got, want = ours((2, 3), dtype), theirs((2, 3), dtype)
        assert str(got.dtype) == str(want.dtype)
        np.testing.assert_array_equal(got.float().numpy(), np.asarray(want.float()))
    with pytest.raises(ValueError):
        theirs((3, 2))
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*shape \(3, 2\)"):
        ours((3, 2))
    dense = layers.Dense(3, kernel_initializer=make())
    dense.build((None, 2))
    np.testing.assert_array_equal(dense.get_weights()[0], np.asarray(make(), dtype="float32"))


@pytest.mark.parametrize("name", ["Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"])
def test_optimizers_legacy_names_exist_and_refuse_as_in_keras(keras, name):
    with pytest.raises(ImportError):
        getattr(keras.optimizers.legacy, name)(learning_rate=0.1)
    with pytest.raises(ImportError, match=f"layerwise.optimizers.{name}"):
        getattr(optimizers.legacy, name)(learning_rate=0.1)


def test_utils_legacy_serialize_writes_keras2_form(keras):
    for ours, theirs in [(losses.MeanSquaredError(), keras.losses.MeanSquaredError()),
                         (regularizers.L1L2(0.1, 0.2), keras.regularizers.L1L2(0.1, 0.2))]:
        assert utils.legacy.serialize_keras_object(ours) == keras.utils.legacy.serialize_keras_object(theirs)
    assert utils.legacy.serialize_keras_object(activations.relu) == "relu"
    assert utils.legacy.serialize_keras_object(None) is None
    with pytest.raises(ValueError, match="get_config"):
        utils.legacy.serialize_keras_object(3)

    class Holder(layers.Layer):  # an object-valued config item is marked, as Keras 2 marks it
        def __init__(self, reg=None, **kwargs):
            super().__init__(**kwargs)
            self.reg = reg

        def get_config(self):
            return {**super().get_config(), "reg": self.reg}

    form = utils.legacy.serialize_keras_object(Holder(reg=regularizers.L2(0.5), name="h"))
    assert form["class_name"] == "Holder"
    assert form["config"]["reg"] == {"class_name": "L2", "config": {"l2": 0.5}, "__passive_serialization__": True}
    back = utils.legacy.deserialize_keras_object(form, custom_objects={"Holder": Holder},
                                                 module_objects=vars(regularizers))
    assert isinstance(back, Holder) and isinstance(back.reg, regularizers.L2) and back.reg.l2 == 0.5


def test_utils_legacy_deserialize_reads_keras2_form(keras):
    config = {"class_name": "MeanSquaredError", "config": {"name": "mse", "reduction": "sum"}}
    ours = utils.legacy.deserialize_keras_object(dict(config), module_objects=vars(losses))
    theirs = keras.utils.legacy.deserialize_keras_object(dict(config), module_objects=vars(keras.losses))
    assert type(ours).__name__ == type(theirs).__name__ and ours.get_config() == theirs.get_config()
    dense = utils.legacy.deserialize_keras_object(
        keras.utils.legacy.serialize_keras_object(keras.layers.Dense(3, activation="relu", name="d")),
        module_objects=vars(layers))
    assert isinstance(dense, layers.Dense) and (dense.units, dense.name) == (3, "d")
    assert dense.activation is activations.relu
    # Keras 3.15 fails on a name unless custom_objects holds it (it reads a registry attribute it no longer has)
    assert isinstance(utils.legacy.deserialize_keras_object("Adam", custom_objects=vars(optimizers)),
                      optimizers.Adam)
    assert utils.legacy.deserialize_keras_object("relu", module_objects=vars(activations)) is activations.relu
    for bad, message in [("no_such", "Unknown object: 'no_such'"), ({"class_name": "x"}, "'class_name' and 'config'"),
                         (3, "Could not interpret")]:
        with pytest.raises(ValueError, match=message):
            utils.legacy.deserialize_keras_object(bad, module_objects={})
