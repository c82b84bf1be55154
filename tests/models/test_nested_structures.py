"""Functional models made with nested inputs or outputs (``Model([a, [b, c]], ...)``, dicts of dicts) against Keras:
data in the nesting, flat, or in another nesting of the same arrays feeds them; compile arguments may follow the
output nesting, and each output's loss is logged by its path, as Keras logs it."""
from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest

import layerwise

INPUT_FORMS = {
    "list": (lambda a, b, c: [a, [b, c]]),
    "dict": (lambda a, b, c: {"x": a, "y": {"b": b, "c": c}}),
    "tuple": (lambda a, b, c: (a, (b, c))),
}


def _three_inputs(lib, form: str):
    a, b, c = (lib.Input((n,), name=name) for n, name in ((3, "a"), (2, "b"), (4, "c")))
    mixed = lib.layers.Concatenate()([a, lib.layers.Dense(2, kernel_initializer="ones")(b), c * 2.0])
    out = lib.layers.Dense(1, kernel_initializer="ones")(mixed)
    # both libraries warn that the dict's key 'x' is not the name of the Input it holds
    with pytest.warns(UserWarning) if form == "dict" else nullcontext():
        return lib.Model(INPUT_FORMS[form](a, b, c), out)


@pytest.mark.parametrize("form", sorted(INPUT_FORMS))
def test_nested_inputs_are_fed_in_their_nesting_or_flat(keras, form):
    # the three inputs differ in width, so data fed in the wrong order fails or changes the result
    a = np.arange(6, dtype="float32").reshape(2, 3)
    b = np.arange(4, dtype="float32").reshape(2, 2) + 10
    c = np.arange(8, dtype="float32").reshape(2, 4) + 100
    k_model, lw_model = _three_inputs(keras, form), _three_inputs(layerwise, form)
    expected = keras.ops.convert_to_numpy(k_model(INPUT_FORMS[form](a, b, c)))
    np.testing.assert_allclose(expected.ravel(), [857.0, 906.0])
    for data in (INPUT_FORMS[form](a, b, c), [a, b, c]):
        np.testing.assert_allclose(lw_model(data).detach().numpy(), expected)
        np.testing.assert_allclose(lw_model.predict(data, verbose=0), expected)
    lw_model.compile("sgd", "mse")
    history = lw_model.fit(INPUT_FORMS[form](a / 100, b / 100, c / 100), np.zeros((2, 1)), epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]


def test_a_model_with_nested_inputs_is_a_part_of_another_and_saves(keras, tmp_path):
    inner = _three_inputs(layerwise, "dict")
    parts = [layerwise.Input((n,)) for n in (3, 2, 4)]
    outer = layerwise.Model(parts, inner({"x": parts[0], "y": {"b": parts[1], "c": parts[2]}}))
    data = [np.full((2, n), 1.0, dtype="float32") for n in (3, 2, 4)]
    expected = outer.predict(data, verbose=0)
    np.testing.assert_allclose(expected.ravel(), [15.0, 15.0])  # 3 + 2 * 2 + 4 * 2
    path = str(tmp_path / "nested.keras")
    inner.save(path)
    loaded = keras.saving.load_model(path)
    nested = {"x": data[0], "y": {"b": data[1], "c": data[2]}}
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(nested)), expected)


OUTPUT_FORMS = {
    "list": (lambda o1, o2, o3: [o1, [o2, o3]]),
    "dict": (lambda o1, o2, o3: {"p": o1, "q": {"r": o2, "s": o3}}),
    "mixed": (lambda o1, o2, o3: {"p": o1, "q": [o2, o3]}),
    "front": (lambda o1, o2, o3: [[o1, o2], o3]),
    "tuple": (lambda o1, o2, o3: (o1, {"r": o2, "s": o3})),
}


def _three_outputs(lib, form: str):
    x = lib.Input((3,), name="x")
    outs = [lib.layers.Dense(n, name=f"o{n}", kernel_initializer=lib.initializers.Constant(0.1 * n))(x)
            for n in (1, 2, 3)]
    return lib.Model(x, OUTPUT_FORMS[form](*outs))


@pytest.mark.parametrize("compiled", ["one loss", "nested losses and weights", "nested metrics"])
@pytest.mark.parametrize("form", sorted(OUTPUT_FORMS))
def test_nested_outputs_train_and_log_as_keras(keras, rng, form, compiled):
    x = rng.random((8, 3)).astype("float32")
    y = OUTPUT_FORMS[form](*(rng.random((8, n)).astype("float32") for n in (1, 2, 3)))
    histories = []
    for lib in (keras, layerwise):
        model = _three_outputs(lib, form)
        options = {}
        if compiled == "nested losses and weights":
            options = {"loss": OUTPUT_FORMS[form]("mse", "mae", "mse"),
                       "loss_weights": OUTPUT_FORMS[form](1.0, 2.0, 0.5)}
        if compiled == "nested metrics":
            options = {"metrics": OUTPUT_FORMS[form](["mae", "mse"], ["mae", "mse"], ["mae", "mse"])}
        model.compile("sgd", **{"loss": "mse", **options})
        histories.append(model.fit(x, y, epochs=2, batch_size=4, shuffle=False, verbose=0).history)
    k_history, lw_history = histories
    assert sorted(lw_history) == sorted(k_history)
    assert any("/" in key for key in lw_history)  # the nested outputs' losses are named by their paths
    for key, values in k_history.items():
        np.testing.assert_allclose(lw_history[key], values, rtol=1e-5, atol=1e-6, err_msg=key)
