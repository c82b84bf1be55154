"""Keras' variable methods on the weights of ``add_weight`` (``variables.Variable``), against Keras 3."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
import torch

import layerwise as lw
from layerwise.variables import Variable


def counting_layer(lib):
    """A layer with a trainable scale, a frozen running total updated in ``call``, and a duplicate name."""

    class Counting(lib.layers.Layer):
        def build(self, input_shape):
            self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones")
            self.total = self.add_weight(shape=(input_shape[-1],), initializer="zeros", trainable=False,
                                         name="total")
            self.offset = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="total")

        def call(self, inputs):
            self.total.assign_add(lib.ops.sum(inputs, axis=0))
            return inputs * self.scale + self.offset

    return Counting(name="counting")


def test_names_paths_and_trainable_flags_match_keras(keras):
    lw.backend.clear_session(), keras.utils.clear_session()  # unnamed weights are numbered per session
    ours, theirs = counting_layer(lw), counting_layer(keras)
    x = np.ones((2, 3), "float32")
    ours(x), theirs(x)
    describe = [(w.name, w.path, w.trainable, tuple(w.shape)) for w in (ours.scale, ours.total, ours.offset)]
    assert describe == [(w.name, w.path, w.trainable, tuple(w.shape))
                        for w in (theirs.scale, theirs.total, theirs.offset)]
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]


def test_assign_methods_change_the_weight_in_place_as_in_keras(keras):
    ours, theirs = counting_layer(lw), counting_layer(keras)
    x = np.arange(6, dtype="float32").reshape(2, 3)
    for layer in (ours, theirs):
        layer(x)
        layer(x)
        layer.scale.assign([2.0, 3.0, 4.0])
        layer.offset.assign_sub(np.full(3, 0.5, "float32"))
        layer.offset.assign_add(1.0)
    for name in ("scale", "total", "offset"):
        np.testing.assert_allclose(getattr(ours, name).numpy(), getattr(theirs, name).numpy())
    stored = ours.scale
    np.testing.assert_allclose(lw.ops.convert_to_numpy(ours(x)), keras.ops.convert_to_numpy(theirs(x)))
    assert ours.scale is stored and isinstance(stored, torch.nn.Parameter)  # changed in place, still registered
    # As Keras' torch backend, value is the parameter itself, so that the guide's v.value.grad is the gradient.
    assert ours.scale.value is stored and isinstance(theirs.scale.value, torch.nn.Parameter)
    for layer in (ours, theirs):
        layer.scale.value.grad = None
        lw.ops.sum(layer(x)).backward() if layer is ours else keras.ops.sum(layer(x)).backward()
    np.testing.assert_allclose(ours.scale.value.grad.numpy(), theirs.scale.value.grad.numpy())


def test_assign_with_a_wrong_shape_names_the_weight():
    layer = counting_layer(lw)
    layer(np.ones((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"counting/variable(_\d+)?: .*shape \(3,\).*\(4,\)"):
        layer.scale.assign(np.ones(4))
    np.testing.assert_array_equal(layer.scale.numpy(), np.ones(3))  # nothing changed


def test_training_updates_the_variables_and_freezing_shows_in_trainable():
    inputs = lw.Input((3,))
    layer = counting_layer(lw)
    model = lw.Model(inputs, lw.layers.Dense(1)(layer(inputs)))
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.random.default_rng(0).random((16, 3), dtype="float32"), np.ones((16, 1), "float32")
    before = layer.scale.numpy().copy()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert isinstance(layer.scale, Variable) and not np.allclose(layer.scale.numpy(), before)
    assert layer.total.numpy().sum() > 0  # assign_add in call ran during training, without gradients
    layer.trainable = False
    assert not layer.scale.trainable and layer.trainable_weights == []
    layer.trainable = True
    assert layer.scale.trainable and not layer.total.trainable


def test_copies_and_pickles_keep_the_keras_methods():
    layer = counting_layer(lw)
    layer(np.ones((1, 3), "float32"))
    layer.scale.assign([1.0, 2.0, 3.0])
    for copied in (copy.deepcopy(layer.scale), pickle.loads(pickle.dumps(layer.scale))):
        assert isinstance(copied, Variable) and copied.path == layer.scale.path and copied.requires_grad
        np.testing.assert_array_equal(copied.numpy(), [1.0, 2.0, 3.0])
        copied.assign_add(1.0)
    np.testing.assert_array_equal(layer.scale.numpy(), [1.0, 2.0, 3.0])  # the copies are independent
    clone = copy.deepcopy(layer)
    assert isinstance(clone.total, Variable) and clone.total is not layer.total


def test_a_keras_variable_set_as_an_attribute_is_a_weight_as_in_keras(keras, tmp_path):
    def layer_with_variables(lib):
        class Shifted(lib.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.shift = lib.Variable(np.arange(3.0), name="shift", dtype="float32")
                self.scale = lib.Variable(initializer="ones", shape=(3,), trainable=False, name="scale")

            def call(self, inputs):
                return inputs * self.scale + self.shift

        return Shifted(name="shifted")

    ours, theirs = layer_with_variables(lw), layer_with_variables(keras)
    x = np.ones((2, 3), "float32")
    np.testing.assert_allclose(ours(x).detach().numpy(), keras.ops.convert_to_numpy(theirs(x)))
    for attribute in ("weights", "trainable_weights", "non_trainable_weights"):
        assert [w.name for w in getattr(ours, attribute)] == [w.name for w in getattr(theirs, attribute)]
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    model = lw.Sequential([lw.Input((3,)), ours])
    ours.shift.assign([5.0, 6.0, 7.0])
    model.save(tmp_path / "shifted.lw")
    restored = lw.models.load_model(tmp_path / "shifted.lw", custom_objects={"Shifted": type(ours)})
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert isinstance(restored.layers[0].shift, Variable) and restored.layers[0].shift.trainable
    assert not restored.layers[0].scale.trainable
