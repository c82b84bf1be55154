"""Keras parity of the training API's arguments and of functional models' output structures, side by side with
Keras 3 (torch backend) from the same weights: the batch size ``steps`` implies for arrays (``evaluate``,
``predict``, ``fit``'s ``steps_per_epoch`` and ``validation_steps``); ``compile``'s unknown keywords; the compiled
``run_eagerly``, ``jit_compile``, ``steps_per_execution`` and ``get_compile_config()``; nested and tuple outputs of
``predict``, ``__call__`` and ``predict_on_batch``; the method named when targets are missing."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers
from layerwise.models.trainer import Trainer


def _pair(keras, outputs: int = 3, activation: str | None = "softmax"):
    """The same Sequential (4 features -> ``outputs``) in Keras and in layerwise, with Keras' weights."""
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(5, activation="relu"),
                               keras.layers.Dense(outputs, activation=activation)])
    ours = layerwise.models.Sequential([layers.Input((4,)), layers.Dense(5, activation="relu"),
                                        layers.Dense(outputs, activation=activation)])
    ours.set_weights(theirs.get_weights())
    return theirs, ours


def _data(rows: int = 70):
    """``x`` (rows, 4) and one-hot ``y`` (rows, 3): more rows than the default batch of 32."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 4)).astype("float32")
    return x, np.eye(3, dtype="float32")[rng.integers(0, 3, rows)]


def _compiled_pair(keras):
    theirs, ours = _pair(keras)
    for model in (theirs, ours):
        model.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    return theirs, ours


# ---- steps without batch_size: batches of ceil(samples / steps) --------------------------------------------
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_evaluate_with_steps_covers_every_row_without_batch_size(keras, steps):
    x, y = _data()
    theirs, ours = _compiled_pair(keras)
    expected = theirs.evaluate(x, y, steps=steps, verbose=0)
    np.testing.assert_allclose(ours.evaluate(x, y, steps=steps, verbose=0), expected, rtol=1e-5)
    # all 70 rows, not the first 32 (the old default batch)
    np.testing.assert_allclose(expected, theirs.evaluate(x, y, verbose=0), rtol=1e-5)


def test_predict_with_steps_covers_every_row_without_batch_size(keras):
    x, _ = _data()
    theirs, ours = _pair(keras)
    expected = theirs.predict(x, steps=1, verbose=0)
    assert expected.shape == (70, 3)
    np.testing.assert_allclose(ours.predict(x, steps=1, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert ours.predict(x, steps=2, batch_size=8, verbose=0).shape == theirs.predict(x, steps=2, batch_size=8,
                                                                                     verbose=0).shape == (16, 3)


def test_fit_steps_per_epoch_sets_the_batch_size(keras):
    x, y = _data()
    theirs, ours = _compiled_pair(keras)
    expected = theirs.fit(x, y, steps_per_epoch=2, epochs=2, shuffle=False, verbose=0).history
    got = ours.fit(x, y, steps_per_epoch=2, epochs=2, shuffle=False, verbose=0).history
    assert got.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5)
    for mine, theirs_weight in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(mine, theirs_weight, atol=1e-6)


def test_validation_steps_sets_the_validation_batch_size(keras):
    x, y = _data(110)
    (x_train, x_val), (y_train, y_val) = (x[:70], x[70:]), (y[:70], y[70:])  # 40 validation rows
    theirs, ours = _compiled_pair(keras)
    options = dict(epochs=1, shuffle=False, verbose=0, validation_steps=1)  # no batch size for validation
    expected = theirs.fit(x_train, y_train, validation_data=(x_val, y_val), **options).history
    got = ours.fit(x_train, y_train, validation_data=(x_val, y_val), **options).history
    np.testing.assert_allclose(got["val_loss"], expected["val_loss"], rtol=1e-5)
    expected = theirs.fit(x, y, validation_split=0.4, **options).history  # 44 validation rows
    got = ours.fit(x, y, validation_split=0.4, **options).history
    np.testing.assert_allclose(got["val_loss"], expected["val_loss"], rtol=1e-5)


# ---- compile's keywords ------------------------------------------------------------------------------------
def test_compile_rejects_a_misspelt_keyword_with_a_hint(keras):
    theirs, ours = _pair(keras)
    with pytest.raises(TypeError, match="unexpected keyword argument 'metric'"):
        theirs.compile(optimizer="adam", loss="mse", metric=["mae"])
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'metric'.*did you mean 'metrics'"):
        ours.compile(optimizer="adam", loss="mse", metric=["mae"])


def test_compile_names_keras2_arguments_as_removed(keras):
    theirs, ours = _pair(keras)
    with pytest.raises(TypeError, match="sample_weight_mode"):
        theirs.compile(loss="mse", sample_weight_mode="temporal")
    with pytest.raises(TypeError, match=r"'sample_weight_mode' is Keras 2's, removed in Keras 3: drop it"):
        ours.compile(loss="mse", sample_weight_mode="temporal")


# ---- run_eagerly, jit_compile, steps_per_execution and get_compile_config ----------------------------------
_SETTINGS = ("run_eagerly", "jit_compile", "steps_per_execution")


@pytest.mark.parametrize("options", [{}, {"run_eagerly": True, "steps_per_execution": 2}, {"jit_compile": True}])
def test_compiled_settings_are_attributes(keras, options):
    theirs, ours = _pair(keras)
    assert [getattr(ours, name) for name in _SETTINGS] == [getattr(theirs, name) for name in _SETTINGS]
    for model in (theirs, ours):
        model.compile("adam", "mse", **options)
    assert [getattr(ours, name) for name in _SETTINGS] == [getattr(theirs, name) for name in _SETTINGS]


def test_jit_compile_gives_way_to_run_eagerly_with_keras_warning(keras):
    theirs, ours = _pair(keras)
    for model in (theirs, ours):
        with pytest.warns(UserWarning, match="Disabling `jit_compile`"):
            model.compile("adam", "mse", run_eagerly=True, jit_compile=True)
        assert (model.run_eagerly, model.jit_compile) == (True, False)


_COMPILE_CASES = [
    dict(loss="mse"),
    dict(optimizer="adam", loss="categorical_crossentropy", loss_weights=[2.0], metrics=["mae"],
         weighted_metrics=["accuracy"], run_eagerly=True, steps_per_execution=2),
]


@pytest.mark.parametrize("options", _COMPILE_CASES)
def test_compile_config_is_the_arguments_in_keras_form(keras, options):
    """The piece in ``Trainer``; ``model.get_compile_config()`` is it once ``models/model.py`` stops overriding
    it (see the next test)."""
    theirs, ours = _pair(keras)
    for model in (theirs, ours):
        model.compile(**options)
    expected, got = theirs.get_compile_config(), Trainer.get_compile_config(ours)
    assert got == expected | {"optimizer": got["optimizer"]}
    assert got["optimizer"]["class_name"] == expected["optimizer"]["class_name"]
    again = _pair(keras)[0]
    again.compile_from_config(got)  # Keras reads it
    assert (again.loss, again.run_eagerly, again.steps_per_execution) == (options["loss"],
                                                                         options.get("run_eagerly", False),
                                                                         options.get("steps_per_execution", 1))


def test_get_compile_config_matches_keras(keras):
    theirs, ours = _pair(keras)
    for model in (theirs, ours):
        model.compile(loss="mse", metrics=["mae"], run_eagerly=True)
    expected, got = theirs.get_compile_config(), ours.get_compile_config()
    assert got == expected | {"optimizer": got["optimizer"]}


# ---- nested and tuple output structures --------------------------------------------------------------------
def _structure(value):
    """Containers as (type name, items) and arrays or tensors as their shapes, to compare Keras' and ours."""
    if isinstance(value, dict):
        return {key: _structure(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [_structure(item) for item in value]
    return tuple(value.shape)


def _leaves(value) -> list:
    """The arrays or tensors of an output structure, in order."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _outputs_pair(keras, make_outputs):
    """A functional model with outputs ``make_outputs(a, b, c)`` in Keras and in layerwise, with Keras' weights."""
    models = []
    for module, layer_module in ((keras, keras.layers), (layerwise, layers)):
        i = module.Input((4,), name="x")
        a, b, c = (layer_module.Dense(units, name=f"o{units}")(i) for units in (2, 3, 1))
        models.append(module.Model(i, make_outputs(a, b, c)))
    models[1].set_weights(models[0].get_weights())
    return models


@pytest.mark.parametrize("make_outputs", [
    lambda a, b, c: [a, [b, c]],
    lambda a, b, c: (a, b),
    lambda a, b, c: ({"z": b}, a),
    lambda a, b, c: {"k": [b, a], "j": c},
    lambda a, b, c: [[a]],
], ids=["nested-list", "tuple", "tuple-with-dict", "dict-of-list", "list-in-list"])
def test_outputs_keep_the_structure_the_model_was_made_with(keras, make_outputs):
    theirs, ours = _outputs_pair(keras, make_outputs)
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    expected = theirs.predict(x, verbose=0)
    got = ours.predict(x, verbose=0)
    assert _structure(got) == _structure(expected)
    for mine, theirs_value in zip(_leaves(got), _leaves(expected)):
        np.testing.assert_allclose(mine, theirs_value, rtol=1e-5, atol=1e-6)
    assert _structure(ours(x)) == _structure(theirs(x))
    assert _structure(ours.predict_on_batch(x)) == _structure(theirs.predict_on_batch(x))
    assert _structure(ours(layerwise.Input((4,)))) == _structure(theirs(keras.Input((4,))))
    assert ours.output_names == theirs.output_names


def test_a_nested_model_with_tuple_outputs_runs_inside_another(keras):
    models = []
    for module, layer_module in ((keras, keras.layers), (layerwise, layers)):
        i = module.Input((4,))
        inner = module.Model(i, (layer_module.Dense(2)(i), layer_module.Dense(3)(i)))
        j = module.Input((4,))
        first, second = inner(j)
        models.append(module.Model(j, (first, layer_module.Dense(1)(second))))
    theirs, ours = models
    ours.set_weights(theirs.get_weights())
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    expected, got = theirs.predict(x, verbose=0), ours.predict(x, verbose=0)
    assert _structure(got) == _structure(expected) == ("tuple", [(8, 2), (8, 1)])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-5, atol=1e-6)


def test_tuple_outputs_train_as_a_list_of_targets(keras):
    theirs, ours = _outputs_pair(keras, lambda a, b, c: (a, b))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 4)).astype("float32"), [rng.normal(size=(16, n)).astype("float32") for n in (2, 3)]
    for model in (theirs, ours):
        model.compile("sgd", "mse")
    expected = theirs.fit(x, y, batch_size=8, shuffle=False, verbose=0).history
    got = ours.fit(x, y, batch_size=8, shuffle=False, verbose=0).history
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-5)


