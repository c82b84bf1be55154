"""Custom objects save and load: registered with ``register_keras_serializable``, named by ``custom_objects``
or by ``custom_object_scope``; each kind (activation, loss, metric, initializer, regularizer, constraint,
layer) alone and all together in a functional model; names and registry rules against Keras 3."""
from __future__ import annotations

import contextlib
import json

import numpy as np
import pytest
import torch

import layerwise as lw
from layerwise import constraints, initializers, losses, metrics, regularizers, saving, saving_registry
from layerwise import layers as L
from layerwise.layers.base import LAYER_CLASSES


# ---- the user's objects (registered by the tests, so that each test starts from a known state) --------
def scaled_tanh(x):
    return 1.7159 * torch.tanh(2 * x / 3)


def abs_error(y_true, y_pred):
    return (y_true - y_pred).abs().mean(-1)


def _scaled_squares(y_true, y_pred, scale):
    return scale * (y_true - y_pred).square().mean(-1)


class ScaledSquaredError(losses.Loss):
    def __init__(self, scale=2.0, reduction="sum_over_batch_size", name="scaled_squared_error", dtype=None):
        super().__init__(_scaled_squares, name, reduction, dtype, scale=scale)


def max_error(y_true, y_pred):
    return (y_true - y_pred).abs().amax(-1)


class MeanPrediction(metrics.Metric):
    name = "mean_prediction"

    def __init__(self, offset=0.0, name=None, dtype=None):
        super().__init__(name, dtype)
        self.offset = offset

    def values(self, y_true, y_pred):
        return y_pred.mean(-1) + self.offset

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


class Filled(initializers.Initializer):
    def __init__(self, value=0.5):
        super().__init__()
        self.value = value

    def __call__(self, shape, dtype=torch.float32):
        return torch.full(shape, self.value, dtype=dtype)

    def get_config(self):
        return {"value": self.value}


def small_uniform(shape, dtype=None):
    return 0.1 * torch.rand(shape, dtype=dtype)


class ScaledL1(regularizers.Regularizer):
    def __init__(self, factor=0.01):
        self.factor = factor

    def __call__(self, w):
        return self.factor * w.abs().sum()

    def get_config(self):
        return {"factor": self.factor}


def l1_sum(w):
    return 0.01 * w.abs().sum()


class Clip(constraints.Constraint):
    def __init__(self, bound=1.0):
        self.bound = bound

    def __call__(self, w):
        return w.clamp(-self.bound, self.bound)

    def get_config(self):
        return {"bound": self.bound}


def clip_unit(w):
    return w.clamp(-1, 1)


class ScaleLayer(L.Layer):
    """``factor * x + offset``: Keras' contract for a custom layer with a constructor argument."""

    def __init__(self, factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def build(self, input_shape):
        self.offset = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="offset")

    def call(self, x):
        return self.factor * x + self.offset

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config


KINDS = {
    "activation": [scaled_tanh], "loss_function": [abs_error], "loss_class": [ScaledSquaredError],
    "metric_function": [max_error], "metric_class": [MeanPrediction], "initializer": [Filled, small_uniform],
    "regularizer": [ScaledL1, l1_sum], "constraint": [Clip, clip_unit], "layer": [ScaleLayer],
}
KINDS["functional"] = [obj for objects in KINDS.values() for obj in objects]
X = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
Y = np.random.default_rng(1).normal(size=(16, 2)).astype("float32")


@pytest.fixture(autouse=True)
def fresh_registry():
    """Each test starts and ends with layerwise's registry (and Keras', which some tests use) as it was."""
    registries = [saving_registry._GLOBAL_CUSTOM_OBJECTS, saving_registry._GLOBAL_CUSTOM_NAMES]
    with contextlib.suppress(ImportError):
        from keras.src.saving import object_registration as keras_registry
        registries += [keras_registry.GLOBAL_CUSTOM_OBJECTS, keras_registry.GLOBAL_CUSTOM_NAMES]
    saved = [(registry, dict(registry)) for registry in registries]
    yield
    for live, copy in saved:
        live.clear()
        live.update(copy)


def forget_registrations(monkeypatch):
    """A fresh process: nothing registered, and the custom layer class not imported."""
    saving_registry._GLOBAL_CUSTOM_OBJECTS.clear()
    saving_registry._GLOBAL_CUSTOM_NAMES.clear()
    monkeypatch.delitem(LAYER_CLASSES, "ScaleLayer", raising=False)


