"""clone_model, to_json / model_from_json and clear_session, as in Keras 3."""
from __future__ import annotations

import json

import numpy as np
import pytest

import layerwise
from layerwise import layers as L
from layerwise.models import clone_model, model_from_json

X = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")


def sequential():
    return layerwise.Sequential([layerwise.Input((4,)), L.Dense(3, activation="relu"), L.Dense(2)], name="seq")


def functional():
    inputs = layerwise.Input((4,))
    hidden = L.Dense(3, activation="tanh")(inputs)
    return layerwise.Model(inputs, L.Dense(2)(L.Concatenate()([hidden, inputs * 2.0])))


@pytest.mark.parametrize("build", [sequential, functional])
def test_clone_has_the_architecture_and_new_weights(build):
    model = build()
    copy = clone_model(model)
    assert [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]
    assert [w.shape for w in copy.get_weights()] == [w.shape for w in model.get_weights()]
    assert not np.allclose(copy.predict(X, verbose=0), model.predict(X, verbose=0))
    copy.set_weights(model.get_weights())
    np.testing.assert_allclose(copy.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)
    assert all(a is not b for a, b in zip(copy.layers, model.layers))


@pytest.mark.parametrize("build", [sequential, functional])
def test_clone_function_can_share_or_change_layers(build):
    model = build()
    shared = clone_model(model, clone_function=lambda layer: layer)
    np.testing.assert_allclose(shared.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)

    def wider(layer):
        config = layer.get_config()
        if isinstance(layer, L.Dense) and config["units"] == 3:
            config["units"] = 6
        return type(layer).from_config(config)

    assert clone_model(model, clone_function=wider).layers[-2 if build is sequential else 1].units == 6


def test_recursive_clone_copies_nested_models_layer_by_layer():
    inner = sequential()
    outer = layerwise.Sequential([layerwise.Input((4,)), inner, L.Dense(1)])
    seen = []
    clone_model(outer, clone_function=lambda layer: seen.append(type(layer).__name__) or layer, recursive=True)
    assert seen == ["Dense", "Dense", "Dense"]


@pytest.mark.parametrize("build", [sequential, functional])
def test_a_compiled_models_clone_is_compiled_as_keras_compiles_it(keras, build):
    """Keras compiles the clone from the original's compile config: same loss, metrics and optimizer settings,
    a new optimizer, and metric objects the two models do not share."""
    model = build()
    assert not model.compiled and not clone_model(model).compiled
    auc = layerwise.metrics.AUC(name="auc")
    model.compile(layerwise.optimizers.Adam(0.01), "mse", metrics=["mae", auc])
    copy = clone_model(model)
    k_model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    k_model.compile(keras.optimizers.Adam(0.01), "mse", metrics=["mae", keras.metrics.AUC(name="auc")])
    k_copy = keras.models.clone_model(k_model)
    assert copy.compiled and k_copy.compiled
    assert copy.optimizer is not model.optimizer and k_copy.optimizer is not k_model.optimizer
    assert copy.optimizer.get_config() == model.optimizer.get_config()
    assert copy.get_compile_config() == model.get_compile_config()
    y = np.abs(np.tanh(X[:, :2]))
    history = copy.fit(X, (y > 0.5).astype("float32"), epochs=1, verbose=0).history
    assert sorted(history) == sorted(k_copy.fit(X, (y > 0.5).astype("float32"), epochs=1, verbose=0).history)
    assert history["auc"][0] > 0 and float(auc.result()) == 0  # the clone counted with its own AUC


def test_clone_refuses_subclassed_models():
    class Net(layerwise.Model):
        def __init__(self):
            super().__init__()
            self.dense = L.Dense(1)

        def call(self, x):
            return self.dense(x)

    with pytest.raises(ValueError, match="subclassed"):
        clone_model(Net())


@pytest.mark.parametrize("build", [sequential, functional])
def test_to_json_round_trip(build):
    model = build()
    text = model.to_json(indent=2)
    assert json.loads(text)["class_name"] in ("Sequential", "Functional")
    rebuilt = model_from_json(text)
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_model_from_json_rejects_other_json():
    with pytest.raises(ValueError, match="not a Sequential or functional model"):
        model_from_json('{"class_name": "Dense", "config": {}}')


def test_save_model_and_load_model_from_models(tmp_path):
    model = sequential()
    layerwise.models.save_model(model, tmp_path / "m.lw")
    loaded = layerwise.models.load_model(tmp_path / "m.lw")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)
    with pytest.raises(ValueError, match="holds a list"):
        model_from_json("[1, 2]")


def test_clear_session_restarts_names():
    layerwise.utils.clear_session()
    first = L.Dense(1).name
    again = L.Dense(1).name
    layerwise.utils.clear_session()
    assert (first, again, L.Dense(1).name) == ("dense", "dense_1", "dense")
    assert layerwise.Sequential().name == "sequential"
