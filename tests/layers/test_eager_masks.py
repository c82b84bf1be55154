"""Masks between layers called on tensors, outside any model: each output carries ``_keras_mask`` and the
next layer reads it, as in Keras 3 (torch backend, the oracle)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import layerwise as lw

TOKENS = np.array([[3, 8, 1, 0, 0], [4, 0, 0, 0, 0], [2, 7, 9, 5, 6]])


def as_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def mask_or_none(x):
    mask = getattr(x, "_keras_mask", None)
    return None if mask is None else as_numpy(mask)


def chain(lib, return_sequences: bool):
    """Embedding(mask_zero) -> Dense -> LSTM -> (GlobalAveragePooling1D over the real steps)."""
    lib.utils.set_random_seed(0)
    layers = [lib.layers.Embedding(10, 4, mask_zero=True), lib.layers.Dense(6, activation="tanh"),
              lib.layers.LSTM(5, return_sequences=return_sequences)]
    if return_sequences:
        layers.append(lib.layers.GlobalAveragePooling1D())
    return layers


@pytest.mark.parametrize("return_sequences", [False, True])
def test_a_chain_of_layers_called_on_tensors_masks_as_in_keras(keras, return_sequences):
    ours, theirs = chain(lw, return_sequences), chain(keras, return_sequences)
    x_ours, x_theirs = torch.as_tensor(TOKENS), keras.ops.convert_to_tensor(TOKENS)
    for layer_ours, layer_theirs in zip(ours, theirs):
        x_theirs = layer_theirs(x_theirs)
        layer_ours(x_ours)  # builds, so that Keras' weights can be set
        layer_ours.set_weights(layer_theirs.get_weights())
        x_ours = layer_ours(x_ours)
        np.testing.assert_allclose(as_numpy(x_ours), as_numpy(x_theirs), rtol=1e-5, atol=1e-6)
        ours_mask, theirs_mask = mask_or_none(x_ours), mask_or_none(x_theirs)
        assert (ours_mask is None) == (theirs_mask is None), type(layer_ours).__name__
        if theirs_mask is not None:
            np.testing.assert_array_equal(ours_mask, theirs_mask)
    np.testing.assert_array_equal(mask_or_none(ours[0](torch.as_tensor(TOKENS))), TOKENS != 0)


def test_masking_and_merging_layers_called_on_tensors_match_keras(keras):
    values = np.random.default_rng(0).normal(size=(3, 5, 2)).astype("float32")
    values[0, 3:] = 0.0
    values[1, 1:] = 0.0
    shifted = np.roll(values, 1, axis=1)
    results = []
    for lib, convert in ((lw, torch.as_tensor), (keras, keras.ops.convert_to_tensor)):
        masking = lib.layers.Masking()
        a, b = masking(convert(values)), masking(convert(shifted))
        added = lib.layers.Add()([a, b])
        results.append((mask_or_none(a), mask_or_none(added), as_numpy(added)))
    for ours, theirs in zip(*results):
        np.testing.assert_array_equal(ours, theirs)


def test_an_explicit_mask_wins_and_layers_without_masking_drop_it(keras):
    embedded = lw.layers.Embedding(10, 4, mask_zero=True)(torch.as_tensor(TOKENS))
    lstm = lw.layers.LSTM(3, return_sequences=True)
    everything = torch.ones(TOKENS.shape, dtype=torch.bool)
    np.testing.assert_array_equal(mask_or_none(lstm(embedded, mask=everything)), as_numpy(everything))
    assert not torch.allclose(lstm(embedded, mask=everything), lstm(embedded))  # the padding was skipped
    conv = lw.layers.Conv1D(2, 2)
    assert mask_or_none(conv(embedded)) is None
    assert mask_or_none(keras.layers.Conv1D(2, 2)(keras.layers.Embedding(10, 4, mask_zero=True)(TOKENS))) is None


def test_keras_style_layers_read_and_pass_the_mask():
    class ZeroPadded(lw.layers.Layer):
        """Zeroes the padded steps; keeps the mask."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            return inputs * mask[..., None].to(inputs.dtype)

    embedded = lw.layers.Embedding(10, 4, mask_zero=True)(torch.as_tensor(TOKENS))
    out = ZeroPadded()(embedded)
    np.testing.assert_array_equal(as_numpy(out.abs().sum(-1) > 0), TOKENS != 0)
    np.testing.assert_array_equal(mask_or_none(out), TOKENS != 0)


MERGES = [("Add", {}), ("Subtract", {}), ("Multiply", {}), ("Average", {}), ("Maximum", {}), ("Minimum", {}),
          ("Concatenate", {}), ("Concatenate", {"axis": 1}), ("Dot", {"axes": 2})]