def register(objects):
    for obj in objects:
        lw.saving.register_keras_serializable(package="my_package")(obj)


def build(kind):
    """A trained model using the custom objects of ``kind``."""
    lw.utils.set_random_seed(0)
    uses = set(KINDS[kind])

    def pick(obj, made, default):
        return made if obj in uses else default

    dense = dict(activation=pick(scaled_tanh, scaled_tanh, "tanh"),
                 kernel_initializer=pick(Filled, Filled(0.3), "glorot_uniform"),
                 bias_initializer=pick(small_uniform, small_uniform, "zeros"),
                 kernel_regularizer=pick(ScaledL1, ScaledL1(0.02), None), bias_regularizer=pick(l1_sum, l1_sum, None),
                 kernel_constraint=pick(Clip, Clip(0.4), None), bias_constraint=pick(clip_unit, clip_unit, None))
    if kind == "functional":
        inputs = lw.Input((4,))
        hidden = ScaleLayer(factor=1.5)(L.Dense(3, **dense)(inputs))
        model = lw.Model(inputs, [L.Dense(2, name="first")(hidden), L.Dense(2, name="second")(hidden)])
        model.compile(optimizer="adam", loss=[abs_error, ScaledSquaredError(scale=3.0)],
                      metrics=[[max_error], [MeanPrediction(offset=0.5)]])
        model.fit(X, [Y, Y], epochs=2, batch_size=8, verbose=0)
        return model
    stack = [lw.Input((4,)), L.Dense(3, **dense)] + ([ScaleLayer(factor=1.5)] if ScaleLayer in uses else [])
    model = lw.Sequential(stack + [L.Dense(2)])
    loss = abs_error if abs_error in uses else ScaledSquaredError(scale=3.0) if ScaledSquaredError in uses else "mse"
    model.compile(optimizer="adam", loss=loss, metrics=[pick(max_error, max_error, "mae"),
                                                        pick(MeanPrediction, MeanPrediction(offset=0.5), "mse")])
    model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
    return model


def header(path) -> dict:
    return saving.read_file(path, saving.MODEL_FORMAT)[1]


def data(kind):
    return (X, [Y, Y]) if kind == "functional" else (X, Y)


