"""Review fixes for functional and Sequential models and their Inputs: dict inputs called on symbolic tensors,
Keras' Input/InputLayer arguments and model configs, and unique layer names, each checked against Keras 3."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise
from layerwise import layers as L


# ---- a model with dict inputs, called on a dict of symbolic tensors ---------------------------------------------

def _dict_input_model(library):
    a, b = library.Input((3,), name="a"), library.Input((4,), name="b")
    inner = library.Model({"a": a, "b": b}, library.layers.Dense(2)(library.layers.Concatenate()([a, b])))
    x, y = library.Input((3,)), library.Input((4,))
    return inner, library.Model([x, y], inner({"a": x, "b": y}))


def test_a_dict_input_model_calls_on_a_dict_of_symbolic_tensors_as_keras(keras, tmp_path):
    A, B = np.random.default_rng(0).random((5, 3), "float32"), np.ones((5, 4), "float32")
    _, theirs = _dict_input_model(keras)
    inner, outer = _dict_input_model(layerwise)
    assert outer.predict([A, B], verbose=0).shape == theirs.predict([A, B], verbose=0).shape == (5, 2)
    np.testing.assert_allclose(outer.predict([A, B], verbose=0), inner.predict({"a": A, "b": B}, verbose=0))
    outer.save(tmp_path / "outer.lw")
    np.testing.assert_allclose(layerwise.models.load_model(tmp_path / "outer.lw").predict([A, B], verbose=0),
                               outer.predict([A, B], verbose=0), atol=1e-6)


def test_a_dict_of_symbolic_tensors_is_checked_by_input_name():
    inner, _ = _dict_input_model(layerwise)
    with pytest.raises(ValueError, match=r"has inputs \['a', 'b'\]; the dict given lacks \['b'\]"):
        inner({"a": layerwise.Input((3,))})
    with pytest.raises(ValueError, match=r"Input 'b' .* expected \(None, 4\) .* received \(None, 5\)"):
        inner({"a": layerwise.Input((3,)), "b": layerwise.Input((5,))})


# ---- Keras' Input and InputLayer arguments, and Keras' model configs ---------------------------------------------

@pytest.mark.parametrize("make, shape", [
    (lambda lib: lib.Input((3,), sparse=False, ragged=False, optional=False), (None, 3)),
    (lambda lib: lib.layers.InputLayer(batch_shape=(None, 3)).output, (None, 3)),
    (lambda lib: lib.layers.InputLayer(input_shape=(3,)).output, (None, 3)),
    (lambda lib: lib.layers.InputLayer(batch_input_shape=(2, 3)).output, (2, 3)),
    (lambda lib: lib.Input(tensor=lib.Input((5,), dtype="int32")), (None, 5)),
])
def test_input_and_input_layer_take_keras_arguments(keras, make, shape):
    ours, theirs = make(layerwise), make(keras)
    assert ours.shape == tuple(theirs.shape) == shape
    assert ours.dtype == theirs.dtype


def test_input_layer_loads_from_a_keras_config_and_gives_it_back(keras):
    config = keras.Input((3,), name="x", dtype="int32")._keras_history[0].get_config()
    layer = L.InputLayer.from_config(config)
    assert layer.output.shape == (None, 3) and layer.dtype == "int32" and layer.name == "x"
    assert layer.get_config() == config
    # the form earlier layerwise versions wrote still loads
    old = L.InputLayer.from_config({"shape": [3], "batch_size": 2, "dtype": None, "name": "y"})
    assert old.output.shape == (2, 3) and old.dtype == "float32" and old.name == "y"


@pytest.mark.parametrize("kwargs, message", [
    ({"shape": (3,), "sparse": True}, "sparse=True is not supported"),
    ({"shape": (3,), "ragged": True}, "ragged=True is not supported"),
    ({"shape": (3,), "optional": True}, "optional=True is not supported: a layerwise model cannot pass None"),
    ({"shape": (3,), "batch_shape": (None, 3)}, r"exactly one of shape .* got shape=\(3,\), batch_shape=\(None, 3\)"),
    ({}, "exactly one of shape .* got shape=None, batch_shape=None"),
    ({"shape": (4,), "tensor": "placeholder"}, "must agree with the shape \\(None, 5\\) of input_tensor"),
])
def test_input_refuses_what_it_cannot_express_clearly(kwargs, message):
    if kwargs.get("tensor") == "placeholder":
        kwargs["tensor"] = layerwise.Input((5,))
    with pytest.raises(ValueError, match=message):
        layerwise.Input(**kwargs)
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to InputLayer"):
        L.InputLayer((3,), shapee=3)


def test_models_load_keras_own_configs_with_from_config(keras):
    x = np.random.default_rng(1).random((4, 3), "float32")
    k_in = keras.Input((3,), name="features")
    functional = keras.Model(k_in, keras.layers.Dense(2, name="head")(keras.layers.Dense(5)(k_in)))
    sequential = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    for theirs, ours in ((functional, layerwise.Model.from_config(functional.get_config())),
                         (sequential, layerwise.Sequential.from_config(sequential.get_config()))):
        ours.set_weights(theirs.get_weights())
        np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-6)
        assert [layer.name for layer in ours.layers] == [layer.name for layer in theirs.layers]
    assert not layerwise.Sequential.from_config(unbuilt.get_config()).built
    mine = layerwise.Sequential([layerwise.Input((3,)), L.Dense(2)])  # layerwise's own form still round-trips
    assert layerwise.Sequential.from_config(mine.get_config()).output_shape == (None, 2)


# ---- unique names ---------------------------------------------------------------------------------------------

def test_two_layers_of_one_name_are_refused_as_keras(keras):
    for library in (keras, layerwise):
        i = library.Input((3,))
        with pytest.raises(ValueError, match='The name "d" is used 2 times in the model'):
            library.Model(i, library.layers.Dense(2, name="d")(library.layers.Dense(3, name="d")(i)))
        a, b = library.Input((3,), name="x"), library.Input((3,), name="x")
        with pytest.raises(ValueError, match='The name "x" is used 2 times in the model'):
            library.Model([a, b], library.layers.Add()([a, b]))


@pytest.mark.parametrize("make", [
    lambda lib: lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, name="d"), lib.layers.Dense(2, name="d")]),
    lambda lib: lib.Sequential([lib.layers.Dense(2, name="d"), lib.layers.Dense(2, name="d")]),
    lambda lib: lib.Sequential([lib.Input((3,), name="d"), lib.layers.Dense(2, name="d")]),
])
def test_sequential_refuses_a_name_already_taken_as_keras(keras, make):
    for library in (keras, layerwise):
        with pytest.raises(ValueError, match="Name 'd' is already the name of a layer in"):
            make(library)
    model = layerwise.Sequential([layerwise.Input((3,)), L.Dense(2, name="d")])
    with pytest.raises(ValueError, match="should have unique names"):
        model.add(L.Dense(2, name="d"))
    assert [layer.name for layer in model.layers] == ["d"] and model.output_shape == (None, 2)
