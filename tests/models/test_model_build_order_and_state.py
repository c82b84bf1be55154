"""Keras tutorial patterns that once differed in layerwise, each checked against Keras on torch:

- a subclassed model's own ``build(input_shape)`` (creating layers, then ``super().build``) runs before its
  first call, as Keras' ``Layer.__call__`` runs it;
- building a model leaves its state alone: the call that finds shapes (a functional model's symbolic call,
  a subclassed model's first build) undoes ``assign_add`` on a counter, as Keras' symbolic trace does.
"""
from __future__ import annotations

import numpy as np
import pytest

import layerwise

X = np.linspace(-1, 1, 24, dtype="float32").reshape(6, 4)
Y = np.arange(6) % 3


def _build_model_class(lib):
    class BuiltInBuild(lib.Model):
        """Keras' subclassing guide: the first layer is made in build, once the feature count is known."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.classifier = lib.layers.Dense(3, activation="softmax")

        def build(self, input_shape):
            self.features = lib.layers.Dense(input_shape[-1] * 2, activation="relu")
            super().build(input_shape)

        def call(self, inputs, training=False):
            return self.classifier(self.features(inputs))

    return BuiltInBuild


def _counter_class(lib):
    class Counter(lib.layers.Layer):
        """Counts its calls in a non-trainable weight made in build (Keras' "layers with state" pattern)."""

        def build(self, input_shape):
            self.total = self.add_weight(shape=(), initializer="zeros", trainable=False, name="total")

        def call(self, inputs):
            self.total.assign_add(1.0)
            return inputs

    return Counter


@pytest.mark.parametrize("first", ["call", "fit", "predict"])
def test_subclassed_model_build_runs_before_first_call(keras, first):
    counts = {}
    for name, lib in (("keras", keras), ("layerwise", layerwise)):
        model = _build_model_class(lib)()
        if first == "call":
            out = model(X)
            assert tuple(out.shape) == (6, 3)
        elif first == "fit":
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            model.fit(X, Y, epochs=1, batch_size=3, verbose=0)
        else:
            assert model.predict(X, verbose=0).shape == (6, 3)
        assert model.built
        counts[name] = (model.count_params(), len(model.weights))
    assert counts["layerwise"] == counts["keras"] == (4 * 8 + 8 + 8 * 3 + 3, 4)


@pytest.mark.parametrize("how", ["functional", "subclassed_call", "subclassed_fit", "subclassed_predict"])
def test_building_a_model_leaves_layer_state_alone(keras, how):
    totals = {}
    for name, lib in (("keras", keras), ("layerwise", layerwise)):
        counter = _counter_class(lib)()
        if how == "functional":
            inputs = lib.Input((4,))
            model = lib.Model(inputs, lib.layers.Dense(1)(counter(inputs)))
            totals[name] = [float(counter.total.numpy())]  # after the symbolic call: 0 in Keras
        else:
            class Wrapper(lib.Model):
                def __init__(self, counter, dense):
                    super().__init__()
                    self.counter, self.dense = counter, dense

                def call(self, inputs):
                    return self.dense(self.counter(inputs))

            model = Wrapper(counter, lib.layers.Dense(1))
            totals[name] = []
        if how in ("functional", "subclassed_fit"):
            model.compile(optimizer="sgd", loss="mse")
            model.fit(X, np.zeros((6, 1), "float32"), epochs=1, batch_size=3, verbose=0)
        elif how == "subclassed_call":
            model(X)
        else:
            model.predict(X, batch_size=6, verbose=0)
        totals[name].append(float(counter.total.numpy()))
    assert totals["layerwise"] == totals["keras"]
    assert totals["layerwise"][-1] == {"functional": 2.0, "subclassed_fit": 2.0}.get(how, 1.0)
