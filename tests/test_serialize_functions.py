"""``layers.serialize`` / ``deserialize`` and ``activations.deserialize``, as Keras' functions of those names."""
from __future__ import annotations

import numpy as np
import pytest

import layerwise
from layerwise import activations, layers


def test_layers_serialize_round_trips_like_keras(keras):
    ours = layers.Conv2D(4, 3, activation="relu", padding="same", name="conv")
    config = layers.serialize(ours)
    theirs = keras.layers.serialize(keras.layers.Conv2D(4, 3, activation="relu", padding="same", name="conv"))
    assert (config["module"], config["class_name"]) == (theirs["module"], theirs["class_name"])
    again = layers.deserialize(config)
    assert type(again) is layers.Conv2D and again.get_config() == ours.get_config()
    x = np.random.default_rng(0).normal(size=(1, 5, 5, 2)).astype("float32")
    ours(x)
    again(x)
    again.set_weights(ours.get_weights())
    np.testing.assert_array_equal(again(x).detach(), ours(x).detach())


def test_layers_deserialize_finds_custom_layers_and_refuses_other_input():
    class Doubler(layerwise.layers.Layer):
        def call(self, x):
            return 2 * x

    config = layers.serialize(Doubler(name="twice"))
    assert type(layers.deserialize(config, custom_objects={"Doubler": Doubler})) is Doubler
    with pytest.raises(ValueError, match="layers.deserialize takes the dict layers.serialize returns"):
        layers.deserialize("Dense")


def test_activations_deserialize_as_keras(keras):
    for name in ("relu", "softmax", "gelu"):
        assert activations.deserialize(name) is activations.get(name)
        assert keras.activations.serialize(keras.activations.deserialize(name)) == activations.serialize(
            activations.deserialize(name))

    def scaled_tanh(x):
        return 1.7 * activations.tanh(x)

    assert activations.deserialize("scaled_tanh", custom_objects={"scaled_tanh": scaled_tanh}) is scaled_tanh
    with pytest.raises(ValueError, match="Unknown activation 'scaled_tanh'"):
        activations.deserialize("scaled_tanh")
