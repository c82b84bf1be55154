"""``serialize`` / ``deserialize`` of every object family take Keras 3's arguments: the same parameter names,
``custom_objects`` for a user's own classes, and a name where Keras takes one."""
import inspect

import pytest

import layerwise as lw
from layerwise import constraints, dtype_policies, initializers, losses, metrics, optimizers, regularizers
from layerwise.optimizers import schedules

FAMILIES = {"losses": losses, "metrics": metrics, "initializers": initializers, "regularizers": regularizers,
            "constraints": constraints, "dtype_policies": dtype_policies, "optimizers": optimizers,
            "activations": lw.activations, "layers": lw.layers, "schedules": schedules}


def _keras_module(keras, family):
    return keras.optimizers.schedules if family == "schedules" else getattr(keras, family)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("function", ["serialize", "deserialize"])
def test_parameter_names_match_keras(keras, family, function):
    ours = inspect.signature(getattr(FAMILIES[family], function)).parameters
    theirs = inspect.signature(getattr(_keras_module(keras, family), function)).parameters
    assert list(ours)[:len(theirs)] == list(theirs)
    assert all(p.default is not inspect.Parameter.empty for p in list(ours.values())[len(theirs):])


class Halve(regularizers.Regularizer):
    def __call__(self, x):
        return 0.5 * x.sum()


class Clip(constraints.Constraint):
    def __call__(self, w):
        return w.clamp(-1, 1)


class UnitFill(initializers.Initializer):
    def __call__(self, shape, dtype=None):
        return initializers.Ones()(shape, dtype)


class Twice(losses.Loss):
    def __init__(self, name="twice", **kwargs):
        super().__init__(lambda y_true, y_pred: 2 * (y_true - y_pred).abs().mean(), name=name, **kwargs)


@pytest.mark.parametrize("module, cls", [(regularizers, Halve), (constraints, Clip), (initializers, UnitFill)])
def test_custom_objects_find_an_unregistered_class(module, cls):
    config = {"class_name": cls.__name__, "config": {}}
    with pytest.raises(ValueError, match=cls.__name__):
        module.deserialize(config)
    assert type(module.deserialize(config, custom_objects={cls.__name__: cls})) is cls


def test_losses_deserialize_names_as_keras(keras):
    assert losses.deserialize("mean_squared_error") is losses.mean_squared_error
    assert callable(keras.losses.deserialize("mean_squared_error"))
    assert type(losses.deserialize("MeanSquaredError")) is losses.MeanSquaredError
    assert losses.deserialize("Twice", custom_objects={"Twice": Twice}) is Twice  # the class, as from Keras
    with pytest.raises(ValueError, match="no_such_loss"):
        losses.deserialize("no_such_loss")


@pytest.mark.parametrize("module, name, keras_class", [(initializers, "glorot_uniform", "GlorotUniform"),
                                                       (regularizers, "l2", "L2"),
                                                       (constraints, "non_neg", "NonNeg")])
def test_deserialize_takes_a_name_as_keras(keras, module, name, keras_class):
    theirs = getattr(keras, module.__name__.rsplit(".", 1)[1]).deserialize(name)
    assert type(theirs).__name__ == keras_class
    assert type(module.deserialize(name)).__name__ == keras_class


def test_dtype_policy_deserialize_takes_a_name():
    assert dtype_policies.deserialize("mixed_float16").compute_dtype == "float16"


def test_keyword_arguments_as_keras_spells_them():
    assert initializers.serialize(initializer=initializers.Zeros())["class_name"] == "Zeros"
    assert dtype_policies.serialize(dtype_policy=dtype_policies.DTypePolicy("float32"))["config"] == \
        {"name": "float32"}
    schedule = schedules.ExponentialDecay(0.1, 10, 0.9)
    assert schedules.serialize(learning_rate_schedule=schedule)["class_name"] == "ExponentialDecay"
    assert type(losses.deserialize(name={"class_name": "MeanSquaredError", "config": {}})) is \
        losses.MeanSquaredError


def test_metrics_deserialize_finds_custom_objects():
    def hits(y_true, y_pred):
        return (y_true == y_pred).float().mean()

    with pytest.raises(ValueError, match="hits"):
        metrics.deserialize("hits")
    assert metrics.deserialize("hits", custom_objects={"hits": hits}) is hits