def two_masked_inputs():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3, 5, 2)).astype("float32")
    a[0, 3:], a[1, 1:], b[0, :2], b[2, 4:] = 0.0, 0.0, 0.0, 0.0
    return a, b


def merged_then_lstm(lib, merge: str, kwargs: dict, both: bool):
    """Two inputs, the first or both through Masking -> merge -> LSTM(3), which reads the merged mask (none
    after Dot, or when one input has none)."""
    lib.utils.set_random_seed(0)
    inputs = [lib.Input((5, 2)), lib.Input((5, 2))]
    merged = getattr(lib.layers, merge)(**kwargs)([lib.layers.Masking()(inputs[0]),
                                                   lib.layers.Masking()(inputs[1]) if both else inputs[1]])
    return lib.Model(inputs, lib.layers.LSTM(3)(merged))


@pytest.mark.parametrize("both", [True, False], ids=["both masked", "first masked"])
@pytest.mark.parametrize("merge, kwargs", MERGES)
def test_merged_masks_match_keras_called_on_tensors_and_in_a_model(keras, merge, kwargs, both):
    a, b = two_masked_inputs()
    eager = []
    for lib, convert in ((lw, torch.as_tensor), (keras, keras.ops.convert_to_tensor)):
        masked = [lib.layers.Masking()(convert(a)), lib.layers.Masking()(convert(b)) if both else convert(b)]
        out = getattr(lib.layers, merge)(**kwargs)(masked)
        eager.append((as_numpy(out), mask_or_none(out)))
    np.testing.assert_allclose(eager[0][0], eager[1][0], rtol=1e-6)
    assert (eager[0][1] is None) == (eager[1][1] is None)
    if eager[1][1] is not None:
        np.testing.assert_array_equal(eager[0][1], eager[1][1])
    ours, theirs = merged_then_lstm(lw, merge, kwargs, both), merged_then_lstm(keras, merge, kwargs, both)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(as_numpy(ours.predict([a, b], verbose=0)), as_numpy(theirs.predict([a, b], verbose=0)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["Attention", "MultiHeadAttention"])
def test_attention_called_on_masked_tensors_uses_each_tensors_mask_as_in_keras(keras, kind):
    query_tokens, value_tokens = TOKENS, np.array([[1, 2, 0, 0], [3, 0, 0, 0], [4, 5, 6, 7]])
    results = []
    for lib in (lw, keras):
        lib.utils.set_random_seed(0)
        embed = lib.layers.Embedding(10, 4, mask_zero=True)
        query, value = embed(query_tokens), embed(value_tokens)
        layer = lib.layers.Attention() if kind == "Attention" else lib.layers.MultiHeadAttention(2, 3)
        out = layer([query, value]) if kind == "Attention" else layer(query, value)
        results.append((embed, layer, out))
    (embed, layer, _), (their_embed, their_layer, theirs) = results
    embed.set_weights(their_embed.get_weights())
    layer.set_weights(their_layer.get_weights())
    query, value = embed(torch.as_tensor(query_tokens)), embed(torch.as_tensor(value_tokens))
    ours = layer([query, value]) if kind == "Attention" else layer(query, value)
    np.testing.assert_allclose(as_numpy(ours), as_numpy(theirs), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(mask_or_none(ours), mask_or_none(theirs))
    value._keras_mask = torch.ones(value_tokens.shape, dtype=torch.bool)  # the value's mask changes the output
    unmasked = layer([query, value]) if kind == "Attention" else layer(query, value)
    assert not torch.allclose(unmasked, ours)


@pytest.mark.parametrize("shape", [(3, 4), (3, 5, 2), (2, 3, 4, 2)])
def test_concatenate_masks_at_run_time_are_keras_for_every_axis_and_missing_mask(keras, shape):
    """Concatenate's run-time mask joins or ORs the inputs' masks (no mask spread over the features); Keras' rule
    spreads them, joins along the axis and takes any over the last axis: the same result."""
    rng = np.random.default_rng(2)
    inputs = [torch.as_tensor(rng.normal(size=shape).astype("float32")) for _ in range(3)]
    masks = [torch.as_tensor(rng.random(shape[:-1]) > 0.5) for _ in range(3)]
    for axis in range(-1, len(shape) - 1):
        for missing in (None, 0, 2):
            given = [None if i == missing else m for i, m in enumerate(masks)]
            ours = lw.layers.Concatenate(axis=axis).compute_mask(inputs, given)
            theirs = keras.layers.Concatenate(axis=axis).compute_mask(inputs, given)
            assert ours.dtype == torch.bool
            np.testing.assert_array_equal(as_numpy(ours), as_numpy(theirs), err_msg=f"axis={axis}, missing={missing}")