@pytest.mark.parametrize("how", ["decorator", "custom_objects", "scope"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_custom_objects_save_and_load(kind, how, tmp_path, monkeypatch):
    objects = {obj.__name__: obj for obj in KINDS[kind]}
    if how != "scope":
        register(objects.values())
    model = build(kind)
    x, y = data(kind)
    with saving.custom_object_scope(objects) if how == "scope" else contextlib.nullcontext():
        model.save(tmp_path / "m.lw")
    expected = model.evaluate(x, y, verbose=0, return_dict=True)

    forget_registrations(monkeypatch)
    if how == "decorator":
        register(objects.values())  # the new process imports the decorated code
        loaded = lw.load_model(tmp_path / "m.lw")
    elif how == "custom_objects":  # the file names "my_package>..."; custom_objects may drop the package
        loaded = lw.load_model(tmp_path / "m.lw", custom_objects=objects)
    else:
        with lw.saving.custom_object_scope(objects):
            loaded = lw.load_model(tmp_path / "m.lw")

    np.testing.assert_array_equal(np.asarray(loaded.predict(x, verbose=0)), np.asarray(model.predict(x, verbose=0)))
    assert loaded.evaluate(x, y, verbose=0, return_dict=True) == pytest.approx(expected, rel=1e-6)
    # Saved again under the same names, the loaded model's architecture and compile settings are the file's.
    names = {f"my_package>{name}": obj for name, obj in objects.items()} if how != "scope" else objects
    with lw.saving.custom_object_scope(names):
        loaded.save(tmp_path / "again.lw")
    for key in ("model_config", "compile_config"):
        assert header(tmp_path / "again.lw")[key] == header(tmp_path / "m.lw")[key]


def test_files_record_registered_names_and_objects_come_back(tmp_path, monkeypatch):
    register(KINDS["functional"])
    model = build("functional")
    model.save(tmp_path / "m.lw")
    meta = header(tmp_path / "m.lw")
    dense = json.loads(meta["model_config"])["config"]["layers"][1]["config"]
    # Keras' form (get_config's): a registered activation is a function object, as Keras serializes it
    assert dense["activation"] == {"module": "builtins", "class_name": "function", "config": "my_package>scaled_tanh",
                                   "registered_name": "function"}
    assert dense["bias_constraint"] == "my_package>clip_unit"
    assert dense["kernel_regularizer"] == {"class_name": "ScaledL1", "config": {"factor": 0.02},
                                           "registered_name": "my_package>ScaledL1"}
    compiled = json.loads(meta["compile_config"])
    assert compiled["loss"][0] == {"name": "my_package>abs_error"}
    assert compiled["metrics"] == [["my_package>max_error"], [{
        "class_name": "MeanPrediction", "config": {"name": "mean_prediction", "dtype": "float32", "offset": 0.5},
        "registered_name": "my_package>MeanPrediction"}]]

    forget_registrations(monkeypatch)
    register(KINDS["functional"])
    loaded = lw.load_model(tmp_path / "m.lw")
    layer = loaded.get_layer(model.layers[1].name)
    assert layer.activation is scaled_tanh and isinstance(loaded.layers[2], ScaleLayer)
    assert loaded.layers[2].factor == 1.5
    assert isinstance(layer.weight_regularizers["kernel"], ScaledL1) and layer.weight_regularizers["bias"] is l1_sum
    assert layer.weight_constraints["kernel"].bound == 0.4 and layer.weight_constraints["bias"] is clip_unit
    assert loaded._outputs.losses[0].fn is abs_error and loaded._outputs.losses[1].options == {"scale": 3.0}
    # Hand-computed: the custom layer scales its input and adds its offset.
    np.testing.assert_allclose(loaded.layers[2](torch.ones(1, 3)).detach().numpy(),
                               1.5 + loaded.layers[2].get_weights()[0][None], rtol=1e-6)


def test_model_from_json_takes_custom_objects(monkeypatch):
    register(KINDS["layer"] + KINDS["activation"])
    model = build("layer")
    text = model.to_json()
    forget_registrations(monkeypatch)
    with pytest.raises(ValueError, match="Unknown layer class 'ScaleLayer'.*custom_objects"):
        lw.models.model_from_json(text)
    rebuilt = lw.models.model_from_json(text, custom_objects={"ScaleLayer": ScaleLayer})
    assert type(rebuilt.layers[1]) is ScaleLayer and rebuilt.layers[1].factor == 1.5


# ---- clear errors --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind,error,pattern", [
    ("activation", ValueError, "Cannot save the custom function <function scaled_tanh"),
    ("initializer", TypeError, "Cannot save the custom initializer .*Filled"),
    ("regularizer", TypeError, "Cannot save the custom regularizer .*ScaledL1"),
    ("constraint", TypeError, "Cannot save the custom constraint .*Clip"),
])
def test_unregistered_objects_refuse_to_save_and_name_the_fixes(kind, error, pattern, tmp_path):
    model = build(kind)
    with pytest.raises(error, match=f"{pattern}.*register_keras_serializable.*custom_objects"):
        model.save(tmp_path / "m.lw")
    assert not (tmp_path / "m.lw").exists()


def test_lambdas_are_told_to_become_named_functions(tmp_path):
    model = lw.Sequential([lw.Input((3,)), L.Dense(2, activation=lambda t: 2 * t)])
    with pytest.raises(ValueError, match="Cannot save the custom function.*named function.*register_keras"):
        model.save(tmp_path / "m.lw")


@pytest.mark.parametrize("kind,pattern", [
    ("activation", "Unknown activation 'my_package>scaled_tanh'"),
    ("loss_function", "Unknown loss 'my_package>abs_error' in a saved config"),
    ("loss_class", "Unknown loss class 'my_package>ScaledSquaredError'"),
    ("metric_function", "Unknown metric 'my_package>max_error' in a saved config"),
    ("metric_class", "Unknown metric class 'my_package>MeanPrediction'"),
    ("initializer", "Unknown initializer 'my_package>Filled'"),
    ("regularizer", "Unknown regularizer 'my_package>ScaledL1'"),
    ("constraint", "Unknown constraint 'my_package>Clip'"),
    ("layer", "Unknown layer class 'ScaleLayer'"),
])
def test_loading_without_the_objects_names_them_and_the_fixes(kind, pattern, tmp_path, monkeypatch):
    register(KINDS[kind])
    build(kind).save(tmp_path / "m.lw")
    forget_registrations(monkeypatch)
    with pytest.raises(ValueError, match=f"{pattern}.*register_keras_serializable.*custom_objects"):
        lw.load_model(tmp_path / "m.lw")


