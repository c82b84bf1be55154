"""Keras 3's guide "Save, serialize, and export models" (model.save/load_model, custom objects,
get_config/from_config, to_json, weights), run with ``import layerwise as keras``. Files are layerwise's
own format under the guide's names (README); configs and weights are checked against Keras 3 where both have
them. Exporting (TF SavedModel) needs TensorFlow and is left out."""
from __future__ import annotations

import numpy as np
import pytest
from guide_helpers import assert_close, libraries

import layerwise as keras


def get_model():
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    return model


def test_save_and_load_a_whole_model(tmp_path):
    model = get_model()
    rng = np.random.default_rng(0)
    test_input = rng.random((128, 32))
    test_target = rng.random((128, 1))
    model.fit(test_input, test_target, verbose=0)
    model.save(tmp_path / "my_model.keras")
    reconstructed_model = keras.models.load_model(tmp_path / "my_model.keras")
    np.testing.assert_allclose(model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0))
    # The optimizer's state came back too: training goes on as it would have.
    after = [m.fit(test_input, test_target, shuffle=False, verbose=0).history["loss"]
             for m in (model, reconstructed_model)]
    assert_close(after[0], after[1], rtol=1e-6)


@keras.saving.register_keras_serializable(package="MyLayers")
class CustomLayer(keras.layers.Layer):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {"factor": self.factor}


@keras.saving.register_keras_serializable(package="my_package", name="custom_fn")
def custom_fn(x):
    return x**2


def get_custom_model():
    inputs = keras.Input(shape=(4,))
    mid = CustomLayer(0.5)(inputs)
    outputs = keras.layers.Dense(1, activation=custom_fn)(mid)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mean_squared_error")
    return model


def test_registered_custom_objects_save_and_load(tmp_path):
    model = get_custom_model()
    x = np.random.default_rng(1).random((4, 4))
    model.fit(x, np.random.default_rng(2).random((4, 1)), verbose=0)
    model.save(tmp_path / "custom_model.keras")
    reconstructed_model = keras.models.load_model(tmp_path / "custom_model.keras")
    assert type(reconstructed_model.layers[1]) is CustomLayer and reconstructed_model.layers[1].factor == 0.5
    np.testing.assert_allclose(model.predict(x, verbose=0), reconstructed_model.predict(x, verbose=0))
    custom_objects = {"CustomLayer": CustomLayer, "custom_fn": custom_fn}
    with keras.saving.custom_object_scope(custom_objects):
        in_scope = keras.models.load_model(tmp_path / "custom_model.keras")
    np.testing.assert_allclose(in_scope.predict(x, verbose=0), model.predict(x, verbose=0))
    passed = keras.models.load_model(tmp_path / "custom_model.keras", custom_objects=custom_objects)
    np.testing.assert_allclose(passed.predict(x, verbose=0), model.predict(x, verbose=0))


def test_get_config_and_from_config_match_keras(real_keras):
    for lib, _, _ in libraries(real_keras):
        layer = lib.layers.Dense(3, activation="relu")
        layer_config = layer.get_config()
        new_layer = lib.layers.Dense.from_config(layer_config)
        assert new_layer.units == 3 and new_layer.get_config()["activation"] == "relu"

        model = lib.Sequential([lib.Input((32,)), lib.layers.Dense(1)])
        config = model.get_config()
        new_model = lib.Sequential.from_config(config)
        assert [w.shape for w in new_model.get_weights()] == [(32, 1), (1,)]

        inputs = lib.Input((32,))
        outputs = lib.layers.Dense(1)(inputs)
        model = lib.Model(inputs, outputs)
        config = model.get_config()
        new_model = lib.Model.from_config(config)
        assert new_model.output_shape == (None, 1)

        json_config = model.to_json()
        from_json = lib.models.model_from_json(json_config)
        assert from_json.output_shape == (None, 1)
        new_model.set_weights(model.get_weights())
        x = np.ones((2, 32), "float32")
        assert_close(np.asarray(new_model.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)))


def test_serialize_and_deserialize_keras_objects(real_keras):
    my_reg = keras.regularizers.L1(0.01)
    config = keras.saving.serialize_keras_object(my_reg)
    new_reg = keras.saving.deserialize_keras_object(config)
    assert isinstance(new_reg, keras.regularizers.L1) and new_reg.l1 == pytest.approx(0.01)
    theirs = real_keras.saving.serialize_keras_object(real_keras.regularizers.L1(0.01))
    assert config["class_name"] == theirs["class_name"]
    assert config["config"] == pytest.approx(theirs["config"])  # Keras keeps the float32 value of 0.01


def test_clone_model_has_new_weights_of_the_same_shapes():
    model = get_model()
    new_model = keras.models.clone_model(model)
    assert [w.shape for w in new_model.get_weights()] == [w.shape for w in model.get_weights()]
    assert new_model.layers[1] is not model.layers[1]


def test_weights_move_between_layers_and_models(real_keras, tmp_path):
    def create_layer():
        layer = keras.layers.Dense(64, activation="relu", name="dense_2")
        layer.build((None, 784))
        return layer

    layer_1 = create_layer()
    layer_2 = create_layer()
    layer_2.set_weights(layer_1.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(layer_1.get_weights(), layer_2.get_weights()))

    def create_simple_mlp(lib):
        inputs = lib.Input(shape=(784,), name="digits")
        x = lib.layers.Dense(64, activation="relu", name="dense_1")(inputs)
        x = lib.layers.Dense(64, activation="relu", name="dense_2")(x)
        outputs = lib.layers.Dense(10, name="predictions")(x)
        return lib.Model(inputs=inputs, outputs=outputs)

    functional_model = create_simple_mlp(keras)
    k_model = create_simple_mlp(real_keras)
    functional_model.set_weights(k_model.get_weights())
    functional_model.save_weights(tmp_path / "my_model.weights.h5")
    fresh_model = create_simple_mlp(keras)
    fresh_model.load_weights(tmp_path / "my_model.weights.h5")
    x = np.random.default_rng(3).random((2, 784)).astype("float32")
    assert_close(fresh_model.predict(x, verbose=0), k_model.predict(x, verbose=0), rtol=1e-5)

    # Stateless layers do not change the order or number of weights.
    inputs = keras.Input(shape=(784,), name="digits")
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(10, name="predictions")(x)
    with_dropout = keras.Model(inputs=inputs, outputs=outputs)
    with_dropout.set_weights(functional_model.get_weights())


def test_loading_a_model_whose_custom_layer_is_unknown_names_it(tmp_path):
    class Unregistered(keras.layers.Layer):
        def call(self, x):
            return x

    inputs = keras.Input((2,))
    model = keras.Model(inputs, Unregistered(name="mystery")(inputs))
    model.save(tmp_path / "unknown.keras")
    del Unregistered
    keras.layers.LAYER_CLASSES.pop("Unregistered", None)
    with pytest.raises((ValueError, TypeError), match="Unregistered"):
        keras.models.load_model(tmp_path / "unknown.keras")
