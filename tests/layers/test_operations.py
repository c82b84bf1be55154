"""Arithmetic and indexing on symbolic tensors in functional models (``x + y``, ``2 * x``, ``x[:, -1]``),
checked against Keras 3: the graph's operations, summary, outputs, training, saving, and bad indices; the
comparison, bitwise, ``round`` and ``@`` operators, and symbolic tensors as booleans, keys and equals."""
from __future__ import annotations

import re

import numpy as np
import pytest

import layerwise


def _graph(lib):
    a = lib.Input((4,), name="a")
    h = lib.layers.Dense(4, name="d")(a)
    y = (h + a) * 2.0
    return lib.Model(a, y[:, :2])


def test_operations_build_the_graph_keras_builds(keras, rng, capsys):
    k_model, lw_model = _graph(keras), _graph(layerwise)
    assert [layer.name for layer in lw_model.layers] == ["a", "d"]
    assert [type(op).__name__ for op in k_model.operations][2:] == ["Add", "Multiply", "GetItem"]
    assert [op.type_name for op in lw_model.operations[2:]] == ["Add", "Multiply", "GetItem"]
    lw_model.set_weights(k_model.get_weights())
    x = rng.normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(lw_model.predict(x, verbose=0), k_model.predict(x, verbose=0), atol=1e-6)
    capsys.readouterr()
    k_model.summary()
    k_text = capsys.readouterr().out
    lw_model.summary()
    lw_text = capsys.readouterr().out
    # The same table after the model's name; automatic names (add_3...) depend on each library's counters.
    def table(text):
        return re.sub(r"[ ─━]+", " ", re.sub(r"\b(add|multiply|get_item)_\d+", r"\1", text.split("\n", 1)[1]))
    assert table(lw_text) == table(k_text)


@pytest.mark.parametrize("expression", [
    lambda x, y: 2 - x / (1.5 + abs(y)),
    lambda x, y: -(x ** 2) + y * x,
    lambda x, y: x[:, 1:3] - y[..., -1:],
    lambda x, y: x[:, None, ::2] * 0.5,
    lambda x, y: x[:, -1] + y[:, 0],
])
def test_expressions_compute_and_train_as_in_keras(keras, rng, expression, tmp_path):
    def model(lib):
        x, y = lib.Input((4,), name="x"), lib.Input((4,), name="y")
        out = expression(lib.layers.Dense(4, name="dx")(x), lib.layers.Dense(4, name="dy")(y))
        return lib.Model([x, y], lib.layers.Dense(1, name="head")(lib.layers.Flatten(name="flat")(out)
                                                                  if len(out.shape) > 2 else out)
                         if len(out.shape) > 1 else out)

    k_model, lw_model = model(keras), model(layerwise)
    assert lw_model.output_shape == k_model.output_shape
    weights = [rng.normal(0, 0.5, w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)
    data = [rng.normal(size=(8, 4)).astype("float32") for _ in range(2)]
    np.testing.assert_allclose(lw_model.predict(data, verbose=0), k_model.predict(data, verbose=0), rtol=1e-5,
                               atol=1e-5)
    lw_model.save(tmp_path / "ops.lw")
    loaded = layerwise.models.load_model(tmp_path / "ops.lw")
    np.testing.assert_allclose(loaded.predict(data, verbose=0), lw_model.predict(data, verbose=0), atol=1e-6)
    target = rng.normal(size=(8, *k_model.output_shape[1:])).astype("float32")
    losses = []
    for m, lib in ((k_model, keras), (lw_model, layerwise)):
        m.compile(optimizer=lib.optimizers.SGD(0.01), loss="mse")
        losses.append(m.fit(data, target, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)


def test_bad_operations_say_what_is_wrong():
    x = layerwise.Input((4,))
    with pytest.raises(IndexError, match="Too many indices"):
        x[:, 0, 1]
    with pytest.raises(TypeError, match="indices"):
        x[:, [0, 1]]
    with pytest.raises(TypeError, match="symbolic tensors and Python numbers"):
        x + np.ones(4)
    with pytest.raises(ValueError, match="Cannot broadcast"):
        x + layerwise.Input((3,))
    with pytest.raises(TypeError, match="cannot be iterated"):
        a, b = x


def test_reflected_power_and_numpy_constants_save(tmp_path, rng):
    x = layerwise.Input((3,))
    model = layerwise.Model(x, 2 ** x + np.float32(0.5) * x)
    data = rng.normal(size=(4, 3)).astype("float32")
    np.testing.assert_allclose(model.predict(data, verbose=0), 2 ** data + 0.5 * data, rtol=1e-6)
    model.save(tmp_path / "powers.lw")
    np.testing.assert_allclose(layerwise.models.load_model(tmp_path / "powers.lw").predict(data, verbose=0),
                               2 ** data + 0.5 * data, rtol=1e-6)


# ---- symbolic tensors' operators ------------------------------------------------------------------------------

OPERATORS = {
    "!=": lambda i: i != 0, ">": lambda i: i > 1, "<": lambda i: i < 1, "<=": lambda i: i <= 1,
    ">=": lambda i: i >= 1, "1 < i": lambda i: 1 < i, "//": lambda i: i // 2, "rfloordiv": lambda i: 3 // (i + 4),
    "%": lambda i: i % 2, "rmod": lambda i: 5 % (i + 4), "&": lambda i: (i > 0) & (i < 2),
    "|": lambda i: (i > 1) | (i < 0.5), "^": lambda i: (i > 0) ^ (i < 2), "~": lambda i: ~(i > 1),
    "round": lambda i: round(i * 1.26, 1), "@": lambda i: i[:, None, :] @ i[:, :, None],
}


@pytest.mark.parametrize("name", OPERATORS)
def test_symbolic_operators_record_the_keras_operation(keras, name):
    x = np.array([[0.0, 1.5, 2.0], [3.0, 0.0, -1.0]], "float32")
    results = []
    for library in (keras, layerwise):
        i = library.Input((3,))
        results.append(library.Model(i, OPERATORS[name](i)).predict(x, verbose=0))
    np.testing.assert_allclose(np.asarray(results[1], "float64"), np.asarray(results[0], "float64"), atol=1e-6)
    assert results[1].dtype == results[0].dtype


def test_a_mask_from_a_symbolic_comparison_selects_as_in_keras(keras):
    x = np.array([[0.0, 1.0, 2.0]], "float32")
    i = layerwise.Input((3,))
    model = layerwise.Model(i, layerwise.ops.where(i != 0, i, -1.0))
    np.testing.assert_array_equal(model.predict(x, verbose=0), [[-1.0, 1.0, 2.0]])
    ki = keras.Input((3,))
    np.testing.assert_array_equal(keras.Model(ki, keras.ops.where(ki != 0, ki, -1.0)).predict(x, verbose=0),
                                  [[-1.0, 1.0, 2.0]])


def test_symbolic_tensors_are_no_booleans_but_stay_hashable_and_equal_only_to_themselves():
    i, j = layerwise.Input((3,)), layerwise.Input((3,))
    with pytest.raises(TypeError, match="cannot be used as a boolean"):
        bool(i)
    with pytest.raises(TypeError, match="cannot be used as a boolean"):
        _ = i if i > 0 else j
    assert i == i and not (i == j) and {i: 1}[i] == 1 and i in [j, i]
    a, b = layerwise.Input((2, 3)), layerwise.Input((3, 4))
    assert (a @ b).shape == (None, 2, 4) and (np.ones((5, 2), "float32") @ a).shape == (None, 5, 3)