def test_bad_arguments_are_named(tmp_path):
    lw.Sequential([lw.Input((3,)), L.Dense(2)]).save(tmp_path / "m.lw")
    with pytest.raises(TypeError, match="load_model: custom_objects must be a dict.*received \\[<function"):
        lw.load_model(tmp_path / "m.lw", custom_objects=[scaled_tanh])
    with pytest.raises(TypeError, match="CustomObjectScope: custom_objects must be a dict"):
        saving.CustomObjectScope({1: scaled_tanh})
    with pytest.raises(TypeError, match="needs parentheses|with parentheses"):
        saving.register_keras_serializable(scaled_tanh)
    with pytest.raises(ValueError, match="'layerwise.nope' is no kind of object"):
        saving.deserialize_keras_object({"module": "layerwise.nope", "class_name": "X", "config": {}})


# ---- the registry's rules, against Keras 3 --------------------------------------------------------------
def test_registered_names_follow_keras(keras):
    def shout(x):
        return x

    class Twice(keras.layers.Layer):
        pass

    class OurTwice(L.Layer):
        pass

    for lib, layer in ((keras.saving, Twice), (lw.saving, OurTwice)):
        lib.register_keras_serializable(package="my_package")(shout)
        lib.register_keras_serializable("my_package", name="Twice")(layer)
    assert lw.saving.get_registered_name(shout) == keras.saving.get_registered_name(shout) == "my_package>shout"
    assert lw.saving.get_registered_name(OurTwice) == keras.saving.get_registered_name(Twice) == "my_package>Twice"
    assert lw.utils.get_registered_object("my_package>Twice") is OurTwice
    assert lw.saving.get_registered_name(lw.layers.Dense) == keras.saving.get_registered_name(keras.layers.Dense)
    assert lw.saving.get_registered_name(lw.activations.relu) == keras.saving.get_registered_name(
        keras.activations.relu) == "relu"
    assert lw.saving.get_registered_name(max_error) == keras.saving.get_registered_name(max_error) == "max_error"
    for lib in (keras.utils, lw.utils):
        lib.register_keras_serializable()(abs_error)  # the default package
    assert lw.saving.get_registered_name(abs_error) == keras.saving.get_registered_name(abs_error) == "Custom>abs_error"
    assert lw.saving.get_custom_objects()["Custom>abs_error"] is abs_error


def test_collisions_non_callables_and_classes_without_get_config_as_keras(keras):
    def first(x):
        return x

    def second(x):
        return x

    class NoConfig:
        pass

    for lib in (keras.saving, lw.saving):
        lib.register_keras_serializable("pkg", name="same")(first)
        lib.register_keras_serializable("pkg", name="same")(second)  # Keras 3: the later one wins, no error
        assert lib.get_registered_object("pkg>same") is second and lib.get_registered_name(first) == "pkg>same"
        with pytest.raises(AttributeError):
            lib.register_keras_serializable("pkg")(3)
        lib.register_keras_serializable("pkg", name="three")(3)
        assert lib.get_registered_object("pkg>three") == 3
        with pytest.raises(ValueError, match="Cannot register a class that does not have a get_config"):
            lib.register_keras_serializable("pkg")(NoConfig)
    with pytest.raises(AttributeError, match="cannot name 3.*pass name="):
        lw.saving.register_keras_serializable("pkg")(3)


def test_scopes_nest_and_look_up_as_keras(keras):
    for lib in (keras.saving, lw.saving):
        with lib.custom_object_scope({"a": scaled_tanh}):
            assert lib.get_registered_object("a") is scaled_tanh
            with lib.CustomObjectScope({"b": abs_error}):  # as in Keras 3, the inner scope replaces the outer
                assert lib.get_registered_object("a") is None and lib.get_registered_object("b") is abs_error
            assert lib.get_registered_object("a") is scaled_tanh
        assert lib.get_registered_object("a") is None
        assert lib.get_registered_object("a", custom_objects={"a": max_error}) is max_error
        assert lib.get_registered_object("a", module_objects={"a": l1_sum}) is l1_sum


