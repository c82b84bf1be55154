"""Layers a user's layer keeps in a list or dict attribute are its sublayers, as in Keras: their weights are the
layer's weights, train with it and save with it."""
from __future__ import annotations

import numpy as np

import layerwise

X = np.random.default_rng(0).random((16, 4)).astype("float32")
Y = X.sum(axis=1, keepdims=True)


def _stack(lib, style: str):
    class Stack(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            if style == "list":
                self.steps = [lib.layers.Dense(6, activation="relu"), lib.layers.Dense(3)]
            elif style == "appended":
                self.steps = []
                for units in (6, 3):
                    self.steps.append(lib.layers.Dense(units, activation="relu" if units == 6 else None))
            else:
                self.steps = {"first": lib.layers.Dense(6, activation="relu"), "second": lib.layers.Dense(3)}

        def call(self, x):
            for step in (self.steps.values() if style == "dict" else self.steps):
                x = step(x)
            return x

    model = lib.Sequential([lib.Input((4,)), Stack(), lib.layers.Dense(1)])
    model.compile(lib.optimizers.SGD(0.05), "mse")
    return model


def test_layers_in_a_list_or_dict_attribute_are_weights_that_train_as_in_keras(keras):
    for style in ("list", "appended", "dict"):
        ours, theirs = _stack(layerwise, style), _stack(keras, style)
        assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()], style
        assert ours.count_params() == theirs.count_params() == 4 * 6 + 6 + 6 * 3 + 3 + 3 + 1
        theirs.set_weights(ours.get_weights())
        before = ours.get_weights()
        ours.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        theirs.fit(X, Y, epochs=2, batch_size=8, shuffle=False, verbose=0)
        for old, new, expected in zip(before, ours.get_weights(), theirs.get_weights()):
            assert not np.array_equal(old, new), style  # every sublayer trained, those in the list too
            np.testing.assert_allclose(new, expected, rtol=1e-4, atol=1e-6)


def test_layers_in_a_list_attribute_save_and_load(tmp_path):
    model = _stack(layerwise, "list")
    model.fit(X, Y, epochs=1, verbose=0)
    model.save_weights(tmp_path / "w.weights.h5")
    again = _stack(layerwise, "list")
    again.load_weights(tmp_path / "w.weights.h5")
    np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))


def test_a_layer_removed_from_a_list_or_given_to_the_constructor_counts_once():
    class Blocks(layerwise.layers.Layer):
        def __init__(self, inner, **kwargs):
            super().__init__(**kwargs)
            self.inner = inner  # a layer given as an argument is recorded in the config too: one weight set
            self.blocks = [layerwise.layers.Dense(4) for _ in range(3)]

        def call(self, x):
            for block in self.blocks:
                x = block(x)
            return self.inner(x)

    layer = Blocks(layerwise.layers.Dense(2))
    layer(X)
    assert len(layer.weights) == 8 and len(dict(layer.named_parameters())) == 8
    assert [name for name, _ in layer.named_parameters()][:2] == ["inner.kernel", "inner.bias"]
    removed = layer.blocks.pop(1)  # as in Keras, a layer taken out of the list leaves the weights
    assert len(layer.weights) == 6 and not any(w is removed.kernel for w in layer.weights)
    layer.blocks.append(layerwise.layers.Dense(4))  # and one appended after the build joins them once built
    layer(X)
    assert len(layer.weights) == 8


def test_layers_made_in_build_train_and_reload(tmp_path):
    class Grown(layerwise.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.steps = []

        def build(self, input_shape):
            self.steps.append(layerwise.layers.Dense(3, activation="relu"))
            self.steps.append(layerwise.layers.Dense(2))

        def call(self, x):
            return self.steps[1](self.steps[0](x))

    layerwise.saving.register_keras_serializable("test_containers")(Grown)
    model = layerwise.Sequential([layerwise.Input((4,)), Grown(), layerwise.layers.Dense(1)])
    model.compile("adam", "mse")
    before = model.get_weights()
    assert len(before) == 6
    model.fit(X, Y, epochs=2, verbose=0)
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    model.save(tmp_path / "m.keras")
    again = layerwise.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(again.predict(X, verbose=0), model.predict(X, verbose=0))


def test_a_frozen_models_flag_survives_config_and_cloning_as_in_keras(keras):
    for lib in (layerwise, keras):
        inputs = lib.Input((3,))
        models = [lib.Sequential([lib.Input((3,)), lib.layers.Dense(2)]),
                  lib.Model(inputs, lib.layers.Dense(2)(inputs))]
        for model in models:
            model.trainable = False
            for copy in (type(model).from_config(model.get_config()), lib.models.clone_model(model)):
                assert not copy.trainable_weights, lib.__name__
                # Keras 3.15 keeps the model's own flag in some of these copies and not others (clone_model of a
                # Sequential keeps False, of a functional model and from_config of a Sequential give True);
                # layerwise keeps it in all.
                assert lib is keras or not copy.trainable
        partly = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, trainable=False), lib.layers.Dense(1)])
        assert partly.trainable and len(partly.trainable_weights) == 2  # a frozen layer leaves the model's flag
