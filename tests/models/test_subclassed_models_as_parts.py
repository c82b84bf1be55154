"""Subclassed models as parts of other models (a Sequential's layer, called on ``Input`` tensors, held by another
subclassed model), the paths, aggregation and optimizer layouts of their own weights, and the config Keras makes
for one without ``get_config``, each checked against Keras."""
from __future__ import annotations

import copy
import json
import warnings

import numpy as np
import pytest

import layerwise
from layerwise.models import load_model
from layerwise.optimizers.layouts import keras_layouts

X = np.random.default_rng(0).random((8, 4)).astype("float32")
Y = np.random.default_rng(1).random((8, 1)).astype("float32")
KINDS = ("sequential", "functional", "subclassed")


def _classes(lib):
    class Block(lib.Model):
        def __init__(self, units=3, activation="relu", **kwargs):
            super().__init__(**kwargs)
            self.units, self.activation = units, activation
            self.d1 = lib.layers.Dense(units, activation=activation)
            self.d2 = lib.layers.Dense(2)

        def call(self, x):
            return self.d2(self.d1(x))

    class Outer(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.blk = Block(name="blk")
            self.out = lib.layers.Dense(1, name="out")

        def call(self, x):
            return self.out(self.blk(x))

    return Block, Outer


def _model(lib, kind: str):
    block, outer = _classes(lib)
    if kind == "sequential":
        return lib.Sequential([lib.Input((4,), name="x"), block(name="blk"), lib.layers.Dense(1, name="out")],
                              name="seq")
    if kind == "functional":
        inputs = lib.Input((4,), name="x")
        return lib.Model(inputs, lib.layers.Dense(1, name="out")(block(name="blk")(inputs)), name="f")
    model = outer(name="outer")
    model(X[:1])
    return model


def _twins(keras, kind: str):
    theirs, ours = _model(keras, kind), _model(layerwise, kind)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def _summary(model) -> str:
    lines = []
    model.summary(print_fn=lambda text, **kwargs: lines.append(text))
    return "".join(lines)


@pytest.mark.parametrize("kind", KINDS)
def test_a_subclassed_part_builds_lists_its_weights_and_trains_as_in_keras(keras, kind):
    theirs, ours = _twins(keras, kind)
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()] == \
        [(4, 3), (3,), (3, 2), (2,), (2, 1), (1,)]
    assert ours.count_params() == theirs.count_params() == 26
    assert [layer.name for layer in ours.layers][-2:] == [layer.name for layer in theirs.layers][-2:] == ["blk", "out"]
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    for lib, model in ((keras, theirs), (layerwise, ours)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        model.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for mine, keras_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, keras_weight, rtol=1e-5, atol=1e-6)
    if kind != "subclassed":  # a subclassed model's summary shows None where Keras shows "?" (README)
        assert _summary(ours) == _summary(theirs)
    assert "blk (Block)" in _summary(ours) and _summary(ours).splitlines()[-4:] == _summary(theirs).splitlines()[-4:]