def test_serialize_and_deserialize_keras_object_round_trip():
    register([scaled_tanh, ScaledL1, ScaleLayer])
    for obj in (regularizers.L2(0.3), constraints.MaxNorm(2.0), initializers.HeNormal(seed=3), ScaledL1(0.5),
                losses.Huber(delta=2.0), metrics.TruePositives(thresholds=[0.3, 0.6]),
                lw.optimizers.SGD(learning_rate=0.1)):
        config = saving.serialize_keras_object(obj)
        assert json.loads(json.dumps(config)) == config
        again = saving.deserialize_keras_object(config)
        assert type(again) is type(obj) and again.get_config() == obj.get_config()
    assert saving.serialize_keras_object(scaled_tanh)["config"] == "my_package>scaled_tanh"
    assert saving.deserialize_keras_object(saving.serialize_keras_object(scaled_tanh)) is scaled_tanh
    assert saving.deserialize_keras_object(saving.serialize_keras_object(lw.activations.relu)) is lw.activations.relu
    layer = saving.deserialize_keras_object(saving.serialize_keras_object(ScaleLayer(factor=2.5, name="s")))
    assert type(layer) is ScaleLayer and layer.factor == 2.5 and layer.name == "s"
    nested = {"reg": [regularizers.L1(0.1), "relu", 3]}
    assert saving.deserialize_keras_object(saving.serialize_keras_object(nested))["reg"][1:] == ["relu", 3]
    saving_registry._GLOBAL_CUSTOM_OBJECTS.clear()
    assert saving.deserialize_keras_object("my_package>scaled_tanh",
                                           custom_objects={"scaled_tanh": scaled_tanh}) is scaled_tanh
    assert saving.deserialize_keras_object("relu") == "relu"


def test_names_resolve_in_compile_and_layer_arguments():
    register([abs_error, max_error, scaled_tanh, ScaledL1])
    layer = L.Dense(2, activation="my_package>scaled_tanh", kernel_regularizer="my_package>ScaledL1")
    assert layer.activation is scaled_tanh and isinstance(layer.weight_regularizers["kernel"], ScaledL1)
    with lw.saving.custom_object_scope({"relu": scaled_tanh}):  # as Keras: custom objects come before built-ins
        assert lw.activations.get("relu") is scaled_tanh
    assert lw.activations.get("relu") is lw.activations.relu
    assert losses.get("my_package>abs_error").fn is abs_error and losses.get("abs_error").fn is abs_error
    assert metrics.get("max_error").name == "max_error"


def test_custom_layer_and_activation_match_keras_after_a_round_trip(keras, tmp_path, monkeypatch):
    """The same model in Keras (its own registered twins) and layerwise: same outputs before and after a
    layerwise save and load."""
    k_ops = keras.ops

    @keras.saving.register_keras_serializable(package="my_package")
    class KerasScale(keras.layers.Layer):
        def __init__(self, factor=1.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def build(self, input_shape):
            self.offset = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="offset")

        def call(self, x):
            return self.factor * x + self.offset

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    def keras_tanh(x):
        return 1.7159 * k_ops.tanh(2 * x / 3)

    inputs = keras.Input((4,))
    k_model = keras.Model(inputs, keras.layers.Dense(2)(KerasScale(1.5)(keras.layers.Dense(3, activation=keras_tanh)(
        inputs))))
    register([scaled_tanh, ScaleLayer])
    lw_inputs = lw.Input((4,))
    lw_model = lw.Model(lw_inputs, L.Dense(2)(ScaleLayer(1.5)(L.Dense(3, activation=scaled_tanh)(lw_inputs))))
    lw_model.set_weights(k_model.get_weights())
    expected = keras.ops.convert_to_numpy(k_model(X))
    np.testing.assert_allclose(lw_model.predict(X, verbose=0), expected, rtol=1e-5, atol=1e-6)
    lw_model.save(tmp_path / "m.lw")
    forget_registrations(monkeypatch)
    register([scaled_tanh, ScaleLayer])
    np.testing.assert_allclose(lw.load_model(tmp_path / "m.lw").predict(X, verbose=0), expected, rtol=1e-5,
                               atol=1e-6)