# ---- missing targets name the method called ----------------------------------------------------------------
@pytest.mark.parametrize("method", ["evaluate", "test_on_batch", "train_on_batch"])
def test_missing_targets_name_the_method(keras, method):
    theirs, ours = _pair(keras)
    x = np.zeros((4, 4), "float32")
    kwargs = {"verbose": 0} if method == "evaluate" else {}
    for model in (theirs, ours):
        model.compile("sgd", "mse")
    with pytest.raises(ValueError):
        getattr(theirs, method)(x, **kwargs)
    with pytest.raises(ValueError, match=rf"^{method}\(\) needs targets y"):
        getattr(ours, method)(x, **kwargs)
    assert torch.is_tensor(ours(x))  # the model still works


def test_a_subclassed_model_returning_a_tuple_predicts_a_tuple_as_keras(keras):
    x = np.ones((3, 4), "float32")
    results = []
    for lib in (keras, layerwise):
        class TwoHeads(lib.Model):
            def __init__(self):
                super().__init__()
                self.first, self.second = lib.layers.Dense(2), lib.layers.Dense(1)

            def call(self, inputs):
                return self.first(inputs), self.second(inputs)

        model = TwoHeads()
        model(x)
        results.append([_structure(out) for out in (model.predict(x, verbose=0), model.predict_on_batch(x))])
    assert results[0] == results[1] == [("tuple", [(3, 2), (3, 1)])] * 2