@pytest.mark.parametrize("kind", KINDS)
def test_weights_files_of_a_model_with_a_subclassed_part_go_both_ways_with_keras(keras, kind, tmp_path):
    theirs, ours = _model(keras, kind), _model(layerwise, kind)
    theirs.save_weights(tmp_path / "keras.weights.h5")
    ours.load_weights(tmp_path / "keras.weights.h5")
    np.testing.assert_allclose(ours.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    ours = _model(layerwise, kind)
    ours.save_weights(tmp_path / "ours.weights.h5")
    theirs.load_weights(tmp_path / "ours.weights.h5")
    np.testing.assert_allclose(theirs.predict(X, verbose=0), ours.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_subclassed_model_on_input_tensors_keeps_unknown_axes_as_keras(keras):
    shapes = []
    for lib in (keras, layerwise):
        block, _ = _classes(lib)
        shapes.append(tuple(block()(lib.Input((None, 4))).shape))
    assert shapes[0] == shapes[1] == (None, None, 2)
    two = layerwise.Input((4,)), layerwise.Input((4,))
    with pytest.raises(NotImplementedError, match="one list or dict"):
        _classes(layerwise)[0](name="two")(*two)


def _weighted_classes(lib):
    class Scaled(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.d = lib.layers.Dense(2, name="d")
            self.v0 = lib.Variable(np.ones(2, "float32"), name="v0")

        def build(self, input_shape):
            self.vv = lib.Variable(np.ones(2, "float32"), name="vv")
            self.s = self.add_weight(shape=(2,), name="scale", initializer="ones", aggregation="mean")

        def call(self, x):
            return self.d(x) * self.vv * self.s * self.v0

    class Holder(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.m = Scaled(name="m")
            self.e = lib.layers.Dense(1, name="e")

        def call(self, x):
            return self.e(self.m(x))

    return Scaled, Holder


def test_own_weights_have_keras_paths_aggregation_and_optimizer_layouts(keras):
    found = []
    for lib in (keras, layerwise):
        scaled, holder = _weighted_classes(lib)
        top = scaled(name="top")
        top(X[:1])
        nested = holder(name="h")
        nested(X[:1])
        inputs = lib.Input((4,))
        models = [top, nested, lib.Sequential([lib.Input((4,)), scaled(name="m2")], name="seq"),
                  lib.Model(inputs, scaled(name="m3")(inputs), name="f")]
        found.append((top.s.aggregation, [v.path for v in (top.v0, top.vv, top.s)], models))
    (their_aggregation, their_paths, theirs), (our_aggregation, our_paths, ours) = found
    assert our_aggregation == their_aggregation == "mean"
    assert our_paths == their_paths == ["v0", "top/vv", "top/scale"]
    for their_model, our_model in zip(theirs, ours):  # the paths Muon and Adafactor go by (optimizers/layouts.py)
        layouts = keras_layouts(our_model)
        assert [(layouts[id(w)].path, layouts[id(w)].shape) for w in our_model.trainable_weights] == \
            [(w.path, tuple(w.shape)) for w in their_model.trainable_weights]


def test_add_weight_takes_keras_aggregation_and_overwrite_with_gradient(keras):
    for lib in (keras, layerwise):
        layer = lib.layers.Dense(2)
        weight = layer.add_weight(shape=(2,), initializer="zeros", aggregation="sum", overwrite_with_gradient=True)
        assert (weight.aggregation, weight.overwrite_with_gradient) == ("sum", True)
        assert layer.add_weight(shape=(1,), aggregation=None).aggregation == "none"
        with pytest.raises(ValueError, match="aggregation"):
            layer.add_weight(shape=(1,), aggregation="max")
        with pytest.raises(TypeError, match="overwrite_with_gradient"):
            layer.add_weight(shape=(1,), overwrite_with_gradient="yes")
    copied = copy.deepcopy(weight)
    assert (copied.aggregation, copied.overwrite_with_gradient) == ("sum", True)
    assert layerwise.Variable(np.zeros(2), aggregation="only_first_replica").aggregation == "only_first_replica"


def test_a_subclassed_model_without_get_config_gets_keras_config_and_saves_whole(keras, tmp_path):
    theirs, ours = _classes(keras)[0](name="blk"), _classes(layerwise)[0](name="blk")
    assert json.dumps(ours.get_config()) == json.dumps(theirs.get_config())  # name, arguments, trainable, dtype
    ours = _classes(layerwise)[0](units=5, activation="tanh", name="blk")
    ours(X[:1])
    assert ours.get_config()["units"] == 5  # the argument given (Keras 3.15 records the default, README)
    for name in ("m.keras", "m.lw"):
        ours.save(tmp_path / name)
        loaded = load_model(tmp_path / name, custom_objects={"Block": _classes(layerwise)[0]})
        assert (loaded.units, loaded.activation, loaded.name) == (5, "tanh", "blk")
        np.testing.assert_allclose(loaded.predict(X, verbose=0), ours.predict(X, verbose=0), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        in_keras = keras.models.load_model(tmp_path / "m.keras", custom_objects={"Block": _classes(keras)[0]})
    np.testing.assert_allclose(in_keras.predict(X, verbose=0), ours.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


def test_a_sequential_holding_a_subclassed_model_saves_whole_both_ways(keras, tmp_path):
    theirs, ours = _twins(keras, "sequential")
    theirs.save(tmp_path / "keras.keras")
    ours.save(tmp_path / "ours.keras")
    loaded = load_model(tmp_path / "keras.keras", custom_objects={"Block": _classes(layerwise)[0]})
    np.testing.assert_allclose(loaded.predict(X, verbose=0), theirs.predict(X, verbose=0), rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        in_keras = keras.models.load_model(tmp_path / "ours.keras", custom_objects={"Block": _classes(keras)[0]})
    np.testing.assert_allclose(in_keras.predict(X, verbose=0), ours.predict(X, verbose=0), rtol=1e-5, atol=1e-6)


def _unsavable(lib):
    class WithArray(lib.Model):
        def __init__(self, table, **kwargs):
            super().__init__(**kwargs)
            self.table = table

        def call(self, x):
            return x

    class WithArgs(lib.Model):
        def __init__(self, *sizes, **kwargs):
            super().__init__(**kwargs)

        def call(self, x):
            return x

    class Simple(lib.Model):  # no **kwargs: no name in the config, as Keras
        def __init__(self, rate=0.5):
            super().__init__()

        def call(self, x):
            return x

    return WithArray, WithArgs, Simple


def test_the_automatic_config_refuses_what_keras_refuses(keras, tmp_path):
    (their_array, their_args, their_simple), (our_array, our_args, our_simple) = _unsavable(keras), \
        _unsavable(layerwise)
    for model in (their_array(np.zeros(2)), our_array(np.zeros(2))):
        with pytest.raises(NotImplementedError):
            model.get_config()
    unsaved = our_array(np.zeros(2))
    unsaved(X[:1])
    with pytest.raises(NotImplementedError, match=r"WithArray.*get_config"):
        unsaved.save(tmp_path / "m.keras")

    class KerasArgs(keras.layers.Layer):  # Keras refuses *args given to a layer (its models drop every argument)
        def __init__(self, *sizes, **kwargs):
            super().__init__(**kwargs)

    with pytest.raises(NotImplementedError):
        KerasArgs(1, 2).get_config()
    with pytest.raises(NotImplementedError, match=r"\*args"):
        our_args(1, 2).get_config()
    assert json.dumps(our_args(name="a").get_config()) == json.dumps(their_args(name="a").get_config())
    assert json.dumps(our_simple().get_config()) == json.dumps(their_simple().get_config())
    assert "name" not in our_simple().get_config()


def test_clone_model_makes_a_new_subclassed_part_from_its_class_as_keras(keras):
    clones = []
    for lib in (keras, layerwise):
        original = _model(lib, "sequential")
        clones.append((original, lib.models.clone_model(original)))
    (their_original, theirs), (our_original, ours) = clones
    assert [type(layer).__name__ for layer in ours.layers] == [type(layer).__name__ for layer in theirs.layers]
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in theirs.get_weights()]
    assert ours.layers[0] is not our_original.layers[0] and ours.layers[0].name == "blk"


def _custom_compile_class(lib):
    class CustomCompile(lib.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

        def compile(self, optimizer, loss_fn):
            super().compile(optimizer=optimizer, loss=loss_fn)
            self.model_optimizer, self.loss_fn = optimizer, loss_fn

        def get_compile_config(self):
            return {"model_optimizer": self.model_optimizer, "loss_fn": self.loss_fn}

        def compile_from_config(self, config):
            self.compile(lib.saving.deserialize_keras_object(config["model_optimizer"]),
                         lib.saving.deserialize_keras_object(config["loss_fn"]))

    return CustomCompile


def test_keras_files_keep_a_model_s_own_compile_config_both_ways(keras, tmp_path):
    for lib in (keras, layerwise):
        model = _custom_compile_class(lib)(name="cc")
        model.compile("sgd", "mae")
        model.fit(X, X[:, :2], verbose=0)
        model.save(tmp_path / f"{lib.__name__}.keras")
    for lib in (keras, layerwise):
        for writer in ("keras", "layerwise"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                loaded = lib.models.load_model(tmp_path / f"{writer}.keras",
                                               custom_objects={"CustomCompile": _custom_compile_class(lib)})
            assert (loaded.model_optimizer, loaded.loss_fn) == ("sgd", "mae")
