"""Keras' ``optimizers.legacy`` and ``utils.legacy`` namespaces, against Keras: the legacy optimizers exist and
refuse with the name to use instead, and ``utils.legacy`` writes and reads Keras 2's serialized form."""
from __future__ import annotations

import pytest

from layerwise import activations, layers, losses, optimizers, regularizers, utils


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
