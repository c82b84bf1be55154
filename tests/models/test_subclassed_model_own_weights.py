"""A subclassed model's own weights (``add_weight``, ``add_variable``, a ``keras.Variable`` attribute), checked
against Keras, where ``Model`` is a ``Layer``: their order in ``weights`` (the model's own first, trainable ones
first, then its layers'), training with ``fit`` (regularizer, constraint, ``trainable=False``), the summary's counts,
and weights files and whole-model files both ways between Keras and layerwise."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import layerwise

X = np.random.default_rng(0).random((16, 3)).astype("float32")
Y = -5.0 * np.ones((16, 2), "float32")  # pushes "scale" below 0, where its NonNeg constraint holds it


def _scaled_class(lib):
    """A model making weights in ``__init__``, in ``build`` (``add_weight`` and ``add_variable`` in Keras' argument
    order) and as a ``Variable`` attribute, one of them not trainable."""

    class Scaled(lib.Model):
        def __init__(self, units=2, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.dense = lib.layers.Dense(units)
            self.pre = self.add_weight(shape=(3,), initializer="ones", name="pre")

        def build(self, input_shape):
            # shape, initializer, dtype, trainable, autocast, regularizer, constraint, name
            self.scale = self.add_variable((1,), "ones", None, True, True, lib.regularizers.L2(0.1),
                                           lib.constraints.NonNeg(), "scale")
            self.frozen = self.add_weight(shape=(self.units,), initializer="zeros", name="frozen", trainable=False)
            self.shift = lib.Variable(np.full((self.units,), 0.5, "float32"), name="shift")
            self.dense.build(input_shape)  # Keras' load_model builds a subclassed model by its build alone
            super().build(input_shape)

        def call(self, x):
            return self.dense(x * self.pre) * self.scale + self.frozen + self.shift

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return Scaled


START = [np.array([1.0, 0.5, 2.0], "float32"), np.array([0.1], "float32"), np.array([0.5, -0.5], "float32"),
         np.array([0.3, -0.2], "float32"), np.full((3, 2), 0.4, "float32"), np.array([0.1, 0.2], "float32")]


def _twins(keras):
    theirs, ours = _scaled_class(keras)(), _scaled_class(layerwise)()
    for model in (theirs, ours):
        model(X[:2])
        model.set_weights(START)
    return theirs, ours


def _names(weights) -> list[str]:
    return [w.name for w in weights]


def test_own_weights_come_first_in_keras_order_and_names(keras):
    theirs, ours = _twins(keras)
    own = ["pre", "scale", "shift", "frozen"]  # trainable ones in creation order, then the others
    assert _names(theirs.weights[:4]) == _names(ours.weights[:4]) == own
    assert [tuple(w.shape) for w in theirs.weights[:4]] == [tuple(w.shape) for w in ours.weights[:4]]
    assert len(ours.weights) == len(theirs.weights) == 6
    assert _names(ours.non_trainable_weights) == _names(theirs.non_trainable_weights) == ["frozen"]
    assert len(ours.trainable_weights) == len(theirs.trainable_weights) == 5
    for a, b, start in zip(ours.get_weights(), theirs.get_weights(), START):
        np.testing.assert_array_equal(a, start)
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-6)
    assert ours.count_params() == theirs.count_params() == 16
    # (the automatic name counts the Scaled models earlier tests in this process made)
    assert isinstance(ours.scale, layerwise.Variable) and ours.scale.path == f"{ours.name}/scale"


def test_regularizer_adds_to_losses_as_in_keras(keras):
    theirs, ours = _twins(keras)
    assert len(ours.losses) == len(theirs.losses) == 1
    penalties = [float(model.losses[0].detach()) for model in (ours, theirs)]  # 0.1 * 0.1 ** 2
    np.testing.assert_allclose(penalties[0], penalties[1], rtol=1e-6)


def test_fit_trains_own_weights_as_keras_with_regularizer_constraint_and_frozen_weight(keras):
    theirs, ours = _twins(keras)
    theirs.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    ours.compile(optimizer=layerwise.optimizers.SGD(0.05), loss="mse")
    fits = [m.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0).history["loss"] for m in (theirs, ours)]
    np.testing.assert_allclose(fits[1], fits[0], rtol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert float(ours.scale.detach()[0]) == 0.0  # held by NonNeg after each step, as in Keras
    np.testing.assert_array_equal(ours.frozen.detach().numpy(), START[3])  # trainable=False: not moved
    assert not np.allclose(ours.pre.detach().numpy(), START[0])  # trained


def test_freezing_the_model_freezes_its_own_weights(keras):
    theirs, ours = _twins(keras)
    for model in (theirs, ours):
        model.trainable = False
    assert ours.trainable_weights == [] and theirs.trainable_weights == []
    assert len(ours.non_trainable_weights) == len(theirs.non_trainable_weights) == 6
    assert not ours.pre.requires_grad
    ours.trainable = True
    assert ours.pre.requires_grad and not ours.frozen.requires_grad


def test_summary_counts_own_weights(keras, capsys):
    theirs, ours = _twins(keras)
    ours.summary()
    text = capsys.readouterr().out
    assert "Total params: 16" in text and "Trainable params: 14" in text and "Non-trainable params: 2" in text
    assert len(ours.trainable_weights) == len(theirs.trainable_weights)


def test_explicit_build_makes_own_weights_once(keras):
    theirs, ours = _scaled_class(keras)(), _scaled_class(layerwise)()
    for model in (theirs, ours):
        model.build((None, 3))
        model(X[:2])
    assert len(ours.weights) == len(theirs.weights) == 6


@pytest.mark.parametrize("name", ["w.weights.h5", "w.lw"])
def test_weights_files_round_trip(keras, tmp_path, name):
    _, ours = _twins(keras)
    ours.save_weights(tmp_path / name)
    again = _scaled_class(layerwise)()
    again(X[:2])
    again.load_weights(tmp_path / name)
    for a, b in zip(again.get_weights(), START):
        np.testing.assert_array_equal(a, b)


def test_keras_weights_files_load_both_ways(keras, tmp_path):
    theirs, ours = _scaled_class(keras)(), _scaled_class(layerwise)()
    theirs(X[:2])
    theirs.set_weights(START)
    theirs.save_weights(tmp_path / "keras.weights.h5")
    ours(X[:2])
    ours.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-6)
    ours.set_weights([w + 1 for w in START])
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    for a, b in zip(theirs.get_weights(), ours.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_whole_model_files_round_trip_with_keras(keras, tmp_path):
    theirs, ours = _twins(keras)
    ours.save(tmp_path / "ours.keras")
    theirs.save(tmp_path / "theirs.keras")
    ours.save(tmp_path / "ours.lw")
    loaded = [keras.models.load_model(tmp_path / "ours.keras", custom_objects={"Scaled": type(theirs)})]
    loaded += [layerwise.models.load_model(tmp_path / path, custom_objects={"Scaled": type(ours)})
               for path in ("theirs.keras", "ours.keras", "ours.lw")]
    for model in loaded:
        assert model.units == 2 and len(model.weights) == 6
        for a, b in zip(model.get_weights(), START):
            np.testing.assert_array_equal(a, b)
    assert isinstance(loaded[1], type(ours))


def test_to_json_of_a_model_with_get_config_rebuilds_it():
    model = _scaled_class(layerwise)(units=3)
    model(X[:2])
    spec = json.loads(model.to_json())
    assert spec["class_name"] == "Scaled" and spec["config"]["units"] == 3
    assert spec["build_config"] == {"input_shape": [None, 3]}
    rebuilt = layerwise.models.model_from_json(model.to_json(), custom_objects={"Scaled": type(model)})
    assert [tuple(w.shape) for w in rebuilt.weights] == [tuple(w.shape) for w in model.weights]


def test_unknown_subclassed_class_is_named_when_loading(tmp_path):
    model = _scaled_class(layerwise)()
    model(X[:2])
    model.save(tmp_path / "m.keras")
    with pytest.raises(ValueError, match="'Scaled' is not a Sequential or functional model.*custom_objects"):
        layerwise.models.load_model(tmp_path / "m.keras")


def test_nested_subclassed_model_lists_its_own_weights_where_keras_does(keras, tmp_path):
    def define(lib):
        class Inner(lib.Model):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.dense = lib.layers.Dense(2)
                self.offset = self.add_weight(shape=(2,), initializer="ones", name="offset")

            def call(self, x):
                return self.dense(x) + self.offset

        class Outer(lib.Model):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.inner = Inner()
                self.gain = self.add_weight(shape=(), initializer="ones", name="gain")
                self.out = lib.layers.Dense(1)

            def call(self, x):
                return self.out(self.inner(x) * self.gain)

        return Outer()

    theirs, ours = define(keras), define(layerwise)
    theirs(X[:2])
    ours(X[:2])
    assert [tuple(w.shape) for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    theirs.save_weights(tmp_path / "k.weights.h5")
    ours.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-6)


def test_set_weights_of_the_wrong_count_names_the_model(keras):
    _, ours = _twins(keras)
    with pytest.raises(ValueError, match="Model 'scaled.*' expects 6 weight arrays, got 5"):
        ours.set_weights(START[:5])
    with pytest.raises(ValueError, match="weight 'pre' has shape \\(3,\\); received \\(2,\\)"):
        ours.set_weights([np.zeros(2, "float32")] + START[1:])
    assert torch.equal(ours.pre.detach(), torch.tensor(START[0]))
