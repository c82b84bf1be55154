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


def test_the_container_stays_the_users_list_or_dict():
    class Heads(layerwise.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.named = {"first.a": layerwise.layers.Dense(2), "keys": layerwise.layers.Dense(2)}
            self.pair = (layerwise.layers.Dense(3), layerwise.layers.Dense(3))
            self.steps = [layerwise.layers.Dense(4)]

        def call(self, x):
            return self.named.get("first.a")(x) + self.named["keys"](x) + self.pair[1](self.pair[0](x))[:, :2]

    layer = Heads()
    assert type(layer.named) is dict and type(layer.pair) is tuple and type(layer.steps) is list
    layer.steps[0:1] = [layerwise.layers.Dense(5)]
    assert layer.steps.index(layer.steps[0]) == 0
    replaced = layer._modules["steps/0"]
    out = layer(X)
    assert tuple(out.shape) == (16, 2)
    assert sorted(int(np.prod(w.shape)) for w in layer.weights) == sorted([8, 2, 8, 2, 12, 3, 9, 3])
    # The build tracked the list again: the Dense(5) put in by slice assignment replaced the Dense(4).
    assert layer._modules["steps/0"] is layer.steps[0] is not replaced


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
