"""The merge layers against Keras: Dot's batch dot products along given axes, cosine similarity, shapes, a
functional model using it (attention scores), and the errors bad inputs get; the dtypes, masks, empty batches and
unknown sizes of Add, Concatenate and the other merges."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L


@pytest.mark.parametrize("shapes,axes,normalize", [
    (((4, 6), (4, 6)), 1, False),
    (((4, 6), (4, 6)), -1, True),
    (((4, 5, 3), (4, 7, 3)), 2, False),  # attention scores (batch, t1, t2)
    (((4, 5, 2), (4, 2, 5)), (1, 2), False),  # Keras' docstring example
    (((4, 6), (4, 3, 6)), (1, 2), True),
    (((4, 2, 3, 4), (4, 3, 5)), (2, 1), False),  # a rank-4 input
])
def test_dot_matches_keras(keras, rng, shapes, axes, normalize):
    x, y = (rng.normal(size=s).astype("float32") for s in shapes)
    expected = np.asarray(keras.layers.Dot(axes=axes, normalize=normalize)([x, y]))
    layer = layerwise.layers.Dot(axes=axes, normalize=normalize)
    got = layer([x, y]).numpy()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    symbolic = [(None, *s[1:]) for s in shapes]
    assert layer.compute_output_shape(symbolic) == keras.layers.Dot(axes, normalize).compute_output_shape(symbolic)


def test_dot_in_a_functional_model_trains_as_keras_and_saves(keras, rng, tmp_path):
    def model(lib):
        query, keys = lib.Input((5, 4), name="q"), lib.Input((6, 4), name="k")
        scores = lib.layers.Dot(axes=2, name="scores")([lib.layers.Dense(4, name="proj")(query), keys])
        return lib.Model([query, keys], lib.layers.Dense(1, name="out")(lib.layers.Flatten(name="flat")(scores)))

    k_model, lw_model = model(keras), model(layerwise)
    weights = [rng.normal(0, 0.3, w.shape).astype("float32") for w in k_model.get_weights()]
    k_model.set_weights(weights)
    lw_model.set_weights(weights)
    q, k, target = rng.normal(size=(12, 5, 4)), rng.normal(size=(12, 6, 4)), rng.normal(size=(12, 1))
    losses = []
    for m, lib in ((k_model, keras), (lw_model, layerwise)):
        m.compile(optimizer=lib.optimizers.SGD(0.01), loss="mse")
        losses.append(m.fit([q, k], target, batch_size=4, epochs=2, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-4)
    assert lw_model.get_layer("scores").compute_output_shape([(None, 5, 4), (None, 6, 4)]) == (None, 5, 6)
    lw_model.save(tmp_path / "dot.lw")
    loaded = layerwise.models.load_model(tmp_path / "dot.lw")
    np.testing.assert_allclose(loaded.predict([q, k], verbose=0), lw_model.predict([q, k], verbose=0), atol=1e-6)


def test_dot_errors_name_the_layer():
    a, b = np.ones((2, 3), "float32"), np.ones((2, 4), "float32")
    with pytest.raises(ValueError, match=r"'dot.*axis values 3 \(at axis 1\) != 4"):
        layerwise.layers.Dot(axes=1)([a, b])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        layerwise.layers.Dot(axes=1)([a, a, a])
    with pytest.raises(ValueError, match="batch axis"):
        layerwise.layers.Dot(axes=0)([a, a])
    with pytest.raises(ValueError, match="integer or a pair"):
        layerwise.layers.Dot(axes=(1, 2, 3))
    out = layerwise.layers.dot([layerwise.Input((3,)), layerwise.Input((3,))], axes=1)
    assert out.shape == (None, 1)


def test_merge_layers_write_keras_build_config(keras, tmp_path):
    """Keras writes each merge layer's input shapes as its build config; so does layerwise's .keras file."""
    import json
    import zipfile

    entries = []
    for lib in (keras, layerwise):
        a, b = lib.Input((3,)), lib.Input((3,))
        joined = lib.layers.Concatenate(name="cat")([lib.layers.Add(name="add")([a, b]), a])
        model = lib.Model([a, b], lib.layers.Dot(axes=1, name="dot")([joined, joined]))
        path = tmp_path / f"{lib.__name__}.keras"
        model.save(path)
        layers = json.loads(zipfile.ZipFile(path).read("config.json"))["config"]["layers"]
        entries.append({layer["name"]: layer.get("build_config") for layer in layers if "Input" not in
                        layer["class_name"]})
    assert entries[0] == entries[1]
    assert entries[1]["add"] == {"input_shape": [[None, 3], [None, 3]]}
    reloaded = layerwise.models.load_model(tmp_path / "keras.keras")
    assert reloaded.get_layer("cat").get_build_config() == {"input_shape": [(None, 3), (None, 3)]}


# ---- merge layers on integer, bool and float64 arrays, empty batches, masks and unknown sizes ----------------------

def _numpy(keras, value) -> np.ndarray:
    return keras.ops.convert_to_numpy(value) if not isinstance(value, torch.Tensor) else value.detach().cpu().numpy()


@pytest.mark.parametrize("name", ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"])
def test_merge_layers_keep_integer_arrays_integer_as_keras(keras, name):
    big = np.array([[16777217, 3]], "int32")  # no exact float32
    ours, theirs = getattr(L, name)()([big, big]), getattr(keras.layers, name)()([big, big])
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(_numpy(keras, ours), _numpy(keras, theirs))


def test_merge_layers_keep_bool_and_narrow_float64_arrays_as_keras(keras):
    for dtype in ("bool", "float64", "int64", "uint8"):
        a = np.ones((1, 2), dtype)
        assert L.Add()([a, a]).dtype == keras.layers.Add()([a, a]).dtype
    wide = torch.ones(1, 2, dtype=torch.float64)
    assert L.Concatenate()([wide, wide]).dtype == keras.layers.Concatenate()([wide, wide]).dtype == torch.float32


def test_dot_takes_an_empty_batch_as_keras(keras):
    x, y = np.zeros((0, 3, 4), "float32"), np.zeros((0, 5, 4), "float32")
    assert tuple(L.Dot(axes=2)([x, y]).shape) == tuple(keras.layers.Dot(axes=2)([x, y]).shape) == (0, 3, 5)
    assert tuple(L.Dot(axes=1)([np.zeros((0, 3)), np.zeros((0, 3))]).shape) == (0, 1)


def test_merge_compute_mask_takes_numpy_masks_as_keras(keras):
    a = np.ones((2, 3, 4), "float32")
    m1, m2 = np.array([[1, 1, 0], [1, 0, 0]], bool), np.array([[0, 0, 1], [0, 0, 0]], bool)
    for name, masks in (("Add", [m1, m2]), ("Maximum", [m1, m2]), ("Concatenate", [m1, None])):
        ours = getattr(L, name)().compute_mask([a, a], masks)
        theirs = getattr(keras.layers, name)().compute_mask([a, a], masks)
        np.testing.assert_array_equal(_numpy(keras, ours), _numpy(keras, theirs))


@pytest.mark.parametrize("axis", [0, -3])
def test_concatenate_joins_along_the_batch_axis_as_keras(keras, axis):
    a = np.ones((2, 3, 4), "float32")
    assert tuple(L.Concatenate(axis=axis)([a, a]).shape) == (4, 3, 4)
    assert tuple(keras.layers.Concatenate(axis=axis)([a, a]).shape) == (4, 3, 4)
    for library in (keras, layerwise):
        known = [library.Input((3, 4), batch_size=2), library.Input((3, 4), batch_size=3)]
        assert library.layers.Concatenate(axis=axis)(known).shape == (5, 3, 4)
        assert library.layers.Concatenate(axis=axis)([library.Input((3, 4)), known[0]]).shape == (None, 3, 4)


@pytest.mark.parametrize("shapes", [[(None, 4), (3, 4)], [(1, 4), (None, 4)], [(3, 4), (4,)], [(1, 4), (3, 4)]])
@pytest.mark.parametrize("name", ["Add", "Multiply", "Maximum", "Average"])
def test_element_wise_merges_leave_unknown_sizes_unknown_as_keras(keras, shapes, name):
    expected = getattr(keras.layers, name)()([keras.Input(s) for s in shapes]).shape
    assert getattr(L, name)()([layerwise.Input(s) for s in shapes]).shape == expected


def test_element_wise_merges_take_the_known_batch_size_as_keras(keras):
    for library in (keras, layerwise):
        inputs = [library.Input((3, 4), batch_size=2), library.Input((3, 4))]
        assert library.layers.Add()(inputs).shape == (2, 3, 4)
