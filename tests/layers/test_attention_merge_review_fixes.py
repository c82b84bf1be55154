"""Review fixes for the attention and merge layers, symbolic tensors' operators, Lambda's mask and the dropout
layers' arguments, each checked against Keras 3 (the ``keras`` fixture) where Keras defines the behaviour."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise
from layerwise import layers as L

RNG = np.random.default_rng(0)


def _numpy(keras, value) -> np.ndarray:
    return keras.ops.convert_to_numpy(value) if not isinstance(value, torch.Tensor) else value.detach().cpu().numpy()


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


# ---- MultiHeadAttention ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("argument", ["value_dim", "sliding_window"])
def test_multi_head_attention_refuses_zero_value_dim_and_sliding_window_as_keras(keras, argument):
    with pytest.raises(ValueError):
        keras.layers.MultiHeadAttention(2, 4, **{argument: 0})
    with pytest.raises(ValueError, match=f"{argument} must be None or a positive integer, got 0"):
        L.MultiHeadAttention(2, 4, **{argument: 0})
    assert L.MultiHeadAttention(2, 4, value_dim=None).value_dim == 4


def test_multi_head_attention_has_keras_einsum_sublayers_viewing_its_weights(keras):
    x = RNG.normal(size=(2, 3, 4)).astype("float32")
    ours, theirs = L.MultiHeadAttention(2, 3, output_shape=(5, 2)), keras.layers.MultiHeadAttention(2, 3,
                                                                                                   output_shape=(5, 2))
    ours(x, x), theirs(x, x)
    ours.set_weights(theirs.get_weights())
    for name in ("query_dense", "key_dense", "value_dense", "output_dense", "_query_dense", "_output_dense"):
        mine, keras_layer = getattr(ours, name), getattr(theirs, name)
        assert isinstance(mine, L.EinsumDense) and mine.name == keras_layer.name
        assert mine.equation == keras_layer.equation and mine.bias_axes == keras_layer.bias_axes
        assert tuple(mine.kernel.shape) == tuple(keras_layer.kernel.shape)
        np.testing.assert_allclose(mine.get_weights()[0], keras_layer.get_weights()[0])
        given = x if name != "output_dense" and name != "_output_dense" else RNG.normal(size=(2, 3, 2, 3))
        np.testing.assert_allclose(_numpy(keras, mine(given.astype("float32"))),
                                   _numpy(keras, keras_layer(given.astype("float32"))), atol=1e-5)
    kernel = np.full_like(ours.get_weights()[0], 0.5)
    ours.query_dense.set_weights([kernel, np.zeros_like(ours.get_weights()[1])])  # writes the layer's own weight
    np.testing.assert_array_equal(ours.get_weights()[0], kernel)
    with pytest.raises(AttributeError):  # not built yet, as in Keras
        _ = L.MultiHeadAttention(2, 3).query_dense


@pytest.mark.parametrize("kwargs, rank", [({}, 3), ({"output_shape": 7, "attention_axes": 1}, 3),
                                          ({"attention_axes": -2}, 4), ({}, 4)])
def test_multi_head_attention_resolves_attention_axes_and_config_forms_as_keras(keras, kwargs, rank):
    ours, theirs = L.MultiHeadAttention(2, 3, **kwargs), keras.layers.MultiHeadAttention(2, 3, **kwargs)
    for key in ("output_shape", "attention_axes"):
        assert ours.get_config()[key] == theirs.get_config()[key]
    x = RNG.normal(size=(2, 3, 4, 5)[:rank - 1] + (6,)).astype("float32")
    ours(x, x), theirs(x, x)
    assert ours.attention_axes == theirs.attention_axes
    assert ours.get_config()["attention_axes"] == theirs.get_config()["attention_axes"]
    assert type(L.MultiHeadAttention.from_config(ours.get_config()).get_config()["attention_axes"]) is tuple


# ---- Attention and AdditiveAttention ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Attention", "AdditiveAttention"])
def test_scores_returned_while_training_are_the_weights_after_dropout(keras, name):
    q, v = RNG.normal(size=(64, 8, 4)).astype("float32"), RNG.normal(size=(64, 8, 4)).astype("float32")
    for library in (keras, layerwise):
        out, scores = getattr(library.layers, name)(dropout=0.5)([q, v], training=True, return_attention_scores=True)
        out, scores = _numpy(keras, out), _numpy(keras, scores)
        np.testing.assert_allclose(out, scores @ v, atol=1e-5)  # what the output was computed from
        assert 0.4 < (scores == 0).mean() < 0.6


@pytest.mark.parametrize("name", ["Attention", "AdditiveAttention"])
def test_attention_takes_inputs_of_rank_above_three_as_keras(keras, name):
    q, v = RNG.normal(size=(2, 2, 3, 4)).astype("float32"), RNG.normal(size=(2, 2, 5, 4)).astype("float32")
    query_mask = RNG.random((2, 2, 3)) > 0.3
    value_mask = RNG.random((2, 2, 5)) > 0.3
    ours, theirs = getattr(L, name)(), getattr(keras.layers, name)()
    theirs([q, v])
    ours.build([q.shape, v.shape])
    ours.set_weights(theirs.get_weights())
    for kwargs in ({}, {"use_causal_mask": True}, {"mask": [query_mask, None]},
                   {"mask": [None, value_mask], "use_causal_mask": True}):
        np.testing.assert_allclose(_numpy(keras, ours([q, v], **kwargs)), _numpy(keras, theirs([q, v], **kwargs)),
                                   atol=1e-5)
    q_in, v_in = layerwise.Input((2, 3, 4)), layerwise.Input((2, 5, 4))
    assert getattr(L, name)()([q_in, v_in]).shape == (None, 2, 3, 4)


def test_attention_called_on_a_list_takes_masks_only_as_a_list(keras):
    q = RNG.normal(size=(2, 3, 4)).astype("float32")
    mask = np.array([[True, True, False], [True, False, False]])
    with pytest.raises(ValueError, match="mask must be a list"):
        keras.layers.Attention()([q, q], mask=mask)
    with pytest.raises(ValueError, match=r"mask must be a list, namely \[query_mask, value_mask\]"):
        L.Attention()([q, q], mask=mask)


def test_symbolic_attention_scores_come_as_a_tuple_as_in_keras(keras, tmp_path):
    x = RNG.normal(size=(2, 3, 4)).astype("float32")
    for library in (keras, layerwise):
        q = library.Input((3, 4))
        assert type(library.layers.MultiHeadAttention(2, 2)(q, q, return_attention_scores=True)) is tuple
        out = library.layers.Attention()([q, q], return_attention_scores=True)
        assert type(out) is tuple
        model = library.Model(q, out)
        assert type(model.predict(x, verbose=0)) is tuple
    model.save(tmp_path / "m.keras")
    reloaded = layerwise.models.load_model(tmp_path / "m.keras")
    for got, expected in zip(reloaded.predict(x, verbose=0), model.predict(x, verbose=0)):
        np.testing.assert_allclose(got, expected, atol=1e-6)


# ---- merging ---------------------------------------------------------------------------------------------------

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


# ---- Lambda(mask=...) -------------------------------------------------------------------------------------------

def test_lambda_mask_function_gives_the_output_mask_as_keras(keras):
    x = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]], "float32")
    predictions = []
    for library in (keras, layerwise):
        i = library.Input((3,))
        h = library.layers.Lambda(lambda t: t[..., None], mask=lambda t, m: t != 0)(i)
        model = library.Model(i, library.layers.LSTM(2, kernel_initializer="ones", recurrent_initializer="ones")(h))
        predictions.append(model.predict(x, verbose=0))
    np.testing.assert_allclose(predictions[1], predictions[0], atol=1e-6)
    masked = L.Lambda(lambda t: t[..., None], mask=lambda t, m: t != 0)
    sequential = layerwise.Sequential([layerwise.Input((3,)), masked,
                                       L.LSTM(2, kernel_initializer="ones", recurrent_initializer="ones")])
    np.testing.assert_allclose(sequential.predict(x, verbose=0), predictions[0], atol=1e-6)
    eager = L.Lambda(lambda t: t * 2, mask=lambda t, m: t > 0)(x)
    np.testing.assert_array_equal(eager._keras_mask.numpy(), x > 0)


def test_lambda_mask_array_and_a_function_taking_the_mask_as_keras(keras):
    mask = np.array([True, False, True])
    for library in (keras, layerwise):
        layer = library.layers.Lambda(lambda t: t, mask=mask)
        np.testing.assert_array_equal(_numpy(keras, layer.compute_mask(np.ones((3,), "float32"), None)), mask)
    config = L.Lambda(layerwise.activations.relu, mask=mask).get_config()
    assert config["mask"] == keras.layers.Lambda(keras.activations.relu, mask=mask).get_config()["mask"]
    np.testing.assert_array_equal(L.Lambda.from_config(config).mask, mask)

    def keep_real_steps(t, mask=None):
        return t if mask is None else t * mask[..., None]

    embedded = L.Embedding(5, 2, mask_zero=True)(np.array([[1, 0, 2]]))
    assert torch.all(L.Lambda(keep_real_steps)(embedded)[0, 1] == 0)


# ---- dropout and noise arguments --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["Dropout", "SpatialDropout1D"])
def test_dropout_rate_one_drops_everything_as_keras(keras, name):
    x = np.ones((2, 3, 2), "float32")
    for library in (keras, layerwise):
        layer = getattr(library.layers, name)(1.0)
        np.testing.assert_array_equal(_numpy(keras, layer(x, training=True)), np.zeros_like(x))
        np.testing.assert_array_equal(_numpy(keras, layer(x)), x)
    np.testing.assert_array_equal(L.Dropout(1.0, noise_shape=(None, 1, None))(x, training=True).numpy(), 0 * x)
    with pytest.raises(ValueError, match=r"Dropout rate must be a fraction in \[0, 1\], got rate=1.5"):
        L.Dropout(1.5)


def test_gaussian_noise_refuses_a_negative_stddev_as_keras(keras):
    with pytest.raises(ValueError):
        keras.layers.GaussianNoise(-1.0)
    with pytest.raises(ValueError, match="GaussianNoise stddev must be a non-negative number, got stddev=-1.0"):
        L.GaussianNoise(-1.0)
